"""A /v1/chat/completions body, checked: what Chatweb can honour is taken, anything else
is refused with a 400 whose `param` names the field (an SDK shows it), before any quota
is counted or any byte is sent upstream."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from modelclient.providers import ChatMessage, ContentPart, ImagePart
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
        content = _content(message.get("content"), where, images=role == "user")
        messages.append({"role": ROLES[role], "content": content})  # type: ignore[typeddict-item]
    return messages


def _content(content: object, where: str, *, images: bool) -> str | list[ContentPart]:
    """A message's content: a string, or parts. Text parts alone are joined into one
    string; a user message's image_url parts (data URLs only) keep the parts, checked
    further by api.openai_images before anything is sent."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _invalid(f"{where}.content", _("A message's content is a string or text parts."))
    parts: list[ContentPart] = []
    for index, part in enumerate(content):
        at = f"{where}.content[{index}]"
        if isinstance(part, dict) and part.get("type") == "image_url" and images:
            parts.append(_image_part(part, at))
        elif (
            isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        ):
            parts.append({"type": "text", "text": part["text"]})
        elif images:
            raise _invalid(at, _("A part is a text part or an image_url part with a data URL."))
        else:
            raise _invalid(at, _('Only text parts are supported: {"type": "text", "text": "…"}.'))
    if all(part["type"] == "text" for part in parts):
        return "\n".join(part["text"] for part in parts if part["type"] == "text")
    return parts


def _image_part(part: dict[str, Any], at: str) -> ImagePart:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(image, dict) or not isinstance(url, str):
        raise _invalid(
            f"{at}.image_url", _('An image_url part is {"image_url": {"url": "data:…"}}.')
        )
    if not url.startswith("data:"):
        # Fetching a URL the caller names would let them reach this server's network.
        raise _invalid(
            f"{at}.image_url.url",
            _(
                "Chatweb does not fetch images from links: send the image itself as a "
                "data URL (data:image/png;base64,…)."
            ),
        )
    detail = image.get("detail")
    if detail not in (None, "auto", "low", "high"):
        raise _invalid(f"{at}.image_url.detail", _("detail is auto, low or high."))
    checked: ImagePart = {"type": "image_url", "image_url": {"url": url}}
    if detail is not None:
        checked["image_url"]["detail"] = detail
    return checked


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
