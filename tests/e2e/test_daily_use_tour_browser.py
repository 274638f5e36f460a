"""Issue #20's daily-use tour in real Chromium, once per language (English, Simplified
and Traditional Chinese), on one app: every item's visible part, with its text in the
reader's language.

Each language has a reader and an admin of its own, in a time zone of its own:

    en       English by the browser (Accept-Language en-US)        Asia/Kolkata
    zh-hans  Simplified by the user's language setting (the        Asia/Shanghai
             browser says en-US: the setting wins)
    zh-hant  Traditional by the browser (Accept-Language zh-TW)     Asia/Taipei

and walks, in one desktop browser context (one page, reused):

1. the new chat's model picker, each model with its context window (item 6), the site's
   default chosen (item 4);
2. a reasoning model's "Thinking…" while it thinks, Stop; a long question folded with
   "Show more" / "Show less" (items 1, 10);
3. a finished answer's folded "Thought for N s" block (item 1); the message's time on
   hover in the reader's zone and its full date in the reader's language (items 5, 10);
   the markdown source toggle, thumbs up kept after a reload (item 10); the sidebar's
   "Today" group (item 5);
4. the skip links and landmarks by their names (item 7); the account menu's entries
   (item 9);
5. a model behind a proxy that is not there: the answer fails with the `upstream_proxy`
   sentence (item 2);
6. as the admin: the landing page (its figures count that error) and the provider page
   (the proxy fields, "Test connection" failing with `upstream_proxy`) (items 2, 8); the
   Site settings page (item 4); a tiny daily token quota for the reader, added in the
   admin;
7. as the reader again: the refusal says when the quota resets, in the reader's zone
   (item 5).

Screenshots (the `shots` fixture; E2E_SCREENSHOTS keeps them to be looked at): the chat
with a thinking block and a rated answer, the account menu open, and the admin's
provider page, desktop 1280x800 and phone 390x844 (a second, touch, context), light and
dark, for each language. Chinese needs a CJK font in the system (fonts-noto-cjk).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.utils import dateformat
from playwright.sync_api import expect

from tests.e2e.browsing import SIZES, new_context, sign_in, watch
from tests.servers import Daphne, app_env, free_port, manage
from tests.test_translations import simplified_characters
from tests.upstream import FakeUpstream

pytestmark = pytest.mark.e2e

PASSWORD = "tour-e2e-password-7"
LONG_LINES = 120  # A question this long is folded on any screen.


@dataclass(frozen=True)
class Reader:
    language: str
    locale: str  # the browser's
    setting: str  # the user's language setting ("": the browser's)
    zone: str


READERS = {
    "en": Reader("en", "en-US", "", "Asia/Kolkata"),
    "zh-hans": Reader("zh-hans", "en-US", "zh-hans", "Asia/Shanghai"),
    "zh-hant": Reader("zh-hant", "zh-TW", "", "Asia/Taipei"),
}

# What each language says, written out (not looked up in the catalogues: an untranslated
# string must fail here).
TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "question": "Is 2 + 2 four?",
        "long": "Line {i} of a long question.",
        "default_option": "fake-model · 4K context",
        "proxied_option": "Proxied model · 32K context",
        "thinking": "Thinking…",
        "thought": re.compile(r"^Thought for \d+ s$"),
        "show_more": "Show more",
        "show_less": "Show less",
        "source": "Show the markdown source",
        "good": "Good answer",
        "bad": "Bad answer",
        "today": "Today",
        "skip_box": "Skip to the message box",
        "skip_thread": "Skip to the conversation",
        "nav": "Conversations and account",
        "thread": "This conversation",
        "composer": "Message box",
        "menu": [
            "Settings",
            "Usage",
            "Prompts",
            "Shared links",
            "Import and export",
            "Archived chats",
            "Keyboard shortcuts",
            "Delete all chats",
            "Sign out",
        ],
        "failed": "The answer failed.",
        "proxy_sentence": None,  # English readers get the stored detail as it was written
        "details": "",
        "site_name": "Chatweb administration",
        "index_title": "Today and the site's settings | Chatweb admin",
        "errors_by_code": "Errors by code",
        "test_connection": "Test connection",
        "proxy_legend": "Proxy",
        "proxy_url": "Proxy URL:",
        "proxy_modes": ["The server's setting", "None (connect directly)", "This proxy"],
        "could_not_connect": "Could not connect to Behind a proxy (upstream_proxy): ",
        "site_settings": "Site settings",
        "in_use": "fake-model, the first .env model: none is chosen.",
        "tokens_per_day": "Tokens per day",
        "quota": "You have reached your limit of 1 token per day. It resets at {when} ({zone}).",
        "when_with_date": "{local:%B} {local.day}, {time}",
    },
    "zh-hans": {
        "question": "2 加 2 等于 4 吗？",
        "long": "长问题的第 {i} 行。",
        "default_option": "fake-model · 4K 上下文",
        "proxied_option": "Proxied model · 32K 上下文",
        "thinking": "思考中…",
        "thought": re.compile(r"^已思考 \d+ 秒$"),
        "show_more": "展开更多",
        "show_less": "收起",
        "source": "显示 Markdown 源码",
        "good": "好回答",
        "bad": "差回答",
        "today": "今天",
        "skip_box": "跳到消息输入框",
        "skip_thread": "跳到对话",
        "nav": "对话与账户",
        "thread": "当前对话",
        "composer": "消息输入框",
        "menu": [
            "设置",
            "用量",
            "提示词",
            "分享链接",
            "导入与导出",
            "已归档的对话",
            "键盘快捷键",
            "删除全部对话",
            "退出登录",
        ],
        "failed": "回答失败。",
        "proxy_sentence": "模型服务器前的代理拒绝了连接或无法访问。请管理员检查代理设置。",
        "details": "详细信息：",
        "site_name": "Chatweb 管理",
        "index_title": "今日概况与站点设置 | Chatweb 管理后台",
        "errors_by_code": "按错误代码统计",
        "test_connection": "测试连接",
        "proxy_legend": "代理",
        "proxy_url": "代理 URL:",  # Django's zh-Hans label suffix
        "proxy_modes": ["服务器的设置", "不使用（直接连接）", "此代理"],
        "could_not_connect": "无法连接到 Behind a proxy（upstream_proxy）：",
        "site_settings": "站点设置",
        "in_use": "fake-model，即 .env 中的第一个模型：尚未选择。",
        "tokens_per_day": "每日 token 数",
        "quota": "你已达到上限（每天 1 个 token），将于 {when}（{zone}）重置。",
        "when_with_date": "{local.month}月{local.day}日 {time}",
    },
    "zh-hant": {
        "question": "2 加 2 等於 4 嗎？",
        "long": "長問題的第 {i} 行。",
        "default_option": "fake-model · 4K 上下文",
        "proxied_option": "Proxied model · 32K 上下文",
        "thinking": "思考中…",
        "thought": re.compile(r"^已思考 \d+ 秒$"),
        "show_more": "顯示更多",
        "show_less": "顯示較少",
        "source": "顯示 Markdown 原始碼",
        "good": "好的回應",
        "bad": "不好的回應",
        "today": "今天",
        "skip_box": "跳到訊息輸入框",
        "skip_thread": "跳到對話",
        "nav": "對話與帳號",
        "thread": "目前的對話",
        "composer": "訊息輸入框",
        "menu": [
            "設定",
            "用量",
            "提示詞",
            "分享連結",
            "匯入與匯出",
            "已封存的對話",
            "鍵盤快速鍵",
            "刪除所有對話",
            "登出",
        ],
        "failed": "回應失敗。",
        "proxy_sentence": (
            "模型伺服器前的代理伺服器拒絕了連線或無法連上。請管理員檢查代理伺服器設定。"
        ),
        "details": "詳細資訊：",
        "site_name": "Chatweb 管理",
        "index_title": "今日概況與網站設定 | Chatweb 管理後台",
        "errors_by_code": "依錯誤代碼統計",
        "test_connection": "測試連線",
        "proxy_legend": "代理伺服器",
        "proxy_url": "代理伺服器 URL：",
        "proxy_modes": ["伺服器的設定", "不使用（直接連線）", "此代理伺服器"],
        "could_not_connect": "無法連線到 Behind a proxy（upstream_proxy）：",
        "site_settings": "網站設定",
        "in_use": "fake-model，即 .env 中的第一個模型：尚未選擇。",
        "tokens_per_day": "每日 token 數",
        "quota": "你已達到上限（每天 1 個 token），將於 {when}（{zone}）重設。",
        "when_with_date": "{local.month}月{local.day}日 {time}",
    },
}

SEED = """
import json
from django.contrib.auth import get_user_model
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from accounts.models import UserSettings
from catalog.models import ChatModel, Provider
User = get_user_model()
ids = {}
for language, setting, zone in READERS:
    for kind in ("reader", "admin"):
        name = f"{kind}-{language}"
        make = User.objects.create_superuser if kind == "admin" else User.objects.create_user
        user = make(name, password=PASSWORD)
        UserSettings.objects.create(user=user, language=setting, time_zone=zone)
        ids[name] = user.pk
provider = Provider(name="Behind a proxy", base_url=UPSTREAM, timeout_seconds=5)
provider.set_proxy(PROXY)
provider.save()
ids["provider"] = provider.pk
ChatModel.objects.create(provider=provider, model_id="fake-model", name="proxied-model",
                         display_name="Proxied model", context_window=32768)
print(json.dumps(ids))
"""


@dataclass(frozen=True)
class Tour:
    ids: dict[str, int]
    proxy: str


@pytest.fixture(scope="module")
def tour_app(
    tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream, static_root: Path
) -> Iterator[tuple[Daphne, Tour]]:
    """The module's one app: migrated and seeded in one Django start (each start costs a
    second or two), with a provider whose proxy is a closed port of 127.0.0.1."""
    data_dir = tmp_path_factory.mktemp("tour-app")
    env = app_env(
        data_dir,
        static_root,
        OPENAI_API_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-e2e-secret-never-shown",
        WHITENOISE_USE_FINDERS="true",
        DEBUG="false",
    )
    proxy = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    readers = [(r.language, r.setting, r.zone) for r in READERS.values()]
    code = (
        f"READERS = {readers!r}\nPASSWORD = {PASSWORD!r}\n"
        f"UPSTREAM = {upstream.base_url!r}\nPROXY = {proxy!r}\n{SEED}"
    )
    ids = json.loads(manage(env, "shell", "-v", "0", "-c", code).strip().splitlines()[-1])
    server = Daphne(env, data_dir / "daphne.log")
    try:
        yield server, Tour(ids, proxy)
    finally:
        server.stop()


# What a page shows: its text, and the attributes read aloud or shown on hover.
SHOWN_TEXT = """() => [document.title, document.body.innerText,
  ...[...document.querySelectorAll("[title], [aria-label], [placeholder]")].map(
    (e) => [e.title, e.getAttribute("aria-label"), e.placeholder].filter(Boolean).join(" "))
].join("\\n")"""


def reads(page: Any, language: str) -> None:
    """The page is in the language; a Traditional page has no Simplified-only character
    (the language switchers name 简体中文 in its own script)."""
    expect(page.locator("html")).to_have_attribute("lang", language)
    if language == "zh-hant":
        text = page.evaluate(SHOWN_TEXT).replace("简体中文", "")
        assert simplified_characters(text) == [], f"{page.url}: {simplified_characters(text)}"


def fits(page: Any) -> None:
    """Nothing wider than the screen (a phone's browser widens its layout viewport to fit
    a page that overflows, so against the screen's width, not innerWidth)."""
    width = page.evaluate("document.scrollingElement.scrollWidth")
    screen = page.viewport_size["width"]
    assert width <= screen, f"{page.url}: {width}px wide on a {screen}px screen"


def switch_user(page: Any, username: str) -> None:
    """Signs in as another user on the same page (the sign-in page sends a signed-in
    user away, so the session goes first)."""
    page.context.clear_cookies()
    sign_in(page, username, PASSWORD)


def send_from_home(page: Any, text: str, model: str | None = None) -> None:
    page.goto("/")
    if model:
        page.select_option("#model-select", model)
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")


def from_the_top(page: Any) -> None:
    """Keyboard focus at the page's start (the page itself focuses the composer)."""
    page.evaluate(
        "() => { document.body.tabIndex = -1; document.body.focus();"
        " document.body.removeAttribute('tabindex'); }"
    )


def shot(page: Any, shots: Path, name: str, *, full_page: bool = False) -> None:
    """The page in light and dark."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.screenshot(
            path=str(shots / f"{name}-{scheme}.png"), full_page=full_page, animations="disabled"
        )
    page.emulate_media(color_scheme="light")


def quota_reset(reader: Reader, text: dict[str, Any]) -> str:
    """The refusal for a daily quota of 1 token: the day is the server's (UTC), its end
    is shown in the reader's zone, with the date when that is not the reader's today."""
    zone = zoneinfo.ZoneInfo(reader.zone)
    now = dt.datetime.now(dt.UTC)
    reset = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    local = reset.astimezone(zone)
    when = local.strftime("%H:%M")
    if local.date() != now.astimezone(zone).date():
        when = text["when_with_date"].format(local=local, time=when)
    return str(text["quota"].format(when=when, zone=local.tzname()))


def full_date(at: dt.datetime, language: str) -> str:
    """A message's time as its title shows it (Django's DATETIME_FORMAT)."""
    if language == "en":
        return dateformat.format(at, "N j, Y, P")
    return f"{at.year}年{at.month}月{at.day}日 {at:%H:%M}"


@pytest.mark.parametrize("language", list(READERS))
def test_the_daily_use_tour(
    browser: Any, tour_app: tuple[Daphne, Tour], shots: Path, language: str
) -> None:
    app, tour = tour_app
    reader, text = READERS[language], TEXT[language]
    user, admin = f"reader-{language}", f"admin-{language}"
    context = new_context(
        browser, app, viewport=SIZES["desktop"], locale=reader.locale, timezone_id=reader.zone
    )
    page = context.new_page()
    errors = watch(page)
    try:
        sign_in(page, user, PASSWORD)

        # 1. The picker: each model with its context window; the site's default (the
        # first .env model) chosen, not the admin's model listed first.
        page.goto("/")
        reads(page, language)
        options = page.locator("#model-select option")
        expect(options).to_have_text([text["proxied_option"], text["default_option"]])
        expect(page.locator("#model-select")).to_have_value("fake-model")

        # 2. A reasoning model still thinking, under a long question; Stop.
        lines = "\n\n".join(text["long"].format(i=i) for i in range(LONG_LINES))
        send_from_home(page, f"[[fake think=5 hang_after=0]] {lines}")
        live = page.locator(".msg-assistant").last
        expect(live.locator("[data-thinking-text]")).to_have_text("t0 t1 t2 t3 t4")
        expect(live.locator("[data-thinking-label]")).to_have_text(text["thinking"])
        assert live.locator("[data-thinking]").evaluate("b => b.open")
        page.locator("#stop-btn").click()
        expect(page.locator('.msg-assistant[data-status="stopped"]')).to_have_count(1)
        question = page.locator(".msg-user").last
        more = question.locator('[data-tool="more"]')
        expect(question).to_have_class(re.compile(r"\bis-folded\b"))
        expect(more).to_have_text(text["show_more"])
        more.click()
        expect(more).to_have_text(text["show_less"])
        expect(more).to_have_attribute("aria-expanded", "true")
        reads(page, language)

        # 3. A finished answer with its thinking folded, its time, source and thumbs.
        send_from_home(page, f"[[fake think=12 thinkform=tag tokens=30]] {text['question']}")
        answer = page.locator(".msg-assistant").last
        expect(answer).to_have_attribute("data-status", "done")
        chat_url = page.url
        block = answer.locator("[data-thinking]")
        expect(block.locator("[data-thinking-label]")).to_have_text(text["thought"])
        assert block.evaluate("b => !b.open && !b.hidden")
        expect(page.locator(".conv-group-label").first).to_have_text(text["today"])
        up = answer.locator('[data-tool="rate"][data-rating="up"]')
        expect(up).to_have_attribute("aria-label", text["good"])
        expect(answer.locator('[data-tool="rate"][data-rating="down"]')).to_have_attribute(
            "aria-label", text["bad"]
        )
        up.click()
        expect(up).to_have_attribute("aria-pressed", "true")
        page.reload()  # now rendered by the server
        answer = page.locator(".msg-assistant").last
        expect(answer.locator('[data-rating="up"]')).to_have_attribute("aria-pressed", "true")
        block = answer.locator("[data-thinking]")
        expect(block.locator("[data-thinking-label]")).to_have_text(text["thought"])
        # The question's time: on hover, in the reader's zone; the whole date in its title.
        question = page.locator(".msg-user").last
        time = question.locator("time.msg-time")
        at = dt.datetime.fromisoformat(time.get_attribute("datetime") or "")
        at = at.astimezone(zoneinfo.ZoneInfo(reader.zone))
        page.mouse.move(5, 5)
        expect(time).to_have_css("opacity", "0")
        question.hover()
        expect(time).to_have_css("opacity", "1")
        expect(time).to_have_text(f"{at:%H:%M}")
        expect(time).to_have_attribute("title", full_date(at, language))
        # The markdown source, and back.
        source = answer.locator('[data-tool="source"]')
        expect(source).to_have_attribute("aria-label", text["source"])
        source.click()
        expect(answer.locator(".msg-source")).to_contain_text("r0w0 r0w1")
        source.click()
        expect(answer.locator(".msg-source")).to_have_count(0)
        reads(page, language)

        # 4. Skip links and landmarks, by their names; the account menu.
        from_the_top(page)
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name=text["skip_box"])).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name=text["skip_thread"])).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator(".msg-assistant").last).to_be_focused()
        expect(page.get_by_role("navigation", name=text["nav"])).to_have_count(1)
        expect(page.get_by_role("main")).to_have_count(1)
        expect(page.get_by_role("region", name=text["thread"])).to_have_count(1)
        expect(page.get_by_role("region", name=text["composer"])).to_have_count(1)
        # The picture: the thinking open, the rated answer.
        block.locator("summary").click()
        expect(block.locator("[data-thinking-text]")).to_be_visible()
        shot(page, shots, f"tour-{language}-chat-desktop")
        page.click("#account-button")
        menu = page.get_by_role("menu")
        expect(menu.get_by_role("menuitem")).to_have_text(text["menu"])
        reads(page, language)
        shot(page, shots, f"tour-{language}-menu-desktop")
        page.keyboard.press("Escape")

        # 5. A model behind a proxy that is not there.
        send_from_home(page, f"{text['question']} (proxy)", model="proxied-model")
        failed = page.locator(".msg-assistant").last
        expect(failed).to_have_attribute("data-status", "error")
        note = failed.locator("[data-status-note]")
        expect(note.locator("strong")).to_have_text(text["failed"])
        said = note.inner_text()
        assert "127.0.0.1" in said, said
        if text["proxy_sentence"]:
            assert text["proxy_sentence"] + text["details"] in said, said
        else:
            assert "proxy" in said.lower(), said
        reads(page, language)
        page.screenshot(
            path=str(shots / f"tour-{language}-proxy-error-desktop-light.png"),
            animations="disabled",
        )

        # 6. The admin, in the same language.
        switch_user(page, admin)
        page.goto("/admin/")
        expect(page).to_have_title(text["index_title"])
        expect(page.locator("#site-name")).to_have_text(text["site_name"])
        board = page.locator("#chatweb-dashboard")
        expect(board.locator(".dashboard-errors caption")).to_have_text(text["errors_by_code"])
        expect(board.locator("tr[data-code=upstream_proxy]")).to_have_count(1)
        reads(page, language)
        page.screenshot(path=str(shots / f"tour-{language}-admin-index-desktop-light.png"))

        page.goto(f"/admin/catalog/provider/{tour.ids['provider']}/change/")
        proxy = page.locator("fieldset", has=page.locator("#id_proxy"))
        expect(proxy.locator("h2").first).to_have_text(text["proxy_legend"])
        expect(proxy.locator("label[for=id_proxy]")).to_have_text(text["proxy_url"])
        expect(proxy.locator("#id_proxy_mode label")).to_have_text(text["proxy_modes"])
        expect(page.locator("#id_proxy")).to_have_value(tour.proxy)
        expect(page.locator("#id_proxy_mode input[value=url]")).to_be_checked()
        page.get_by_role("button", name=text["test_connection"]).click()
        expect(page.locator(".messagelist .error")).to_contain_text(text["could_not_connect"])
        reads(page, language)
        shot(page, shots, f"tour-{language}-provider-desktop", full_page=True)

        page.goto("/admin/catalog/sitesettings/1/change/")
        expect(page.locator("h1")).to_have_text(text["site_settings"])
        expect(page.locator(".field-in_use .readonly")).to_have_text(text["in_use"])
        reads(page, language)
        page.screenshot(path=str(shots / f"tour-{language}-site-settings-desktop-light.png"))

        # A daily quota of one token for the reader, who has spent more today.
        page.goto(f"/admin/catalog/quota/add/?user={tour.ids[user]}")
        expect(page.locator("label[for=id_tokens_per_day]")).to_contain_text(text["tokens_per_day"])
        page.fill("#id_tokens_per_day", "1")
        page.locator("input[name=_save]").click()
        expect(page.locator(".messagelist .success")).to_be_visible()

        # 7. The reader, refused until the quota resets: said in the reader's zone.
        switch_user(page, user)
        page.goto("/")
        page.fill("#composer-text", text["question"])
        page.keyboard.press("Enter")
        expect(page.locator(".composer-inner .callout-error")).to_have_text(
            quota_reset(reader, text)
        )
        reads(page, language)
        page.screenshot(path=str(shots / f"tour-{language}-quota-desktop-light.png"))
    finally:
        context.close()
    assert not errors, errors

    # The phone's pictures: a touch device of its own.
    context = new_context(
        browser, app, viewport=SIZES["phone"], locale=reader.locale, timezone_id=reader.zone
    )
    page = context.new_page()
    errors = watch(page)
    try:
        sign_in(page, user, PASSWORD)
        page.goto(chat_url)
        answer = page.locator(".msg-assistant").last
        answer.locator("[data-thinking] summary").click()
        expect(answer.locator("[data-thinking-text]")).to_be_visible()
        answer.locator("[data-thinking]").scroll_into_view_if_needed()
        fits(page)
        shot(page, shots, f"tour-{language}-chat-phone")
        page.click("[data-drawer-toggle]")
        page.wait_for_function(
            "() => document.getElementById('sidebar').getBoundingClientRect().left >= 0"
        )
        page.click("#account-button")
        expect(page.get_by_role("menu").get_by_role("menuitem")).to_have_text(text["menu"])
        shot(page, shots, f"tour-{language}-menu-phone")

        switch_user(page, admin)
        page.goto(f"/admin/catalog/provider/{tour.ids['provider']}/change/")
        expect(page.get_by_role("button", name=text["test_connection"])).to_be_visible()
        fits(page)
        shot(page, shots, f"tour-{language}-provider-phone", full_page=True)
    finally:
        context.close()
    assert not errors, errors
