"""Attachments in a real browser (#21): files attached to the composer by the paper clip, a
paste and a drop, each a chip with its name, size, thumbnail and upload; a chip removed
(its file too); a refused file's sentence; an image refused for a model that reads text
only before anything is sent; a screenshot and a PDF in one message, whose answer
streams, shown in the thread (the image full size in a dialog, the PDF's text in
another) and again after a reload; the new-chat form's files; in English and Chinese, at
desktop and phone sizes. Screenshots of the composer and the thread in both languages,
sizes and colour schemes go to E2E_SCREENSHOTS (or a temporary folder).
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.browsing import SIZES, close_page, open_page, run_axe
from tests.servers import Daphne, manage
from tests.upstream import FakeUpstream

# Two models from the environment: fake-model (the default) reads images, fake-model-2
# does not (OPENAI_API_IMAGE_MODELS; the picker's data-accepts-images says which).
APP_ENV = {"OPENAI_API_MODEL": "fake-model,fake-model-2", "OPENAI_API_IMAGE_MODELS": "fake-model"}

pytestmark = pytest.mark.e2e

PDF_TEXT = "Quarterly figures: revenue grew by 42 percent"


def png(width: int = 320, height: int = 200, color: str = "#3a7bd5") -> bytes:
    """A screenshot-like PNG: a coloured field with a darker band."""
    image = Image.new("RGB", (width, height), color)
    image.paste("#1b3a66", (0, 0, width, height // 5))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def pdf(text: str = PDF_TEXT) -> bytes:
    """A one-page PDF whose page draws `text` (written by hand: no PDF writer needed)."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def file_payload(name: str, mime: str, data: bytes) -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


def attach(page: Any, *files: dict[str, Any]) -> None:
    """Attaches by the paper clip's file input (what choosing files in its dialog does)."""
    page.set_input_files("#attach-input", list(files))


# A DataTransfer holding the given files ([name, type, base64]), as a paste or a drop has.
_TRANSFER = """(files) => {
  const transfer = new DataTransfer();
  for (const [name, type, data] of files) {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], name, { type }));
  }
  return transfer;
}"""


def _files_arg(*files: tuple[str, str, bytes]) -> list[list[str]]:
    return [[name, mime, base64.b64encode(data).decode()] for name, mime, data in files]


def paste(page: Any, *files: tuple[str, str, bytes]) -> None:
    page.evaluate(
        f"""(files) => {{
          const transfer = ({_TRANSFER})(files);
          const event = new ClipboardEvent("paste", {{clipboardData: transfer, bubbles: true,
            cancelable: true}});
          document.getElementById("composer-text").dispatchEvent(event);
        }}""",
        _files_arg(*files),
    )


def drag_over(page: Any, *files: tuple[str, str, bytes]) -> Any:
    """Files dragged over the message box (dragenter, dragover); returns the DataTransfer."""
    transfer = page.evaluate_handle(f"({_TRANSFER})", _files_arg(*files))
    box = page.locator(".composer-box")
    box.dispatch_event("dragenter", {"dataTransfer": transfer})
    box.dispatch_event("dragover", {"dataTransfer": transfer})
    return transfer


def chips(page: Any) -> Any:
    return page.locator("#att-chips .chip")


def uploaded(page: Any) -> Any:
    """The chips whose upload finished (their hidden input holds the id)."""
    return page.locator("#att-chips [data-chip-id]:not([disabled])")


def attachment_ids(page: Any) -> list[int]:
    values = page.locator("#att-chips [data-chip-id]").evaluate_all(
        "(inputs) => inputs.map((i) => i.value)"
    )
    return [int(v) for v in values if v]


def status_code(page: Any, url: str) -> int:
    return int(page.evaluate("(url) => fetch(url).then((r) => r.status)", url))


def allow_images(page: Any) -> None:
    """Chooses the model that reads images (APP_ENV)."""
    page.select_option("#model-select", "fake-model")


@pytest.fixture
def upstream_reset(upstream: FakeUpstream) -> FakeUpstream:
    upstream.reset()
    return upstream


def start_chat(page: Any, text: str = "Hello there") -> str:
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")
    expect(page.locator(".msg-assistant[data-status=done]")).to_have_count(1)
    return str(page.url)


def test_the_paper_clip_attaches_files_that_upload_and_a_chip_removes_its_file(page: Any) -> None:
    expect(page.locator("#attach-btn")).to_have_accessible_name("Attach files")
    choose_with_the_paper_clip(page, file_payload("report.pdf", "application/pdf", pdf()))
    chip = chips(page).first
    expect(chip.locator(".chip-name")).to_have_text("report.pdf")
    expect(page.locator("#att-status")).to_have_text("report.pdf attached.")
    expect(chip).to_have_attribute("data-attachment-id", re.compile(r"^\d+$"))
    expect(chip.locator(".chip-meta")).to_contain_text("1 page")
    expect(chip.locator("[data-chip-progress]")).to_be_hidden()
    (attachment_id,) = attachment_ids(page)
    assert status_code(page, f"/attachments/{attachment_id}/") == 200
    # With a file, the message may go without text.
    expect(page.locator("#send-btn")).to_be_enabled()
    # A refused file beside it: the composer passes axe-core's checks with both.
    attach(page, file_payload("broken.pdf", "application/pdf", b"%PDF-1.4 not really"))
    expect(chips(page).nth(1).get_by_role("alert")).not_to_be_empty()
    assert run_axe(page) == []
    page.get_by_role("button", name="Remove broken.pdf").click()
    expect(chips(page)).to_have_count(1)

    remove = page.get_by_role("button", name="Remove report.pdf")
    remove.focus()
    page.keyboard.press("Enter")
    expect(chips(page)).to_have_count(0)
    expect(page.locator("#att-status")).to_have_text("report.pdf removed.")
    # Focus goes back to the message box, and the file is gone from the server.
    expect(page.locator("#composer-text")).to_be_focused()
    page.wait_for_function(
        "(id) => fetch(`/attachments/${id}/`).then((r) => r.status === 404)", arg=attachment_id
    )
    expect(page.locator("#send-btn")).to_be_disabled()


def test_the_message_waits_for_its_uploads_and_a_chip_removed_while_uploading_stops_it(
    page: Any,
) -> None:
    held: list[Any] = []
    page.route("**/attachments/", lambda route: held.append(route))
    page.fill("#composer-text", "Read this")
    attach(page, file_payload("slow.txt", "text/plain", b"Slow.\n"))
    expect(page.locator("#att-status")).to_have_text("Uploading 1 file…")
    expect(page.locator("#send-btn")).to_be_disabled()
    expect(page.locator("#send-btn")).to_have_attribute("aria-describedby", "att-status")
    page.keyboard.press("Enter")
    assert page.url.endswith("/")
    assert len(held) == 1
    held.pop().continue_()
    page.unroute("**/attachments/")
    expect(uploaded(page)).to_have_count(1)
    expect(page.locator("#send-btn")).to_be_enabled()

    # A second file, removed before its upload finished: its request is aborted.
    page.route("**/attachments/", lambda route: held.append(route))
    attach(page, file_payload("second.txt", "text/plain", b"Second.\n"))
    expect(page.locator("#send-btn")).to_be_disabled()
    page.get_by_role("button", name="Remove second.txt").click()
    expect(chips(page)).to_have_count(1)
    expect(page.locator("#send-btn")).to_be_enabled()
    page.unroute("**/attachments/")


def test_a_pasted_screenshot_is_attached_with_the_servers_thumbnail(page: Any) -> None:
    paste(page, ("image.png", "image/png", png()))
    chip = chips(page).first
    expect(chip.locator(".chip-name")).to_have_text("image.png")
    expect(chip.locator("[data-chip-thumb]")).to_have_attribute(
        "src", re.compile(r"^/attachments/\d+/thumbnail/$")
    )
    expect(chip.locator("[data-chip-thumb]")).to_be_visible()


def test_files_dropped_on_the_message_box_are_attached_in_order(page: Any) -> None:
    transfer = drag_over(
        page, ("notes.txt", "text/plain", b"Some notes\n"), ("shot.png", "image/png", png())
    )
    expect(page.locator("#composer")).to_have_class(re.compile(r"\bis-dropping\b"))
    page.locator(".composer-box").dispatch_event("drop", {"dataTransfer": transfer})
    expect(page.locator("#composer")).not_to_have_class(re.compile(r"\bis-dropping\b"))
    expect(chips(page).locator(".chip-name")).to_have_text(["notes.txt", "shot.png"])
    expect(chips(page).nth(1)).to_have_attribute("data-attachment-id", re.compile(r"^\d+$"))
    expect(chips(page).nth(0)).to_have_attribute("data-attachment-id", re.compile(r"^\d+$"))


def choose_with_the_paper_clip(page: Any, *files: dict[str, Any]) -> None:
    """Clicks the paper clip and picks files in the dialog it opens."""
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name=re.compile("Attach files|添加附件")).click()
    chooser.value.set_files(list(files))


def test_in_chinese_on_a_phone_the_paper_clip_a_paste_and_a_drop_each_attach(
    browser: Any, app: Daphne
) -> None:
    page = open_page(browser, app, reuse_session=True, locale="zh-CN", viewport=SIZES["phone"])
    try:
        choose_with_the_paper_clip(page, file_payload("报告.pdf", "application/pdf", pdf()))
        expect(page.locator("#att-status")).to_have_text(re.compile("报告.pdf"))
        paste(page, ("截图.png", "image/png", png()))
        transfer = drag_over(page, ("笔记.txt", "text/plain", "一些笔记\n".encode()))
        page.locator(".composer-box").dispatch_event("drop", {"dataTransfer": transfer})
        expect(chips(page).locator(".chip-name")).to_have_text(["报告.pdf", "截图.png", "笔记.txt"])
        expect(uploaded(page)).to_have_count(3)
        page.click("#send-btn")
        page.wait_for_url("**/c/*/")
        question = page.locator(".msg-user").first
        expect(question.locator(".att")).to_have_count(3)
        expect(page.locator(".msg-assistant[data-status=done]")).to_have_count(1)
    finally:
        close_page(page, app)


def test_a_refused_file_shows_the_servers_sentence_on_its_chip(page: Any) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    attach(page, file_payload("drawing.png", "image/png", svg))
    error = chips(page).first.get_by_role("alert")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(chips(page).first).to_have_class(re.compile(r"\bis-failed\b"))
    # A refused file is not sent: with no text, there is nothing to send.
    expect(page.locator("#send-btn")).to_be_disabled()


def test_an_image_for_a_text_only_model_is_refused_before_anything_is_sent(
    page: Any, upstream_reset: FakeUpstream
) -> None:
    page.select_option("#model-select", "fake-model-2")
    attach(page, file_payload("photo.png", "image/png", png()))
    warning = page.locator("#att-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("does not read images")
    expect(warning).to_contain_text("photo.png")
    page.fill("#composer-text", "What is in this photo?")
    page.keyboard.press("Enter")
    expect(warning).to_be_focused()
    assert page.url.endswith("/")
    assert upstream_reset.chat_requests == []
    # A model that reads images takes it: the sentence goes.
    allow_images(page)
    expect(warning).to_be_hidden()


def test_the_new_chat_form_starts_a_conversation_with_a_file_and_no_text(page: Any) -> None:
    attach(page, file_payload("report.pdf", "application/pdf", pdf()))
    expect(chips(page).first).to_have_attribute("data-attachment-id", re.compile(r"^\d+$"))
    page.click("#send-btn")
    page.wait_for_url("**/c/*/")
    question = page.locator(".msg-user").first
    expect(question.locator(".att-doc .att-name")).to_have_text("report.pdf")
    expect(page.locator(".msg-assistant[data-status=done]")).to_have_count(1)


@pytest.mark.parametrize(
    ("locale", "size"), [("en-US", "desktop"), ("zh-CN", "phone")], ids=["en-desktop", "zh-phone"]
)
def test_a_screenshot_and_a_pdf_go_in_one_message_and_stay_after_a_reload(
    browser: Any, app: Daphne, locale: str, size: str
) -> None:
    page = open_page(browser, app, reuse_session=True, locale=locale, viewport=SIZES[size])
    try:
        start_chat(page)
        allow_images(page)
        attach(
            page,
            file_payload("screenshot.png", "image/png", png()),
            file_payload("report.pdf", "application/pdf", pdf()),
        )
        expect(chips(page)).to_have_count(2)
        expect(uploaded(page)).to_have_count(2)
        page.fill("#composer-text", "What do these show?")
        page.keyboard.press("Enter")
        expect(chips(page)).to_have_count(0)
        question = page.locator(".msg-user").nth(1)
        expect(question.locator(".att")).to_have_count(2)
        expect(question.locator(".att-image img")).to_have_attribute(
            "src", re.compile(r"^/attachments/\d+/thumbnail/$")
        )
        expect(question.locator(".att-doc .att-name")).to_have_text("report.pdf")
        expect(page.locator(".msg-assistant[data-status=done]")).to_have_count(2)

        page.reload()
        question = page.locator(".msg-user").nth(1)
        expect(question.locator(".att-image img")).to_be_visible()
        expect(question.locator(".att-doc .att-name")).to_have_text("report.pdf")
        expect(question.locator(".att-doc .att-meta")).to_contain_text(
            "1 page" if locale == "en-US" else "1 页"
        )

        # The image opens full size; Escape closes it and focus goes back to it.
        link = question.locator("[data-att-open]")
        link.click()
        lightbox = page.locator("#att-lightbox")
        expect(lightbox).to_be_visible()
        expect(lightbox.locator(".att-full")).to_have_attribute(
            "src", re.compile(r"/attachments/\d+/$")
        )
        page.keyboard.press("Escape")
        expect(lightbox).to_be_hidden()
        expect(link).to_be_focused()

        # Editing the question keeps its files in view.
        question.locator("[data-action=edit]").click()
        expect(question.locator(".edit-form")).to_be_visible()
        expect(question.locator(".atts")).to_be_visible()
        expect(question.locator(".edit-att-note")).to_be_visible()
        question.locator("[data-edit-cancel]").click()

        # The document's text, as the model reads it.
        question.locator("[data-att-text]").click()
        textview = page.locator("#att-textview")
        expect(textview.locator(".att-text")).to_contain_text(PDF_TEXT)
        page.keyboard.press("Escape")
        expect(textview).to_be_hidden()
    finally:
        close_page(page, app)


def test_the_model_receives_the_screenshot_as_an_image_part_and_the_pdf_text(
    page: Any, upstream_reset: FakeUpstream
) -> None:
    start_chat(page)
    allow_images(page)
    attach(
        page,
        file_payload("screenshot.png", "image/png", png()),
        file_payload("report.pdf", "application/pdf", pdf()),
    )
    expect(uploaded(page)).to_have_count(2)
    page.fill("#composer-text", "What do these show?")
    page.keyboard.press("Enter")
    expect(page.locator(".msg-assistant[data-status=done]")).to_have_count(2)
    request = [r for r in upstream_reset.chat_requests if r.json.get("stream")][-1]
    question = request.json["messages"][-1]
    assert question["role"] == "user"
    parts = question["content"]
    assert isinstance(parts, list)
    images = [p for p in parts if p.get("type") == "image_url"]
    assert len(images) == 1
    assert images[0]["image_url"]["url"].startswith("data:image/")
    assert PDF_TEXT in " ".join(p.get("text", "") for p in parts)


def test_screenshots_of_attachments(browser: Any, app: Daphne, shots: Path) -> None:
    """The composer with chips (one refused) and a thread with both kinds, in both
    languages, sizes and colour schemes, to be looked at."""
    page = open_page(browser, app, reuse_session=True)
    try:
        url = start_chat(page, "Attachments, for the screenshots")
        allow_images(page)
        attach(
            page,
            file_payload("screenshot.png", "image/png", png()),
            file_payload("quarterly-report-2026-final.pdf", "application/pdf", pdf()),
        )
        expect(uploaded(page)).to_have_count(2)
        page.fill("#composer-text", "What do these show?")
        page.keyboard.press("Enter")
        expect(page.locator(".msg-assistant[data-status=done]")).to_have_count(2)
    finally:
        close_page(page, app)
    for locale, language in (("en-US", "en"), ("zh-CN", "zh-hans")):
        for size, viewport in SIZES.items():
            for scheme in ("light", "dark"):
                view = open_page(
                    browser,
                    app,
                    reuse_session=True,
                    locale=locale,
                    viewport=viewport,
                    color_scheme=scheme,
                )
                try:
                    view.goto(url)
                    expect(view.locator(".msg-user .att")).to_have_count(2)
                    view.locator(".att-image img").evaluate("(img) => img.decode()")
                    attach(
                        view,
                        file_payload("diagram.png", "image/png", png(120, 120, "#d5793a")),
                        file_payload("evil.png", "image/png", b"<svg></svg>"),
                    )
                    expect(view.locator("#att-chips .chip.is-failed")).to_have_count(1)
                    expect(uploaded(view)).to_have_count(1)
                    view.locator(".msg-user .atts").last.scroll_into_view_if_needed()
                    view.screenshot(path=str(shots / f"attachments-{language}-{size}-{scheme}.png"))
                    view.locator("[data-att-text]").first.click()
                    expect(view.locator("#att-textview .att-text")).to_contain_text(PDF_TEXT)
                    view.screenshot(
                        path=str(shots / f"attachments-text-{language}-{size}-{scheme}.png")
                    )
                    view.keyboard.press("Escape")
                    if size == "desktop":
                        view.locator(".msg-user [data-att-open]").first.click()
                        expect(view.locator("#att-lightbox .att-full")).to_be_visible()
                        view.screenshot(
                            path=str(shots / f"attachments-image-{language}-{size}-{scheme}.png")
                        )
                        view.keyboard.press("Escape")
                        drag_over(view, ("dragged.pdf", "application/pdf", pdf()))
                        view.screenshot(
                            path=str(shots / f"attachments-drop-{language}-{size}-{scheme}.png")
                        )
                finally:
                    close_page(view, app)


def _hourly_requests(app: Daphne, limit: int | None) -> None:
    """carol's own quota of requests per hour (None: none, the site's defaults again)."""
    manage(
        app.env, "shell", "-v", "0", "-c",
        "from django.contrib.auth import get_user_model; from catalog.models import Quota; "
        "carol = get_user_model().objects.get(username='carol'); "
        + (
            "Quota.objects.filter(user=carol).delete()"
            if limit is None
            else "Quota.objects.update_or_create(user=carol, "
            f"defaults={{'requests_per_hour': {limit}}})"
        ),
    )  # fmt: skip


def test_a_message_the_server_refuses_gives_its_text_and_files_back(page: Any, app: Daphne) -> None:
    # One request an hour (counted only while a limit is set): the chat's first message
    # takes it, the next is refused.
    _hourly_requests(app, 1)
    try:
        start_chat(page)
        page.fill("#composer-text", "Read my notes")
        attach(page, file_payload("notes.txt", "text/plain", b"Remember the milk.\n"))
        expect(uploaded(page)).to_have_count(1)
        ids = attachment_ids(page)
        page.locator("#send-btn").click()
        expect(page.locator("#toasts .toast")).to_contain_text("request")
        # Nothing written: the text and the file's chip are back, the same upload.
        expect(page.locator("#composer-text")).to_have_value("Read my notes")
        expect(uploaded(page)).to_have_count(1)
        assert attachment_ids(page) == ids
        expect(chips(page).locator(".chip-name")).to_have_text("notes.txt")
        expect(page.locator(".msg-user")).to_have_count(1)
    finally:
        _hourly_requests(app, None)
    # Sent again once allowed: the message goes with its file, and the box empties.
    page.locator("#send-btn").click()
    expect(page.locator(".msg-user")).to_have_count(2)
    expect(page.locator(".msg-user").nth(1).locator(".att")).to_have_count(1)
    expect(page.locator(".msg-user").nth(1)).to_contain_text("notes.txt")
    expect(chips(page)).to_have_count(0)
    expect(page.locator("#composer-text")).to_have_value("")
