"""Avatar images: checked to be a real image, then re-encoded and resized on the server.

The upload is never served as sent: Pillow decodes it (which refuses anything that is
not an image of an allowed format, and oversized pixel counts), and only the decoded
pixels, scaled to SIZE x SIZE and written as a fresh PNG, are stored. Metadata, trailing
bytes and any script a crafted file carried are gone.
"""

from __future__ import annotations

import io

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_PIXELS = 40_000_000  # Refuse decompression bombs before decoding them.
SIZE = 128
FORMATS = ("PNG", "JPEG", "GIF", "WEBP")


def process(upload: UploadedFile) -> bytes:
    """The stored avatar (PNG bytes) for an upload, or a ValidationError saying why not."""
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        raise ValidationError(_("The image is too large (at most 2 MB)."), code="avatar_too_large")
    data = upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationError(_("The image is too large (at most 2 MB)."), code="avatar_too_large")
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as probe:
            width, height = probe.size
            if width * height > MAX_PIXELS:
                raise ValidationError(
                    _("The image has too many pixels."), code="avatar_too_many_pixels"
                )
            probe.verify()
        with Image.open(io.BytesIO(data), formats=FORMATS) as opened:
            opened.load()
            upright = ImageOps.exif_transpose(opened).convert("RGBA")
            image = ImageOps.fit(upright, (SIZE, SIZE), Image.Resampling.LANCZOS)
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ValidationError(
            _("This file is not an image Chatweb can read (PNG, JPEG, GIF or WebP)."),
            code="avatar_not_an_image",
        ) from exc
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
