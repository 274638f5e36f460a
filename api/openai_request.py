"""A /v1/chat/completions body, checked: what Chatweb can honour is taken, anything else
is refused with a 400 whose `param` names the field (an SDK shows it), before any quota
is counted or any byte is sent upstream."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from modelclient.providers import ChatMessage
from realtime.codes import ProtocolError

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
# Parameters sent upstream as they are, once their type is checked.
NUMBERS = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0)}
PENALTIES = ("presence_penalty", "frequency_penalty")
# Accepted and not used: OpenAI's end-user id (the token already names the caller).
IGNORED = ("user",)
TAKEN = {
    "model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens",
    "max_completion_tokens", "stop", "n", "logprobs", "seed", *PENALTIES, *IGNORED,
}  # fmt: skip
MAX_STOP = 4


class BadParameter(ProtocolError):
    """A refused body: its code (invalid_request or unsupported_parameter) and `param`."""

    def __init__(self, code: str, message: str, param: str | None) -> None:
        super().__init__(code, message)
        self.param = param


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[ChatMessage]
    stream: bool = False
    include_usage: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # sent upstream


def _invalid(param: str | None, message: str) -> BadParameter:
    return BadParameter("invalid_request", message, param)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse(raw: bytes) -> ChatRequest:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise _invalid(None, _("The request body must be a JSON object."))
    for name, value in body.items():
        if name not in TAKEN and value is not None:
            raise BadParameter(
                "unsupported_parameter",
                _("Chatweb does not support the parameter %(param)s.") % {"param": name},
                name,
            )
    if body.get("n") not in (None, 1):
        raise BadParameter("unsupported_parameter", _("Only n = 1 is supported."), "n")
    if body.get("logprobs") not in (None, False):
        raise BadParameter("unsupported_parameter", _("logprobs are not supported."), "logprobs")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _invalid("model", _("Name the model: model is a string (GET /v1/models)."))
    stream = body.get("stream")
    if stream not in (None, True, False):
        raise _invalid("stream", _("stream is true or false."))
    stream_options = body.get("stream_options")
    if stream_options is not None and (
        not isinstance(stream_options, dict)
        or stream_options.get("include_usage") not in (None, True, False)
    ):
        raise _invalid("stream_options", _('stream_options is {"include_usage": true|false}.'))
    return ChatRequest(
        model=model,
        messages=_messages(body.get("messages")),
        stream=bool(stream),
        include_usage=bool((stream_options or {}).get("include_usage")),
        options=_options(body),
    )


def _messages(raw: object) -> list[ChatMessage]:
    if not isinstance(raw, list) or not raw:
        raise _invalid("messages", _("messages is a non-empty list of messages."))
    messages: list[ChatMessage] = []
    for index, message in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _invalid(where, _("Each message is an object with a role and a content."))
        role = message.get("role")
        if role not in ROLES:
            raise _invalid(
                f"{where}.role", _("A message's role is system, developer, user or assistant.")
            )
        for name in ("tool_calls", "function_call", "audio"):
            if message.get(name) is not None:
                raise BadParameter(
                    "unsupported_parameter",
                    _("Chatweb does not support the parameter %(param)s.") % {"param": name},
                    f"{where}.{name}",
                )
        messages.append({"role": ROLES[role], "content": _content(message.get("content"), where)})  # type: ignore[typeddict-item]
    return messages


def _content(content: object, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for index, part in enumerate(content):
            if not (
                isinstance(part, dict)
                and part.get("type") == "text"
                and isinstance(part.get("text"), str)
            ):
                raise _invalid(
                    f"{where}.content[{index}]",
                    _('Only text parts are supported: {"type": "text", "text": "…"}.'),
                )
            texts.append(part["text"])
        return "\n".join(texts)
    raise _invalid(f"{where}.content", _("A message's content is a string or text parts."))


def _options(body: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, (low, high) in NUMBERS.items():
        value = body.get(name)
        if value is None:
            continue
        if not _is_number(value) or not low <= value <= high:
            raise _invalid(
                name, _("%(param)s is a number from %(low)s to %(high)s.")
                % {"param": name, "low": low, "high": high},
            )  # fmt: skip
        options[name] = value
    for name in PENALTIES:
        value = body.get(name)
        if value is None:
            continue
        if not _is_number(value) or not -2 <= value <= 2:
            raise _invalid(name, _("%(param)s is a number from -2 to 2.") % {"param": name})
        options[name] = value
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not _is_int(value) or value < 1:
            raise _invalid(name, _("%(param)s is a whole number, at least 1.") % {"param": name})
        # Both names mean the same; the lower wins. Sent as max_tokens, which every
        # OpenAI-compatible server reads.
        options["max_tokens"] = min(value, options.get("max_tokens", value))
    seed = body.get("seed")
    if seed is not None:
        if not _is_int(seed):
            raise _invalid("seed", _("seed is a whole number."))
        options["seed"] = seed
    stop = body.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if (
            not isinstance(stop, list)
            or not 1 <= len(stop) <= MAX_STOP
            or not all(isinstance(s, str) and s for s in stop)
        ):
            raise _invalid("stop", _("stop is a string or a list of up to 4 strings."))
        options["stop"] = stop
    return options
