"""An uploaded file checked by its content and turned into what Chatweb stores (#21).

No database, no storage: bytes in, a Processed (or a Refused with a code) out. It is CPU
work (decoding, re-encoding, extracting text), so callers run it in a worker thread
(conversations/attachments.py), never on the event loop or the database thread.

- Images (PNG, JPEG, WebP, GIF's first frame) are recognised by their first bytes,
  refused above ATTACHMENT_MAX_PIXELS before they are decoded, turned upright (EXIF
  orientation), stripped of every metadata block by re-encoding the pixels alone, scaled
  to ATTACHMENT_IMAGE_MAX_SIDE and given a thumbnail.
- Documents: a PDF (pypdf, at most ATTACHMENT_PDF_MAX_PAGES pages, not encrypted), a
  DOCX (a zip whose parts are checked before python-docx reads it) and UTF-8 text
  (plain text, Markdown, CSV, source code): their text, cut at ATTACHMENT_TEXT_MAX_CHARS.
- Anything else, SVG and HTML-looking files first, is refused.
"""

from __future__ import annotations

import hashlib
import io
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from PIL import Image, ImageOps

from chatweb import images
from realtime.codes import ProtocolError

THUMBNAIL_SIDE = 256
# A DOCX's parts may inflate to at most this much in all (a zip bomb is refused unread).
DOCX_MAX_UNZIPPED = 200 * 1024 * 1024
NAME_MAX = 255

Refused = ProtocolError


@dataclass
class Processed:
    kind: str  # "image" or "document"
    name: str
    content_type: str
    data: bytes
    extension: str
    sha256: str = ""
    width: int | None = None
    height: int | None = None
    thumbnail: bytes = b""
    thumbnail_extension: str = ""
    text: str = ""
    pages: int | None = None
    text_tokens: int = 0
    # A document's text was cut at ATTACHMENT_TEXT_MAX_CHARS.
    truncated: bool = False
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.data).hexdigest()


def clean_name(name: object) -> str:
    """The file's own name: no folders, no control characters, at most 255 characters."""
    text = name if isinstance(name, str) else ""
    text = PureWindowsPath(PurePosixPath(text).name).name
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C").strip()
    if len(text) > NAME_MAX:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: NAME_MAX - len(ext) - 1] + dot + ext) if dot and len(ext) < 16 else text
        text = text[:NAME_MAX]
    return text or "file"


def _refuse(code: str, message: str) -> Refused:
    return Refused(code, message)


def _unreadable(name: str) -> Refused:
    return _refuse(
        "attachment_unreadable",
        _("“%(name)s” could not be read: the file is damaged or not what its name says.")
        % {"name": name},
    )


def process(name: object, data: bytes) -> Processed:
    """Check `data` by its content and make what is stored, or raise Refused."""
    name = clean_name(name)
    if not data:
        raise _refuse("attachment_empty", _("“%(name)s” is empty.") % {"name": name})
    if len(data) > settings.ATTACHMENT_MAX_BYTES:
        raise too_large(name, len(data))
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff"):
        return _image(name, data)
    if head.startswith((b"GIF87a", b"GIF89a")) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return _image(name, data)
    if head.startswith(b"%PDF-"):
        return _pdf(name, data)
    if head.startswith(b"PK\x03\x04"):
        return _docx(name, data)
    return _text(name, data)


def too_large(name: str, size: int) -> Refused:
    return _refuse(
        "attachment_too_large",
        _("“%(name)s” is %(size)s; files may be at most %(limit)s.")
        % {
            "name": name,
            "size": filesizeformat(size),
            "limit": filesizeformat(settings.ATTACHMENT_MAX_BYTES),
        },
    )


# --- Images -----------------------------------------------------------------------------


def _image(name: str, data: bytes) -> Processed:
    limit = settings.ATTACHMENT_MAX_PIXELS
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns (then raises) against its global limit; ours
            # is checked below from the header, before any pixel is decoded.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                width, height = opened.size
                if width * height > limit or width <= 0 or height <= 0:
                    raise _refuse(
                        "attachment_image_too_big",
                        _(
                            "“%(name)s” is %(width)s by %(height)s pixels; images may have "
                            "at most %(limit)s million pixels."
                        )
                        % {"name": name, "width": width, "height": height,
                           "limit": f"{limit / 1_000_000:g}"},
                    )  # fmt: skip
                source_format = opened.format
                opened.seek(0)  # a GIF or an animated WebP: its first frame
                # A decode holds up to 4 bytes a pixel (200 MB at 50 megapixels): at most
                # IMAGE_DECODES_AT_ONCE run at once in a process, avatars' decodes included.
                slots = images.decode_slots()
                if not slots.acquire(timeout=images.DECODE_WAIT_SECONDS):
                    raise _refuse(
                        "attachment_busy",
                        _("The server is busy with other images; attach “%(name)s” again "
                          "in a moment.") % {"name": name},
                    )  # fmt: skip
                try:
                    opened.load()
                    image = ImageOps.exif_transpose(opened)
                finally:
                    slots.release()
    except Refused:
        raise
    except Image.DecompressionBombError as exc:
        # Past twice Pillow's own limit, Image.open() refuses before our check can read the
        # size (the limit is the process's, so it stays as it is).
        raise _refuse(
            "attachment_image_too_big",
            _("“%(name)s” has too many pixels; images may have at most %(limit)s million pixels.")
            % {"name": name, "limit": f"{limit / 1_000_000:g}"},
        ) from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise _unreadable(name) from exc
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    image = image.convert("RGBA" if has_alpha else "RGB")
    side = settings.ATTACHMENT_IMAGE_MAX_SIDE
    if max(image.size) > side:
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
    # JPEG stays JPEG (photos); anything else, or anything with transparency, is a PNG.
    as_jpeg = source_format == "JPEG" and not has_alpha
    stored = _encode(image, as_jpeg)
    thumb = image.copy()
    thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    extension = "jpg" if as_jpeg else "png"
    return Processed(
        kind="image",
        name=name,
        content_type="image/jpeg" if as_jpeg else "image/png",
        data=stored,
        extension=extension,
        width=image.width,
        height=image.height,
        thumbnail=_encode(thumb, as_jpeg),
        thumbnail_extension=extension,
    )


def _encode(image: Image.Image, as_jpeg: bool) -> bytes:
    # Only the pixels are written: no EXIF, ICC, XMP or text chunks follow the image.
    out = io.BytesIO()
    if as_jpeg:
        image.save(out, "JPEG", quality=88, optimize=True)
    else:
        image.save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()


# --- Documents --------------------------------------------------------------------------


def _cut(text: str) -> tuple[str, bool]:
    limit = settings.ATTACHMENT_TEXT_MAX_CHARS
    text = text.replace("\x00", "")
    return (text[:limit], True) if len(text) > limit else (text, False)


def _document(name: str, data: bytes, content_type: str, extension: str, text: str,
              pages: int | None = None) -> Processed:  # fmt: skip
    text, truncated = _cut(text.strip())
    if not text:
        raise _refuse(
            "attachment_no_text",
            _("“%(name)s” has no text Chatweb can read (a scanned PDF is pictures of text).")
            % {"name": name},
        )
    return Processed(
        kind="document",
        name=name,
        content_type=content_type,
        data=data,
        extension=extension,
        text=text,
        pages=pages,
        truncated=truncated,
    )


def _pdf(name: str, data: bytes) -> Processed:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    limit = settings.ATTACHMENT_PDF_MAX_PAGES
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise _refuse(
                "attachment_encrypted",
                _("“%(name)s” is password-protected; remove the password and attach it again.")
                % {"name": name},
            )
        count = len(reader.pages)
        if count > limit:
            raise _refuse(
                "attachment_too_many_pages",
                _("“%(name)s” has %(pages)s pages; PDFs may have at most %(limit)s.")
                % {"name": name, "pages": count, "limit": limit},
            )
        parts: list[str] = []
        budget = settings.ATTACHMENT_TEXT_MAX_CHARS
        for page in reader.pages:
            if budget <= 0:
                break
            piece = page.extract_text() or ""
            parts.append(piece)
            budget -= len(piece)
    except Refused:
        raise
    except (PyPdfError, OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise _unreadable(name) from exc
    return _document(name, data, "application/pdf", "pdf", "\n\n".join(parts), pages=count)


def _docx(name: str, data: bytes) -> Processed:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            names = {info.filename for info in infos}
            if "word/document.xml" not in names or "[Content_Types].xml" not in names:
                raise _refuse(
                    "attachment_unsupported",
                    _("“%(name)s” is a zip archive, not a Word document.") % {"name": name},
                )
            if sum(info.file_size for info in infos) > DOCX_MAX_UNZIPPED or len(infos) > 2000:
                # A zip bomb (or a document no one writes): refused before a part is read.
                raise _refuse(
                    "attachment_unreadable",
                    _("“%(name)s” unpacks to more than %(limit)s; Chatweb does not read it.")
                    % {"name": name, "limit": filesizeformat(DOCX_MAX_UNZIPPED)},
                )
    except zipfile.BadZipFile as exc:
        raise _unreadable(name) from exc
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
        lines = [p.text for p in document.paragraphs]
        for table in document.tables:
            for row in table.rows:
                lines.append("\t".join(cell.text for cell in row.cells))
    except (PackageNotFoundError, KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise _unreadable(name) from exc
    except Exception as exc:  # lxml's XMLSyntaxError and friends: not a document we read
        raise _unreadable(name) from exc
    return _document(
        name,
        data,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
        "\n".join(lines),
    )


def _text(name: str, data: bytes) -> Processed:
    lowered = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if name.lower().endswith((".svg", ".svgz")) or (
        lowered.startswith((b"<svg", b"<?xml")) and (b"<svg" in data[:4096].lower())
    ):
        raise _refuse(
            "attachment_unsupported",
            _("“%(name)s” is an SVG image; attach a PNG, JPEG, WebP or GIF instead.")
            % {"name": name},
        )
    if b"\x00" in data:
        raise _unsupported(name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _unsupported(name) from exc
    # Served as text/plain, whatever it is (an HTML file is read as its source).
    return _document(name, data, "text/plain; charset=utf-8", "txt", text)


def _unsupported(name: str) -> Refused:
    return _refuse(
        "attachment_unsupported",
        _(
            "“%(name)s” is not a file Chatweb reads: attach images (PNG, JPEG, WebP, GIF), "
            "PDFs, Word documents (DOCX) or text files."
        )
        % {"name": name},
    )
