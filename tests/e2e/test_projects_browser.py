"""Projects in a real browser (#22, item 1): create one from the sidebar, move a chat in
by its menu and another by dragging it onto the project, the project page (its chats, a
new chat started in it), take one out again, and delete projects both ways (the chats
back in the list, or deleted with it) through the confirm dialog. Screenshots of the
sidebar with projects: desktop and phone, light and dark, English and Simplified Chinese;
one is docs/images/sidebar-projects.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import SIZES, close_page, new_context, open_page, sign_in, watch
from tests.servers import Daphne

pytestmark = pytest.mark.e2e

APP_ENV = {"AUTO_TITLE": "false"}
DONE = ".msg-assistant[data-status=done]"


def new_chat(page: Any, text: str) -> None:
    page.goto("/")
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")
    expect(page.locator(DONE)).to_have_count(1)


def sidebar_titles(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#conv-list .conv .conv-title").all_text_contents()]


def row(page: Any, title: str) -> Any:
    return page.locator("#conv-list .conv", has_text=title)


def project_link(page: Any, name: str) -> Any:
    return page.locator("#project-list .project", has_text=name)


def create_project(page: Any, name: str) -> None:
    page.goto("/")
    page.locator("#project-new summary").click()
    page.fill("#project-new-name", name)
    page.keyboard.press("Enter")
    page.wait_for_url("**/p/*/")
    expect(page.locator("#chat-title")).to_have_text(name)


def drag_onto_project(page: Any, title: str, name: str) -> None:
    """Drags the row by its title's start (its actions cover the end once hovered)."""
    row(page, title).locator(".conv-link").drag_to(
        project_link(page, name), source_position={"x": 12, "y": 10}
    )


def project_chats(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#project-chats li a").all_text_contents()]


def move_by_menu(page: Any, title: str, name: str) -> None:
    """The row's move menu (the keyboard's way): its form's select, then Move."""
    page.goto("/")
    item = row(page, title)
    item.hover()
    item.locator(".move-menu summary").click()
    item.get_by_label(f"Project of “{title}”").select_option(label=name)
    item.get_by_role("button", name="Move").click()
    page.wait_for_load_state()
    expect(row(page, title)).to_have_count(0)


def test_create_move_by_menu_and_by_drag_and_the_project_page(
    browser: Any, app: Daphne, shots: Path
) -> None:
    page = open_page(browser, app)
    for text in ("Roses in spring", "Tax return", "Tulip bulbs"):
        new_chat(page, text)
    create_project(page, "Garden")
    garden_url = page.url
    expect(page.locator("#project-chats .conv-empty")).to_be_visible()

    move_by_menu(page, "Roses in spring", "Garden")
    # By dragging the row onto the project in the sidebar.
    drag_onto_project(page, "Tulip bulbs", "Garden")
    expect(row(page, "Tulip bulbs")).to_have_count(0)
    assert sidebar_titles(page) == ["Tax return"]

    # The project page lists both; a chat started there is in the project.
    project_link(page, "Garden").locator(".conv-link").click()
    page.wait_for_url(garden_url)
    assert sorted(project_chats(page)) == ["Roses in spring", "Tulip bulbs"]
    expect(page.locator("#temporary-toggle")).to_have_count(0)
    page.fill("#composer-text", "Pruning apple trees")
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")
    expect(page.locator(DONE)).to_have_count(1)
    expect(page.locator("[data-project-crumb]")).to_have_text("Garden")
    expect(project_link(page, "Garden")).to_have_class("conv project active")
    assert "Pruning apple trees" not in sidebar_titles(page)
    page.screenshot(path=str(shots / "projects-conversation-desktop-light-en-US.png"))

    # Out again from the conversation's menu: back in the list.
    page.locator("#conv-menu summary").click()
    page.locator("#conv-menu").get_by_label("Project of “Pruning apple trees”").select_option(
        label="No project"
    )
    page.locator("#conv-menu").get_by_role("button", name="Move").click()
    page.wait_for_load_state()
    expect(page.locator("[data-project-crumb]")).to_have_count(0)
    assert sidebar_titles(page)[0] == "Pruning apple trees"
    page.goto(garden_url)
    assert sorted(project_chats(page)) == ["Roses in spring", "Tulip bulbs"]
    close_page(page, app)


def test_the_sidebar_with_projects_looked_at(browser: Any, app: Daphne, shots: Path) -> None:
    page = open_page(browser, app)
    for text in ("Novels to read", "Weekly groceries"):
        new_chat(page, text)
    create_project(page, "Reading list")
    project_url = page.url
    move_by_menu(page, "Novels to read", "Reading list")
    close_page(page, app)
    for locale in ("en-US", "zh-CN"):
        for size, viewport in SIZES.items():
            for scheme in ("light", "dark"):
                context = new_context(
                    browser,
                    app,
                    viewport=viewport,
                    color_scheme=scheme,
                    locale=locale,
                    reduced_motion="reduce",
                )
                p = context.new_page()
                errors = watch(p)
                sign_in(p)
                p.goto(project_url)
                if size == "phone":
                    p.click("[data-drawer-toggle]")
                else:
                    row(p, "Weekly groceries").hover()
                p.screenshot(path=str(shots / f"projects-{size}-{scheme}-{locale}.png"))
                if size == "desktop" and scheme == "light":
                    p.locator("#project-settings summary").click()
                    p.screenshot(path=str(shots / f"projects-page-{locale}.png"), full_page=True)
                context.close()
                assert not errors, errors


def test_delete_keeping_the_chats_or_with_them(browser: Any, app: Daphne) -> None:
    page = open_page(browser, app)
    for text in ("Pasta dough", "Bread starter"):
        new_chat(page, text)
    create_project(page, "Kitchen")
    kitchen_url = page.url
    create_project(page, "Bakery")
    bakery_url = page.url
    move_by_menu(page, "Pasta dough", "Kitchen")
    move_by_menu(page, "Bread starter", "Bakery")
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    # Keeping its chat: back in the list.
    page.goto(kitchen_url)
    page.locator("#project-settings summary").click()
    page.get_by_role("button", name="Delete project").click()
    page.wait_for_url(lambda url: url.endswith("/"))
    assert asked == ["Delete the project “Kitchen”? Its chats go back to your chat list."]
    expect(project_link(page, "Kitchen")).to_have_count(0)
    assert "Pasta dough" in sidebar_titles(page)

    # With its chats: gone from everywhere.
    page.goto(bakery_url)
    page.locator("#project-settings summary").click()
    page.get_by_label("Delete its chats with it").check()
    page.get_by_role("button", name="Delete project").click()
    page.wait_for_url(lambda url: url.endswith("/"))
    assert asked[-1] == "Delete the project “Bakery” and all its chats? This cannot be undone."
    expect(project_link(page, "Bakery")).to_have_count(0)
    assert "Bread starter" not in sidebar_titles(page)
    page.goto("/search/?q=starter")
    expect(page.locator(".search-hit")).to_have_count(0)

    # Cancelled: nothing happens.
    page.remove_listener("dialog", accept)
    page.once("dialog", lambda dialog: dialog.dismiss())
    create_project(page, "Attic")
    page.locator("#project-settings summary").click()
    page.get_by_role("button", name="Delete project").click()
    expect(page.locator("#chat-title")).to_have_text("Attic")
    page.goto("/")
    expect(project_link(page, "Attic")).to_have_count(1)
    close_page(page, app)
