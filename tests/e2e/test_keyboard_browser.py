"""The chat page by keyboard and by mouse, in a real browser: the account menu at the
sidebar's foot, the skip links, and how few keystrokes reach an answer's Regenerate with a
full sidebar (issue #20: it took 71 Tab presses with ~20 chats). axe-core checks the
page with the menu open."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import USERNAME, run_axe
from tests.servers import Daphne, manage

pytestmark = pytest.mark.e2e

DONE = ".msg-assistant[data-status=done]"
REGENERATE = ".msg-assistant:last-of-type [data-action=regenerate]"
MENU_ITEMS = [
    "Settings",
    "Usage",
    "Prompts",
    "Shared links",
    "Import and export",
    "Archived chats",
    "Keyboard shortcuts",
    "Delete all chats",
    "Sign out",
]


def focused(page: Any) -> str:
    """What has focus: its accessible text, or its id."""
    return str(
        page.evaluate(
            "() => { const el = document.activeElement;"
            " return (el.getAttribute('aria-label') || el.textContent || el.id).trim(); }"
        )
    )


def is_last_regenerate(page: Any) -> bool:
    return bool(
        page.evaluate(
            "() => { const answers = document.querySelectorAll('.msg-assistant');"
            " return document.activeElement === answers[answers.length - 1]"
            "?.querySelector('[data-action=regenerate]'); }"
        )
    )


def chat_with_answers(page: Any, *texts: str) -> None:
    page.goto("/")
    page.fill("#composer-text", texts[0])
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")
    expect(page.locator(DONE)).to_have_count(1)
    for count, text in enumerate(texts[1:], start=2):
        page.fill("#composer-text", text)
        page.keyboard.press("Enter")
        expect(page.locator(DONE)).to_have_count(count)


def from_the_top(page: Any, url: str) -> None:
    """Opens url with the keyboard at the page's start, as a reader arriving by keyboard
    has it (on a desktop the page puts focus in the composer, as ChatGPT does): the body
    takes focus for a moment, so the next Tab starts from the top."""
    page.goto(url)
    page.evaluate(
        "() => { document.body.tabIndex = -1; document.body.focus();"
        " document.body.removeAttribute('tabindex'); }"
    )


@pytest.fixture(scope="module")
def twenty_chats(app: Daphne) -> None:
    """20 conversations in the user's sidebar, as in the issue's measurement."""
    manage(
        app.env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "from conversations.models import Conversation; "
        f"user = get_user_model().objects.get(username={USERNAME!r}); "
        "Conversation.objects.bulk_create(Conversation(user=user, title=f'Old chat {i}', "
        "model='fake-model') for i in range(20))",
    )


def test_the_account_menu_by_mouse(page: Any, twenty_chats: None) -> None:
    chat_with_answers(page, "[[fake tokens=3]] hello")
    button = page.locator("#account-button")
    menu = page.get_by_role("menu")
    expect(menu).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_contain_text(USERNAME)

    button.click()
    expect(menu).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(menu.get_by_role("menuitem")).to_have_text(MENU_ITEMS)
    # Not an admin: none of the admin's entries.
    expect(menu.get_by_role("menuitem", name="Admin")).to_have_count(0)
    # The menu opens over the list, inside the sidebar and the window.
    box = menu.bounding_box()
    sidebar = page.locator("#sidebar").bounding_box()
    assert box["y"] >= 0
    assert box["x"] >= sidebar["x"]
    assert box["x"] + box["width"] <= sidebar["x"] + sidebar["width"]

    # A click elsewhere closes it; a click on an entry follows it.
    page.locator("#chat-title").click()
    expect(menu).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    button.click()
    menu.get_by_role("menuitem", name="Usage").click()
    page.wait_for_url("**/usage/")


def test_the_admins_menu_has_the_admin_entries(admin_page: Any) -> None:
    admin_page.goto("/")
    admin_page.click("#account-button")
    menu = admin_page.get_by_role("menu")
    for name in ("Admin", "Add a user", "Streaming self-test"):
        expect(menu.get_by_role("menuitem", name=name)).to_be_visible()
    menu.get_by_role("menuitem", name="Streaming self-test").click()
    admin_page.wait_for_url("**/admin-tools/diagnostics/")


def test_the_account_menu_by_keyboard(page: Any, twenty_chats: None) -> None:
    chat_with_answers(page, "[[fake tokens=3]] hello")
    button = page.locator("#account-button")
    menu = page.get_by_role("menu")

    # Enter opens it on its first entry; the arrows move and wrap; Home and End jump.
    button.focus()
    page.keyboard.press("Enter")
    expect(menu).to_be_visible()
    assert focused(page) == "Settings"
    page.keyboard.press("ArrowDown")
    assert focused(page) == "Usage"
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert focused(page) == "Sign out"
    page.keyboard.press("Home")
    assert focused(page) == "Settings"
    page.keyboard.press("End")
    assert focused(page) == "Sign out"

    # Esc closes it and gives focus back to the button (the drawer, on a phone, stays).
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(button).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "false")

    # Space opens it too; ArrowUp on the button opens it on its last entry; Tab closes it.
    page.keyboard.press(" ")
    expect(menu).to_be_visible()
    assert focused(page) == "Settings"
    page.keyboard.press("Escape")
    page.keyboard.press("ArrowUp")
    assert focused(page) == "Sign out"
    page.keyboard.press("Tab")
    expect(menu).to_be_hidden()

    # Enter on an entry follows it; so does Space on a link.
    button.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert focused(page) == "Usage"
    page.keyboard.press(" ")
    page.wait_for_url("**/usage/")


def test_on_a_phone_the_menu_opens_in_the_drawer_by_keyboard(page: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    page.click("[data-drawer-toggle]")
    # Once the drawer has slid in.
    page.wait_for_function(
        "() => document.getElementById('sidebar').getBoundingClientRect().left >= 0"
    )
    button = page.locator("#account-button")
    expect(button).to_be_visible()
    button.focus()
    page.keyboard.press("Enter")
    menu = page.get_by_role("menu")
    expect(menu).to_be_visible()
    box = menu.bounding_box()
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 390
    assert box["y"] >= 0
    # The first Esc closes the menu only; the second, the drawer.
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(page.locator("#sidebar")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#sidebar")).to_be_hidden()


def test_the_skip_links_lead_to_the_composer_and_to_the_newest_message(
    page: Any, twenty_chats: None
) -> None:
    chat_with_answers(page, "[[fake tokens=3]] hello")
    url = page.url

    from_the_top(page, url)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the message box")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("#composer-text")).to_be_focused()

    from_the_top(page, url)
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the conversation")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".msg-assistant").last).to_be_focused()


def test_an_answers_regenerate_is_a_few_keystrokes_away_with_twenty_chats(
    page: Any, twenty_chats: None
) -> None:
    chat_with_answers(page, "[[fake tokens=3]] first", "[[fake tokens=3]] second")
    assert page.locator(".conv").count() >= 21

    # From the composer, backwards.
    page.focus("#composer-text")
    presses = 0
    while not is_last_regenerate(page) and presses < 30:
        page.keyboard.press("Shift+Tab")
        presses += 1
    assert presses <= 5, f"{presses} Shift+Tab presses from the composer"

    # From the top of the page: the second skip link, then Tab.
    from_the_top(page, page.url)
    keys = ["Tab", "Tab", "Enter"]
    for key in keys:
        page.keyboard.press(key)
    while not is_last_regenerate(page) and len(keys) < 30:
        page.keyboard.press("Tab")
        keys.append("Tab")
    assert len(keys) <= 5, f"{len(keys)} keystrokes from the top: {keys}"

    # Only the newest message's buttons are in the Tab order; ArrowUp moves to the one
    # before, and its buttons come into the Tab order instead.
    first_regenerate = page.locator(".msg-assistant").first.locator("[data-action=regenerate]")
    expect(first_regenerate).to_have_attribute("tabindex", "-1")
    page.locator(".msg-assistant").last.focus()
    page.keyboard.press("ArrowUp")
    expect(page.locator(".msg-user").last).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(page.locator(".msg-assistant").first).to_be_focused()
    expect(first_regenerate).not_to_have_attribute("tabindex", "-1")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(first_regenerate).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(page.locator(".msg-assistant").first).to_be_focused()
    page.keyboard.press("End")
    expect(page.locator(".msg-assistant").last).to_be_focused()


def test_the_page_with_the_menu_open_passes_axe(page: Any, twenty_chats: None) -> None:
    chat_with_answers(page, "[[fake tokens=3]] hello")
    page.click("#account-button")
    expect(page.get_by_role("menu")).to_be_visible()
    violations = run_axe(page)
    assert not violations, json.dumps(violations, indent=1)
    # The landmarks a screen reader jumps between.
    expect(page.get_by_role("navigation", name="Conversations and account")).to_have_count(1)
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("region", name="This conversation")).to_have_count(1)
    expect(page.get_by_role("region", name="Message box")).to_have_count(1)
