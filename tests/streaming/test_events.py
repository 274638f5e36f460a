"""Every frame is declared once, survives JSON, and is documented in docs/protocol.md."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args, get_type_hints

import pytest

from conversations.actions import ActionError
from realtime import codes, events

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text()
MESSAGE: events.MessageData = {
    "id": 2, "parent_id": 1, "role": "assistant", "status": "done", "content": "hi",
    "html": "<p>hi</p>", "reasoning": "", "reasoning_seconds": None,
    "model": "m", "finish_reason": "stop", "error_code": "", "error": "",
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    "retry_after": None, "context_from_id": None, "context_cut": [], "rating": None,
    "attachments": [], "seq": None,
    "created_at": "2026-12-07T00:00:00+00:00",
}  # fmt: skip

FRAMES = [
    events.message_frame(MESSAGE),
    events.delta_frame(2, 1, "hé 你好"),
    events.delta_frame(2, 2, "", "thinking…"),
    events.snapshot_frame(MESSAGE),
    events.snapshot_frame(None),
    events.done_frame(MESSAGE),
    events.title_frame(1, "Owls"),
    events.path_frame(1, 7),
    events.path_frame(1, None),
    events.organised_frame(1, pinned=True, archived=False),
    events.organised_frame(None, pinned=False, archived=True),
    events.error_frame("busy", "Wait.", "send"),
]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: f["type"])
def test_each_frame_round_trips_through_json(frame):
    assert json.loads(json.dumps(frame)) == frame


@pytest.mark.django_db
def test_a_stored_message_has_exactly_the_declared_message_keys(conversation):
    from conversations.models import Message

    message = Message.objects.create(conversation=conversation, role="user", content="hi")
    assert set(message.as_event()) == set(get_type_hints(events.MessageData))


# Python 3.11 cannot see NotRequired through `from __future__ import annotations`.
OPTIONAL_KEYS = {"delta": {"reasoning"}}


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: f["type"])
def test_each_frame_has_exactly_its_declared_keys(frame):
    declared = {
        "message": events.MessageFrame, "delta": events.DeltaFrame,
        "snapshot": events.SnapshotFrame, "done": events.DoneFrame,
        "title": events.TitleFrame, "error": events.ErrorFrame,
        "path": events.PathFrame, "organised": events.OrganisedFrame,
    }[frame["type"]]  # fmt: skip
    hints = get_type_hints(declared)
    # Optional keys (NotRequired) appear only when they carry something.
    optional = OPTIONAL_KEYS.get(frame["type"], set())
    assert set(hints) - optional <= set(frame) <= set(hints)
    assert get_args(hints["type"]) == (frame["type"],)


CONTROL_EVENTS = [events.stop_event(3), events.stop_event(None),
                  events.snapshot_request(3, "specific.x!y"), events.exit_event()]  # fmt: skip


@pytest.mark.parametrize("event", CONTROL_EVENTS, ids=lambda e: e["type"])
def test_each_control_event_round_trips_with_exactly_its_declared_keys(event):
    assert json.loads(json.dumps(event)) == event
    declared = next(
        t for t in get_args(events.ControlEvent)
        if get_args(get_type_hints(t)["type"]) == (event["type"],)
    )  # fmt: skip
    assert set(event) == set(get_type_hints(declared))


def documented(section: str) -> set[str]:
    body = PROTOCOL.split(f"## {section}")[1].split("\n## ")[0]
    return set(re.findall(r"^\| `(\w+)` \|", body, flags=re.MULTILINE))


def test_the_protocol_page_lists_every_server_frame():
    server_types = {get_args(get_type_hints(t)["type"])[0] for t in get_args(events.ServerFrame)}
    assert documented("Server to client") == server_types


def test_the_protocol_page_lists_every_client_frame():
    assert documented("Client to server") == set(events.CLIENT_FRAME_TYPES)


def test_the_protocol_pages_code_tables_are_the_declared_codes():
    """docs/protocol.md's tables are generated from realtime/codes.py: `python -m
    realtime.codes` rewrites them; this fails when someone forgot."""
    assert codes.with_tables(PROTOCOL) == PROTOCOL
    for where in ("frame", "page", "answer"):
        assert f"<!-- codes:{where} -->" in PROTOCOL
    api = codes.API.read_text()
    assert codes.with_tables(api) == api
    assert "<!-- codes:api -->" in api


def test_a_code_that_is_not_declared_cannot_be_sent():
    with pytest.raises(ValueError, match="not declared"):
        ActionError("made_up", "text")
    with pytest.raises(ValueError, match="not declared"):
        events.error_frame("made_up", "text")
    assert ActionError("busy", "Wait.").status == 409


def test_every_code_the_code_can_store_or_send_is_declared():
    from catalog import quotas
    from conversations import errors
    from modelclient import providers

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    stored = {providers.ProviderError.code} | {c.code for c in subclasses(providers.ProviderError)}
    stored |= set(errors.SENTENCES)
    refused = {
        code
        for code in ("rate_limited", "quota_tokens_day", "quota_tokens_month", "too_many_answers")
        if quotas.describe(code, 1, None)
    }
    refused |= set(quotas.BUDGET_CODES.values())
    # Literal codes in the source too (a code in a variable is caught at run time instead).
    source = "".join(
        p.read_text()
        for root in ("accounts", "catalog", "conversations", "streaming", "realtime")
        for p in (ROOT / root).rglob("*.py")
    )
    literal = set(
        re.findall(
            r'(?:ActionError|error_frame|ModelUnavailable|QuotaExceeded)\(\s*"(\w+)"', source
        )
    )
    assert (stored | refused | literal) - set(codes.CODES) == set()


def test_the_protocol_page_lists_every_close_code():
    body = PROTOCOL.split("## Close codes")[1].split("\n## ")[0]
    documented_codes = set(re.findall(r"^\| `(\d+)` \|", body, flags=re.MULTILINE))
    declared = {str(v) for k, v in vars(events).items() if k.startswith("CLOSE_")}
    assert documented_codes == declared
