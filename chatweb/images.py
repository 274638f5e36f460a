"""Decoding an uploaded image within a memory bound: the one path for avatars (and, later,
attachments).

A compressed image says little about what it costs to decode: a 4.9 kB PNG of 6300 x 6300
took a process from 407 to 751 MB, four at once to 1,778 MB (issue 17, finding 7). So:

1. The size is read from the header (Image.open decodes nothing) and an image over the
   caller's pixel limit, or with a side over its side limit, is refused before any pixel
   is decoded.
2. A JPEG is decoded at a reduced scale (draft mode: 1/2, 1/4 or 1/8, by the decoder
   itself), the largest reduction that keeps the shorter side at least twice `min_side`.
3. Any other format is decoded at its full size, once, then reduced by an integer factor
   (Image.reduce, a box filter) to the same size at once, strip by strip (256 rows), so
   no full-size copy is ever made: not to convert, premultiply, rotate or crop it.
4. At most settings.IMAGE_DECODES_AT_ONCE decodes run at once in a process (a
   semaphore). A decode waits up to DECODE_WAIT_SECONDS for its turn, then is refused
   with "busy, try again" instead of queueing without end.

A decode holds its image at full size, at most 4 bytes a pixel (RGBA or 32-bit modes;
most images fewer), plus one strip (256 rows x the side limit x 8 bytes: 8 MB at 4096)
and the reduced result. So a process spends at most about IMAGE_DECODES_AT_ONCE x
(4 x max_pixels + 8 MB) on decoding at once, whatever is uploaded: for avatars
(4096 x 4096) 2 x 75 = 150 MB.
"""

from __future__ import annotations

import io
import threading

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageFile, UnidentifiedImageError

FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
DECODE_WAIT_SECONDS = 10.0

# EXIF orientation -> the transpose that shows the image upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageRefused(ValueError):
    """An image that is not decoded, with a code and a sentence for the person."""

    def __init__(self, code: str, message: str | Promise) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = message


_slots: threading.BoundedSemaphore | None = None
_slots_lock = threading.Lock()


def decode_slots() -> threading.BoundedSemaphore:
    """The process's decode semaphore (IMAGE_DECODES_AT_ONCE slots)."""
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(max(1, settings.IMAGE_DECODES_AT_ONCE))
        return _slots


def _not_an_image() -> ImageRefused:
    return ImageRefused(
        "not_an_image",
        _("This file is not an image Chatweb can read (PNG, JPEG, GIF or WebP)."),
    )


def _factor(width: int, height: int, min_side: int) -> int:
    """The largest integer reduction that keeps the shorter side >= 2 x min_side."""
    return max(1, min(width, height) // (2 * min_side))


def decode(
    data: bytes,
    *,
    max_pixels: int,
    min_side: int,
    max_side: int,
    formats: tuple[str, ...] = FORMATS,
    wait: float | None = None,
) -> Image.Image:
    """The image in `data`, upright (EXIF orientation applied), as RGBA, reduced so that
    its shorter side is between 2 x min_side and 4 x min_side (or its own, if smaller).

    Raises ImageRefused: "too_many_pixels" (more than max_pixels, or a side longer than
    max_side; read from the header, nothing decoded), "busy"
    (no decode slot within `wait` seconds, DECODE_WAIT_SECONDS by default) or
    "not_an_image".
    """
    try:
        opened = Image.open(io.BytesIO(data), formats=formats)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise _not_an_image() from exc
    with opened:
        width, height = opened.size
        if width * height > max_pixels or max(width, height) > max_side or min(width, height) <= 0:
            raise ImageRefused(
                "too_many_pixels",
                _(
                    "The image has too many pixels (%(width)s × %(height)s; "  # noqa: RUF001
                    "at most %(limit)s megapixels, %(side)s on a side)."
                )
                % {
                    "width": width,
                    "height": height,
                    "limit": f"{max_pixels / 1e6:.1f}",
                    "side": max_side,
                },
            )
        slots = decode_slots()
        if not slots.acquire(timeout=DECODE_WAIT_SECONDS if wait is None else wait):
            raise ImageRefused(
                "busy",
                _("The server is busy decoding other images. Try again in a moment."),
            )
        try:
            return _decode_reduced(opened, min_side)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise _not_an_image() from exc
        finally:
            slots.release()


def _decode_reduced(opened: ImageFile.ImageFile, min_side: int) -> Image.Image:
    orientation = opened.getexif().get(0x0112)
    width, height = opened.size
    if opened.format == "JPEG":
        factor = _factor(width, height, min_side)
        if factor > 1:
            # The decoder picks the largest scale (1/2, 1/4, 1/8) still >= this size.
            opened.draft("RGB", (-(-width // factor), -(-height // factor)))
    opened.load()
    image = _reduce(opened, _factor(*opened.size, min_side))
    if orientation in _UPRIGHT:
        image = image.transpose(_UPRIGHT[orientation])
    return image if image.mode == "RGBA" else image.convert("RGBA")


# Rows of the full-size image handled at a time: a strip is copied, converted to RGBA and
# reduced (Pillow premultiplies alpha in a copy), so only a strip is ever copied whole.
_STRIP_ROWS = 256


def _reduce(image: Image.Image, factor: int) -> Image.Image:
    """`image` reduced by `factor` (a box filter) as RGBA, strip by strip: no full-size
    copy besides `image` itself."""
    if factor <= 1:
        return image.convert("RGBA")
    width, height = image.size
    out = Image.new("RGBA", (-(-width // factor), -(-height // factor)))
    step = factor * max(1, _STRIP_ROWS // factor)  # a multiple of factor
    for top in range(0, height, step):
        strip = image.crop((0, top, width, min(height, top + step))).convert("RGBA")
        out.paste(strip.reduce(factor), (0, top // factor))
    return out
