"""Images and documents in token counts (#21): OpenAI's image formula, and a prompt with
content parts estimated honestly when the model server reports no usage."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from catalog import tokens
from catalog.models import UsageRecord
from catalog.usage import UpstreamRequest


def data_url(width: int, height: int, kind: str = "PNG") -> str:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, kind)
    return f"data:image/{kind.lower()};base64,{base64.b64encode(out.getvalue()).decode()}"


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1024, 1024), 85 + 170 * 4),  # 768 x 768: 2 x 2 tiles (OpenAI's own example)
        ((2048, 4096), 85 + 170 * 6),  # 1024 x 2048, then 768 x 1536: 2 x 3 tiles
        ((100, 100), 85 + 170),  # never scaled up: one tile
        ((4000, 500), 85 + 170 * 4),  # 2048 x 256: 4 x 1 tiles
    ],
)
def test_an_image_costs_openais_tiles(size, expected):
    assert tokens.image_tokens(*size) == expected


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "WEBP", "GIF"])
def test_the_size_is_read_from_a_data_url(kind):
    assert tokens.data_url_size(data_url(300, 200, kind)) == (300, 200)


def test_a_prompt_with_an_image_and_a_document_is_estimated_with_both():
    document = '<document name="a.txt">\nsome words here\n</document>'
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": f"hi\n\n{document}"},
                {"type": "image_url", "image_url": {"url": data_url(1024, 1024)}},
            ],
        }
    ]
    expected = tokens.count(f"hi\n\n{document}") + 765 + tokens.MESSAGE_OVERHEAD
    assert tokens.count_messages(messages) == expected + tokens.REPLY_OVERHEAD
    request = UpstreamRequest(
        user_id=1, username="alice", provider="p", model="m",
        kind=UsageRecord.Kind.ANSWER, messages=messages,  # type: ignore[arg-type]
    )  # fmt: skip
    row = request.entry(outcome="done")
    assert row.estimated is True
    assert row.prompt_tokens == expected + tokens.REPLY_OVERHEAD


def test_a_low_detail_image_costs_the_base_only():
    part = {"type": "image_url", "image_url": {"url": data_url(2000, 2000), "detail": "low"}}
    assert tokens.count_part(part) == 85


@pytest.mark.parametrize("limit", [1, 7, 300, 5000])
def test_a_document_is_cut_to_a_prefix_of_at_most_its_limit(limit):
    text = " ".join(f"line{i} 你好 words" for i in range(3000))
    cut = tokens.truncate(text, limit)
    assert text.startswith(cut)
    assert tokens.count(cut) <= limit
    assert tokens.count(cut) >= limit - 1  # as much as fits (a split character aside)


def test_a_text_within_the_limit_is_kept_whole():
    assert tokens.truncate("a short note", 100) == "a short note"
    assert tokens.truncate("anything", 0) == ""
