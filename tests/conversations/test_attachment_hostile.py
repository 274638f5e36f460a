"""Hostile files (#21): each gets its clear refusal and writes nothing (no row, an empty
storage), or, where it is harmless once converted, is accepted as what its content is."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from typing import Any

import pytest
from django.test import Client
from PIL import Image
from pypdf import PdfWriter

from conversations.models import Attachment
from tests.conversations.test_attachments import png, send, stored_files

HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header (IHDR, with a correct CRC) claims width x height."""
    data = bytearray(png(8, 8))
    # Signature (8), IHDR length (4) and type (4), then width and height.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def gif_claiming(width: int, height: int) -> bytes:
    """A small GIF whose screen and first image descriptor claim width x height."""
    out = io.BytesIO()
    Image.new("P", (8, 8)).save(out, "GIF")
    data = bytearray(out.getvalue())
    data[6:10] = struct.pack("<HH", width, height)  # the logical screen
    at = data.index(b"\x2c")  # the image descriptor: left, top, width, height
    data[at + 5 : at + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def pdf(pages: int, *, password: str = "") -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=72, height=72)
    if password:
        writer.encrypt(password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zipped(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


def docx_bomb(inflated: int) -> bytes:
    """A DOCX-shaped zip whose document.xml inflates to `inflated` bytes (a few hundred KB
    of zip)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            chunk = b" " * (1024 * 1024)
            for _ in range(inflated // len(chunk)):
                member.write(chunk)
    return out.getvalue()


def refused(client: Client, name: str, data: bytes) -> str:
    response = send(client, name, data)
    assert response.status_code >= 400, response.content
    body = response.json()
    assert body["ok"] is False
    assert body["error"]
    assert not Attachment.objects.exists()
    assert stored_files() == []
    return str(body["code"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("side", [10_000, 100_000])  # past our limit; past Pillow's too
def test_a_png_claiming_too_many_pixels_is_refused_before_decoding(
    alice_client: Client, side: int
) -> None:
    assert refused(alice_client, "bomb.png", png_claiming(side, side)) == (
        "attachment_image_too_big"
    )


@pytest.mark.django_db(transaction=True)
def test_a_gif_bomb_is_refused(alice_client: Client) -> None:
    assert refused(alice_client, "bomb.gif", gif_claiming(65_535, 65_535)) == (
        "attachment_image_too_big"
    )


@pytest.mark.django_db(transaction=True)
def test_a_png_with_html_appended_is_stored_as_the_re_encoded_image_alone(
    alice_client: Client,
) -> None:
    polyglot = png(40, 30) + HTML
    response = send(alice_client, "poly.html.png", polyglot)
    assert response.status_code == 201, response.content
    body = response.json()["attachment"]
    served = alice_client.get(body["url"])
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert b"<script" not in served.content
    assert b"<html" not in served.content
    assert Image.open(io.BytesIO(served.content)).size == (40, 30)
    assert b"<script" not in alice_client.get(body["thumbnail_url"]).content


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("x.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("x.txt", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
                  b'onload="alert(1)"/>'),
        ("x.png", b"\xef\xbb\xbf  <svg><script>alert(1)</script></svg>"),
    ],
)  # fmt: skip
def test_an_svg_with_script_is_refused_whatever_its_name(
    alice_client: Client, name: str, data: bytes
) -> None:
    assert refused(alice_client, name, data) == "attachment_unsupported"


@pytest.mark.django_db(transaction=True)
def test_a_pdf_with_ten_thousand_pages_is_refused(alice_client: Client) -> None:
    assert refused(alice_client, "long.pdf", pdf(10_000)) == "attachment_too_many_pages"


@pytest.mark.django_db(transaction=True)
def test_an_encrypted_pdf_is_refused(alice_client: Client) -> None:
    assert refused(alice_client, "secret.pdf", pdf(1, password="s3cret")) == (
        "attachment_encrypted"
    )


@pytest.mark.django_db(transaction=True)
def test_a_zip_renamed_docx_is_refused(alice_client: Client) -> None:
    archive = zipped({"readme.txt": b"hello", "evil.html": HTML})
    assert refused(alice_client, "report.docx", archive) == "attachment_unsupported"


@pytest.mark.django_db(transaction=True)
def test_a_docx_zip_bomb_is_refused_unread(alice_client: Client) -> None:
    bomb = docx_bomb(210 * 1024 * 1024)
    assert len(bomb) < 2 * 1024 * 1024
    response = send(alice_client, "bomb.docx", bomb)
    assert response.json()["error"] == (
        "“bomb.docx” unpacks to more than 200.0\xa0MB; Chatweb does not read it."
    )
    assert refused(alice_client, "bomb.docx", bomb) == "attachment_unreadable"


@pytest.mark.django_db(transaction=True)
def test_a_png_named_pdf_is_an_image(alice_client: Client) -> None:
    response = send(alice_client, "scan.pdf", png(20, 10))
    assert response.status_code == 201, response.content
    body = response.json()["attachment"]
    assert (body["kind"], body["content_type"]) == ("image", "image/png")


def pdf_with_text(text: str) -> bytes:
    """A one-page PDF that says `text` (written out by hand, offsets and all)."""
    stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@pytest.mark.django_db(transaction=True)
def test_a_pdf_named_png_is_a_pdf(alice_client: Client) -> None:
    response = send(alice_client, "photo.png", pdf_with_text("Owls hoot at night"))
    assert response.status_code == 201, response.content
    body = response.json()["attachment"]
    assert (body["kind"], body["content_type"], body["pages"]) == ("document", "application/pdf", 1)
    assert "Owls hoot at night" in Attachment.objects.get(pk=body["id"]).text
    served = alice_client.get(body["url"])
    assert served["Content-Disposition"].startswith("attachment")


@pytest.mark.django_db(transaction=True)
def test_an_empty_file_is_refused(alice_client: Client) -> None:
    assert refused(alice_client, "empty.png", b"") == "attachment_empty"


@pytest.mark.django_db(transaction=True)
def test_a_file_over_the_size_limit_is_refused(alice_client: Client, settings: Any) -> None:
    settings.ATTACHMENT_MAX_BYTES = 1000
    assert refused(alice_client, "big.txt", b"a" * 1001) == "attachment_too_large"


@pytest.mark.django_db(transaction=True)
def test_a_damaged_pdf_is_refused(alice_client: Client) -> None:
    assert refused(alice_client, "bad.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 50) in (
        "attachment_unreadable",
        "attachment_unsupported",
    )


@pytest.mark.django_db(transaction=True)
def test_an_html_file_is_kept_as_text_and_served_as_a_plain_text_download(
    alice_client: Client,
) -> None:
    response = send(alice_client, "page.html", HTML)
    assert response.status_code == 201, response.content
    body = response.json()["attachment"]
    served = alice_client.get(body["url"])
    assert served["Content-Type"] == "text/plain; charset=utf-8"
    assert served["Content-Disposition"].startswith("attachment")
    assert served["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served["Content-Security-Policy"]
    text = alice_client.get(body["text_url"])
    assert text["Content-Type"] == "text/plain; charset=utf-8"
    assert text["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db(transaction=True)
def test_an_image_waits_for_a_decode_slot_then_is_refused_as_busy(
    alice_client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatweb import images

    # Every slot of the process taken (as by other decodes), and no time to wait for one.
    monkeypatch.setattr(images, "DECODE_WAIT_SECONDS", 0)
    slots = images.decode_slots()
    taken = 0
    while slots.acquire(blocking=False):
        taken += 1
    try:
        assert refused(alice_client, "a.png", png()) == "attachment_busy"
    finally:
        for _ in range(taken):
            slots.release()
    assert send(alice_client, "a.png", png()).status_code == 201
