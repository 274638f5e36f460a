"""The `images` scenario (#21, item 7): text-only chats stream while other chats each
upload a screenshot and send it with their message.

The text chats run twice in the same daphne: once alone ("without uploads"), then beside
the image chats ("with uploads"); both are measured over the same direct floor. Each
image chat does what a browser does: its CSRF cookie comes from a page it loaded before
the load begins; during the load it POSTs the PNG to /attachments/ (multipart, the
`X-CSRFToken` header, the session cookie), then sends a message naming the attachment
over its conversation's socket and reads the answer like any other chat.

The point: the server decodes, scales and re-encodes each image (about half a second of
CPU for this one) in a worker thread, so the other chats' streams go on meanwhile. On
this machine daphne has one core, so the conversions still share it with the event
loop: what the text chats lose is that share, not the whole conversion.
"""

from __future__ import annotations

import asyncio
import functools
import io
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench import load
from bench.wire import ChatResult, check, explain, percentile

WIDTH, HEIGHT = 1920, 1080
FILE_NAME = "screenshot.png"


@functools.cache
def screenshot_png(seed: int = 21) -> bytes:
    """A 1920 x 1080 PNG like a screenshot: a window with a title bar, a sidebar and lines
    of text on flat colours, and a photo inside the page (gradients and sensor noise, which
    hardly compress). About 800 KB; the same bytes for the same seed."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    image = Image.new("RGB", (WIDTH, HEIGHT), (246, 247, 249))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 36), fill=(52, 56, 64))
    for x, colour in ((14, (237, 106, 94)), (34, (245, 191, 79)), (54, (98, 197, 84))):
        draw.ellipse((x - 6, 12, x + 6, 24), fill=colour)
    draw.rectangle((0, 36, 300, HEIGHT), fill=(32, 33, 38))
    for row in range(40):
        label = f"Conversation {row + 1}: " + "x" * rng.randint(4, 18)
        draw.text((20, 60 + row * 24), label, fill=(200, 200, 210))
    letters = "abcdefghijklmnopqrstuvwxyz_(){}=."
    for row in range(60):
        words = " ".join(
            "".join(rng.choice(letters) for _ in range(rng.randint(2, 10)))
            for _ in range(rng.randint(3, 14))
        )
        colour = (rng.randint(0, 90), rng.randint(0, 90), rng.randint(60, 140))
        draw.text((340 + 24 * rng.randint(0, 4), 60 + row * 16), words, fill=colour)
    width, height = 640, 420
    photo = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    noise = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    photo = Image.blend(photo, noise.filter(ImageFilter.GaussianBlur(0.6)), 0.35)
    image.paste(photo, (WIDTH - width - 60, 120))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@dataclass
class ImageChat:
    """An image chat's browser state: the chat, and the CSRF cookie its page set."""

    chat: load.Chat
    csrf: str


@dataclass
class ImageResult:
    upload_s: float | None = None  # from sending the POST to its 201
    failure: str | None = None  # "upload" (refused or failed), or the chat's failure
    detail: str = ""
    chat: ChatResult = field(default_factory=ChatResult)


def browser_state(base_url: str, chat: load.Chat) -> ImageChat:
    """Load the signed-in home page, as the browser did before its user attached a file:
    Django's CSRF cookie comes with it (before the load, so the page is not part of it)."""
    with httpx.Client(base_url=base_url, timeout=30, cookies={"sessionid": chat.session}) as c:
        page = c.get("/")
        token = c.cookies.get("csrftoken")
        if page.status_code != 200 or not token:
            raise RuntimeError(f"the home page gave no CSRF cookie ({page.status_code})")
    return ImageChat(chat, token)


async def image_chat(
    client: httpx.AsyncClient, state: ImageChat, png: bytes, deadline: float
) -> ImageResult:
    """Upload the PNG (POST /attachments/), then send the message naming it and read the
    answer through the chat's socket."""
    result = ImageResult()
    cookie = f"sessionid={state.chat.session}; csrftoken={state.csrf}"
    try:
        begun = time.monotonic()
        response = await client.post(
            "/attachments/",
            files={"file": (FILE_NAME, png, "image/png")},
            headers={"X-CSRFToken": state.csrf, "Accept": "application/json", "Cookie": cookie},
            timeout=max(1.0, deadline - time.monotonic()),
        )
        if response.status_code != 201:
            result.failure = "upload"
            result.detail = f"{response.status_code}: {response.text[:150]}"
            return result
        result.upload_s = time.monotonic() - begun
        attachment = response.json()["attachment"]
        if (attachment["width"], attachment["height"]) != (WIDTH, HEIGHT):
            result.failure = "upload"
            result.detail = f"stored as {attachment['width']} x {attachment['height']}"
            return result
    except httpx.HTTPError as exc:
        result.failure, result.detail = "upload", f"{type(exc).__name__}: {exc}"[:200]
        return result
    base_url = str(client.base_url).rstrip("/")
    chat = await load.ws_chat(base_url, state.chat, deadline, attachments=[attachment["id"]])
    result.chat = chat
    expected = state.chat.reply.text()
    problem = chat.failure or check(chat, expected)
    if problem is not None:
        result.failure = problem
        result.detail = chat.detail or explain(chat, expected, problem)
    return result


async def run_images(
    base_url: str, states: list[ImageChat], ramp: float, chat_seconds: float
) -> list[ImageResult]:
    """Each image chat started spread evenly over `ramp` seconds (as the text chats are),
    with `chat_seconds` from its own start."""
    png = screenshot_png()
    # One client for all (its connections are each chat's own): a client of its own per
    # chat would load the CA bundle each time, a stall of this process's loop that the
    # text chats' figures would count. Plain HTTP: no certificate is ever checked.
    async with httpx.AsyncClient(base_url=base_url, verify=False) as client:

        async def one(index: int) -> ImageResult:
            await asyncio.sleep(ramp * index / len(states) if len(states) > 1 else 0.0)
            deadline = time.monotonic() + chat_seconds
            return await image_chat(client, states[index], png, deadline)

        return list(await asyncio.gather(*(one(i) for i in range(len(states)))))


def figures(
    results: list[ImageResult], without: dict[str, Any], direct: dict[str, Any]
) -> dict[str, Any]:
    """The scenario's own figures: the uploads', and the text chats' without them."""
    uploads = [r.upload_s for r in results if r.upload_s is not None]
    reasons: dict[str, int] = {}
    examples: list[str] = []
    for result in results:
        if result.failure is not None:
            reasons[result.failure] = reasons.get(result.failure, 0) + 1
            if len(examples) < 1:
                examples.append(f"first image chat {result.failure}: {result.detail}")
    out: dict[str, Any] = {
        "images": len(results),
        "images_completed": sum(1 for r in results if r.failure is None),
        "images_reasons": reasons,
        "images_notes": examples,
        "upload_p50": _ms(percentile(uploads, 50)),
        "upload_p99": _ms(percentile(uploads, 99)),
        "without_completed": without["completed"],
        "without_failed": without["failed"] + without["corrupted"],
        "without_gap_p50": _ms(percentile(without["gaps"], 50)),
        "without_gap_p99": _ms(percentile(without["gaps"], 99)),
    }
    for p in (50, 99):
        app = _ms(percentile(without["ttft"], p))
        floor = _ms(percentile(direct["ttft"], p))
        out[f"without_added_p{p}"] = None if app is None or floor is None else app - floor
    return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def note(configuration: str, f: dict[str, Any]) -> str:
    """One sentence for the report's summary: the text chats with and without uploads."""

    def pair(a: float | None, b: float | None, sign: bool = False) -> str:
        fmt = "{:+.0f}" if sign else "{:.0f}"
        return " / ".join("n/a" if v is None else fmt.format(v) for v in (a, b)) + " ms"

    return (
        f"**Images** ({configuration}): the text chats' added TTFT p50 / p99 "
        f"{pair(f['added_p50'], f['added_p99'], True)} and inter-delta gap p50 / p99 "
        f"{pair(f['gap_p50'], f['gap_p99'])} while {f['images']} other chats uploaded a "
        f"{WIDTH}x{HEIGHT} PNG ({f['images_completed']} completed; upload p50 / p99 "
        f"{pair(f['upload_p50'], f['upload_p99'])}), against "
        f"{pair(f['without_added_p50'], f['without_added_p99'], True)} and "
        f"{pair(f['without_gap_p50'], f['without_gap_p99'])} for the same load alone."
    )
