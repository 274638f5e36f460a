"""/v1/chat/completions with image_url parts (#21), through the official `openai` SDK:
a data URL's image is checked and re-encoded before the model gets it, a link is never
fetched, and a text-only model is refused images."""

from __future__ import annotations

import base64
import io

import openai
import pytest
from PIL import Image

from tests.api.v1_server import V1Server
from tests.upstream import expected_text

pytestmark = pytest.mark.slow


def client(v1: V1Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=v1.base_url, api_key=v1.secret("alice"), timeout=20)


def data_url(width: int, height: int, kind: str = "PNG") -> str:
    out = io.BytesIO()
    image = Image.new("RGB", (width, height), "blue")
    image.save(out, kind)
    mime = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}[kind]
    return f"data:{mime};base64,{base64.b64encode(out.getvalue()).decode()}"


def ask(sdk: openai.OpenAI, model: str, url: str) -> object:
    return sdk.chat.completions.create(
        model=model,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this? [[fake tokens=3]]"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    )


def test_an_image_part_reaches_the_model_re_encoded_and_scaled(v1: V1Server):
    before = len(v1.upstream.chat_requests)
    with client(v1) as sdk:
        completion = ask(sdk, "fake-model", data_url(3000, 1000, "WEBP"))
    assert completion.choices[0].message.content == expected_text(3)  # type: ignore[attr-defined]
    sent = v1.upstream.chat_requests[before:]
    assert len(sent) == 1
    parts = sent[0].json["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": "What is this? [[fake tokens=3]]"}
    assert parts[1]["type"] == "image_url"
    head, _, encoded = parts[1]["image_url"]["url"].partition(",")
    assert head == "data:image/png;base64"  # re-encoded, never the caller's bytes
    image = Image.open(io.BytesIO(base64.b64decode(encoded)))
    assert image.size == (2048, 683)  # scaled to ATTACHMENT_IMAGE_MAX_SIDE


def test_an_image_link_is_refused_and_never_fetched(v1: V1Server):
    before = len(v1.upstream.requests)
    with client(v1) as sdk, pytest.raises(openai.BadRequestError) as refused:
        ask(sdk, "fake-model", f"{v1.upstream.base_url}/models")
    assert refused.value.code == "invalid_request"
    assert refused.value.param == "messages[0].content[1].image_url.url"
    assert "data URL" in refused.value.message
    assert len(v1.upstream.requests) == before  # nothing fetched, nothing sent


def test_a_text_only_model_is_refused_images(v1: V1Server):
    before = len(v1.upstream.chat_requests)
    with client(v1) as sdk, pytest.raises(openai.BadRequestError) as refused:
        ask(sdk, "fake-model-2", data_url(10, 10))
    assert refused.value.code == "model_text_only"
    assert len(v1.upstream.chat_requests) == before


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("data:image/png;base64,not base64!", "invalid_request"),
        ("data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nbroken").decode(),
         "attachment_unreadable"),
        ("data:image/svg+xml;base64," + base64.b64encode(b"<svg/>").decode(),
         "attachment_unsupported"),
        ("data:image/png;base64," + base64.b64encode(b"plain words").decode(), "invalid_request"),
    ],
)  # fmt: skip
def test_a_bad_image_is_refused_before_the_model_is_asked(v1: V1Server, url: str, code: str):
    before = len(v1.upstream.chat_requests)
    with client(v1) as sdk, pytest.raises(openai.APIStatusError) as refused:
        ask(sdk, "fake-model", url)
    assert refused.value.body is not None
    assert refused.value.body["code"] == code  # type: ignore[index]
    assert len(v1.upstream.chat_requests) == before
