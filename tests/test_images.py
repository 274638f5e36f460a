"""Images decoded within a memory bound (chatweb/images.py; issue 17, finding 7).

The memory test runs the decodes in a child process and reads its peak resident size
(ru_maxrss): Pillow allocates its pixels in C, where tracemalloc does not look. A
baseline child does everything but the decoding (Django set up, the files read, the
threads started), so the difference is what decoding costs.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from PIL import Image

from accounts import avatars
from chatweb import images

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024

# Four decodes at once, each of an image at the limit, must stay under this much above the
# baseline: IMAGE_DECODES_AT_ONCE (2) decodes hold at most 4 bytes x 16.8 megapixels
# = 67 MB each (134 MB), and the reduced copies are a fraction of that.
BOUND_MB = 180

CHILD = r"""
import io, json, resource, sys, threading
import django
django.setup()
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from accounts import avatars

decode, paths = sys.argv[1] == "decode", sys.argv[2:]
datas = [open(path, "rb").read() for path in paths]
barrier = threading.Barrier(len(datas))
errors = []

def run(data):
    barrier.wait()
    if decode:
        try:
            avatars.process(SimpleUploadedFile("me", data))
        except Exception as exc:
            errors.append(repr(exc))

threads = [threading.Thread(target=run, args=(data,)) for data in datas]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_kb": peak_kb, "errors": errors}))
"""


def _peak_mb(mode: str, paths: list[Path]) -> float:
    env = {"DJANGO_SETTINGS_MODULE": "chatweb.settings", "PATH": "/usr/bin:/bin"}
    env["DATABASE_URL"] = "sqlite:///:memory:"
    env["SECRET_KEY"] = "test-secret-key-for-a-subprocess-only"
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode, *map(str, paths)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == [], report["errors"]
    return float(report["peak_kb"]) / 1024


def _encoded(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def _near_limit(fmt: str, shade: int) -> bytes:
    """An image of nearly MAX_PIXELS (its longer side 4096) in a few kB: it compresses
    well, and decodes to its full size."""
    mode = "RGBA" if fmt == "PNG" else "RGB"
    side = 4096
    image = Image.new(mode, (side, side - 16), (shade, 40, 200, 255)[: len(mode)])
    return _encoded(image, fmt)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_four_near_limit_images_at_once_stay_under_the_bound(tmp_path, fmt):
    paths = []
    for n in range(4):
        path = tmp_path / f"{n}.{fmt.lower()}"
        path.write_bytes(_near_limit(fmt, 10 + n))
        assert path.stat().st_size < avatars.MAX_UPLOAD_BYTES
        paths.append(path)

    baseline = _peak_mb("baseline", paths)
    decoded = _peak_mb("decode", paths)

    print(f"{fmt}: baseline {baseline:.0f} MB, four decodes {decoded:.0f} MB")
    assert decoded - baseline < BOUND_MB


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height and whose pixel data is garbage: decoding
    it fails, so a refusal that says "too many pixels" came before any decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"not deflate data")
        + chunk(b"IEND", b"")
    )


def test_the_issues_bomb_is_refused_before_decoding():
    # 6300 x 6300: under the old 40-megapixel limit, 751 MB to decode.
    with pytest.raises(images.ImageRefused) as caught:
        images.decode(
            _bomb_png(6300, 6300), max_pixels=avatars.MAX_PIXELS, max_side=4096, min_side=128
        )
    assert caught.value.code == "too_many_pixels"
    assert "6300 × 6300" in str(caught.value.message)  # noqa: RUF001

    # The same garbage at an allowed size is decoded, and fails as garbage.
    with pytest.raises(images.ImageRefused) as caught:
        images.decode(
            _bomb_png(300, 300), max_pixels=avatars.MAX_PIXELS, max_side=4096, min_side=128
        )
    assert caught.value.code == "not_an_image"


def test_the_avatar_limit_is_fitted_to_an_avatar():
    # 4096 x 4096 passes (a 12-megapixel phone photo under 2 MB does); one more row does not.
    assert avatars.MAX_PIXELS == 4096 * 4096
    with pytest.raises(ValidationError) as caught:
        avatars.process(SimpleUploadedFile("me.png", _bomb_png(4096, 4097)))
    assert caught.value.code == "avatar_too_many_pixels"


def test_a_jpeg_is_decoded_at_a_reduced_scale():
    big = _encoded(Image.new("RGB", (4000, 3000), "navy"), "JPEG")
    image = images.decode(big, max_pixels=avatars.MAX_PIXELS, max_side=4096, min_side=128)
    # JPEG's draft mode decodes at 1/8 scale: 500 x 375, still at least twice 128 high.
    assert image.size == (500, 375)
    assert image.mode == "RGBA"


def test_a_png_is_reduced_right_after_decoding():
    big = _encoded(Image.new("RGB", (3000, 2000), "teal"), "PNG")
    image = images.decode(big, max_pixels=avatars.MAX_PIXELS, max_side=4096, min_side=128)
    # Reduced by 7, the largest factor that keeps the shorter side >= 2 x 128.
    assert image.size == (429, 286)


def test_the_exif_orientation_is_applied_after_reduction():
    source = Image.new("RGB", (1600, 800), "white")
    source.paste((255, 0, 0), (0, 0, 800, 800))  # red on the left half
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to show"
    out = io.BytesIO()
    source.save(out, format="JPEG", exif=exif)
    image = images.decode(
        out.getvalue(), max_pixels=avatars.MAX_PIXELS, max_side=4096, min_side=128
    )
    width, height = image.size
    assert height > width  # upright: portrait
    pixel = image.getpixel((width // 2, 2))
    assert isinstance(pixel, tuple)
    red, green = pixel[0], pixel[1]
    assert red > 200  # the left half (red) is now on top
    assert green < 60


def test_decodes_beyond_the_limit_wait_then_are_refused_as_busy(settings):
    small = _encoded(Image.new("RGB", (64, 64), "red"), "PNG")
    held = images.decode_slots()
    slots = 0
    while held.acquire(blocking=False):
        slots += 1
    try:
        assert slots == settings.IMAGE_DECODES_AT_ONCE == 2
        with pytest.raises(images.ImageRefused) as caught:
            images.decode(
                small, max_pixels=avatars.MAX_PIXELS, max_side=4096, min_side=32, wait=0.05
            )
        assert caught.value.code == "busy"
        with translation.override("en"):
            assert "Try again" in str(caught.value.message)

        # One slot freed while a decode waits: it goes ahead.
        result: list[Image.Image] = []
        waiter = threading.Thread(
            target=lambda: result.append(
                images.decode(
                    small, max_pixels=avatars.MAX_PIXELS, max_side=4096, min_side=32, wait=30
                )
            )
        )
        waiter.start()
        held.release()
        slots -= 1
        waiter.join(timeout=30)
        assert result
        assert result[0].size == (64, 64)
    finally:
        for _ in range(slots):
            held.release()


@pytest.mark.django_db
def test_a_busy_server_says_so_on_the_settings_page(alice_client, alice, monkeypatch):
    monkeypatch.setattr(images, "DECODE_WAIT_SECONDS", 0.05)
    held = images.decode_slots()
    taken = 0
    while held.acquire(blocking=False):
        taken += 1
    try:
        upload = SimpleUploadedFile("me.png", _encoded(Image.new("RGB", (64, 64)), "PNG"))
        response = alice_client.post(
            "/settings/",
            {"display_name": "", "theme": "system", "send_key": "enter", "avatar_upload": upload},
        )
    finally:
        for _ in range(taken):
            held.release()
    assert response.status_code == 400
    assert "busy decoding other images" in response.text


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("1", "PNG"), ("L", "PNG"), ("LA", "PNG"), ("P", "PNG"), ("P", "GIF"),
        ("I;16", "PNG"), ("RGB", "WEBP"), ("RGBA", "WEBP"), ("CMYK", "JPEG"), ("L", "JPEG"),
    ],
)  # fmt: skip
def test_every_mode_comes_out_reduced_as_rgba(mode, fmt):
    data = _encoded(Image.new(mode, (2100, 1300)), fmt)
    image = images.decode(data, max_pixels=avatars.MAX_PIXELS, max_side=4096, min_side=128)
    assert image.mode == "RGBA"
    assert 256 <= min(image.size) < 4 * 128
