"""Avatar images: checked to be a real image, then re-encoded and resized on the server.

The upload is never served as sent: it is decoded within a memory bound by
chatweb/images.decode() (which refuses anything that is not an image of an allowed
format, and oversized pixel counts before decoding), and only the decoded pixels, scaled
to SIZE x SIZE and written as a fresh PNG, are stored. Metadata, trailing
bytes and any script a crafted file carried are gone.
"""

from __future__ import annotations

import io

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps

from chatweb import images

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
# An avatar is shown at most 128 px wide; the largest upload that makes sense is a phone
# photo (12 megapixels, 4000 x 3000, fits in 2 MB as a JPEG). 4096 x 4096 = 16.8 MP lets
# that through and bounds a decode to 67 MB (4 bytes a pixel); the old 40 MP let a 4.9 kB
# PNG cost 344 MB. Checked from the header, before decoding (chatweb/images.py).
MAX_SIDE = 4096
MAX_PIXELS = MAX_SIDE * MAX_SIDE
SIZE = 128


def process(upload: UploadedFile) -> bytes:
    """The stored avatar (PNG bytes) for an upload, or a ValidationError saying why not."""
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        raise ValidationError(_("The image is too large (at most 2 MB)."), code="avatar_too_large")
    data = upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationError(_("The image is too large (at most 2 MB)."), code="avatar_too_large")
    try:
        decoded = images.decode(data, max_pixels=MAX_PIXELS, max_side=MAX_SIDE, min_side=SIZE)
    except images.ImageRefused as exc:
        raise ValidationError(str(exc.message), code=f"avatar_{exc.code}") from exc
    image = ImageOps.fit(decoded, (SIZE, SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
