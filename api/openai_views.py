"""The OpenAI-compatible /v1 (docs/api.md): the token owner's models, and chat completions
streamed as OpenAI's chunks or returned whole, through the answer engine
(streaming.answers.complete: the same quotas and usage ledger as the page; nothing stored
as a conversation). Token only: a session cookie is not a way in, so no CSRF applies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from accounts import api_tokens
from api import auth, errors, openai_images
from api.openai_request import BadParameter, ChatRequest, parse
from catalog import config as catalog
from catalog.quotas import QuotaExceeded
from modelclient.providers import Usage
from realtime.codes import CODES, ProtocolError
from streaming import answers


def _refusal(error: ProtocolError | QuotaExceeded, rate: answers.RateLimit | None) -> HttpResponse:
    param = error.param if isinstance(error, BadParameter) else None
    response = errors.response(error, param=param)
    _rate_headers(response, rate)
    return response


def _rate_headers(response: HttpResponseBase, rate: answers.RateLimit | None) -> None:
    if rate is not None:
        response["x-ratelimit-limit-requests"] = str(rate.limit)
        response["x-ratelimit-remaining-requests"] = str(rate.remaining)
        response["x-ratelimit-reset-requests"] = f"{rate.reset_seconds()}s"


def _method(request: HttpRequest, allowed: str) -> HttpResponse | None:
    if request.method == allowed:
        return None
    error = ProtocolError("method_not_allowed", _("Use %(method)s.") % {"method": allowed})
    response = errors.response(error)
    response["Allow"] = allowed
    return response


async def _caller(request: HttpRequest, scope: str) -> auth.Caller:
    caller = await answers.in_process_context(auth.aauthenticate(request))
    caller.activate_zone()  # authenticated in a task of its own: its context is not this one
    caller.require(scope)
    return caller


# --- Models ---------------------------------------------------------------------------------


def _models(caller: auth.Caller) -> dict[str, Any]:
    assert caller.token is not None
    choices = catalog.models_for(caller.user)
    allowed = set(api_tokens.visible_models(caller.token, [c.name for c in choices]))
    return {"object": "list", "data": [_model(c) for c in choices if c.name in allowed]}


def _one_model(caller: auth.Caller, name: str) -> dict[str, Any]:
    assert caller.token is not None
    return _model(answers.open_model(caller.user, caller.token, name))


def _model(choice: catalog.ModelChoice) -> dict[str, Any]:
    # `created` is unknown for a model of the environment: 0, as some servers send.
    return {"id": choice.name, "object": "model", "created": 0, "owned_by": choice.provider}


async def _read_models(
    request: HttpRequest, read: Callable[[auth.Caller], dict[str, Any]]
) -> HttpResponse:
    refused = _method(request, "GET")
    if refused is not None:
        return refused
    try:
        caller = await _caller(request, "models:read")
        found = await answers.in_process_context(database_sync_to_async(read)(caller))
    except ProtocolError as exc:
        return errors.response(exc)
    return JsonResponse(found)


@csrf_exempt
async def models(request: HttpRequest) -> HttpResponse:
    """GET /v1/models: the owner's models, narrowed by the token's allowlist."""
    return await _read_models(request, _models)


@csrf_exempt
async def model(request: HttpRequest, name: str) -> HttpResponse:
    """GET /v1/models/{id}: one model, if open to the owner and the token."""
    return await _read_models(request, lambda caller: _one_model(caller, name))


# --- Chat completions -------------------------------------------------------------------------


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponseBase:
    """POST /v1/chat/completions, streamed (`stream: true`) or whole."""
    refused = _method(request, "POST")
    if refused is not None:
        return refused
    try:
        caller = await _caller(request, "chat")
        token = caller.token
        assert token is not None
        try:
            body = parse(request.body)
        except RequestDataTooBig:
            raise ProtocolError("too_long", _("The request body is too large.")) from None
        body = await openai_images.checked(body)
        completion = await answers.complete(
            user=caller.user, token=token, model=body.model,
            messages=body.messages, options=body.options,
        )  # fmt: skip
    except ProtocolError as exc:
        return _refusal(exc, None)
    except QuotaExceeded as exc:
        assert caller.token is not None  # a quota is checked only once the token is known
        return _refusal(exc, await answers.rate_limit(user=caller.user, token=caller.token))
    if body.stream:
        response: HttpResponseBase = StreamingHttpResponse(
            _chunks(completion, body), content_type="text/event-stream; charset=utf-8"
        )
        response["Cache-Control"] = "no-cache"
        # nginx must pass each chunk on at once, whatever its proxy_buffering says.
        response["X-Accel-Buffering"] = "no"
    else:
        response = await _whole(completion)
    _rate_headers(response, completion.rate)
    return response


async def _whole(completion: answers.Completion) -> HttpResponse:
    try:
        async with aclosing(completion.pieces()) as pieces:
            async for _piece in pieces:
                pass
    except answers.CompletionFailed as exc:
        return JsonResponse(errors.body(exc.code, exc.message), status=CODES[exc.code].status)
    return JsonResponse(
        {
            "id": completion.id,
            "object": "chat.completion",
            "created": completion.created,
            "model": completion.model.name,
            "choices": [
                {
                    "index": 0,
                    "message": _message(completion),
                    "finish_reason": completion.finish_reason or "stop",
                    "logprobs": None,
                }
            ],
            "usage": _usage(completion.usage()),
        }
    )


def _message(completion: answers.Completion) -> dict[str, Any]:
    """The reply's message; a reasoning model's thinking as DeepSeek sends it."""
    message: dict[str, Any] = {"role": "assistant", "content": completion.text}
    if completion.reasoning:
        message["reasoning_content"] = completion.reasoning
    return message


def _usage(usage: Usage) -> dict[str, Any]:
    """Usage in OpenAI's shape: reasoning tokens under completion_tokens_details."""
    shaped: dict[str, Any] = {
        key: value for key, value in usage.items() if key != "reasoning_tokens"
    }
    if "reasoning_tokens" in usage:
        shaped["completion_tokens_details"] = {"reasoning_tokens": usage["reasoning_tokens"]}
    return shaped


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


async def _chunks(completion: answers.Completion, body: ChatRequest) -> AsyncIterator[bytes]:
    """OpenAI's chat.completion.chunk events: the role first, the text as it comes, the
    finish reason, the usage (asked for with stream_options.include_usage), [DONE]; an SSE
    comment while the model is silent; a failure as an error event, never as [DONE]."""
    base = {
        "id": completion.id,
        "object": "chat.completion.chunk",
        "created": completion.created,
        "model": completion.model.name,
    }
    usage_field: dict[str, Any] = {"usage": None} if body.include_usage else {}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return _event({**base, "choices": [choice], **usage_field})

    yield chunk({"role": "assistant", "content": ""})
    try:
        async with aclosing(completion.pieces(silence=settings.API_SSE_PING_SECONDS)) as pieces:
            async for piece in pieces:
                if piece is None:
                    yield b": keep-alive\n\n"
                else:
                    if piece.reasoning:
                        # As DeepSeek streams it: the thinking in its own delta field.
                        yield chunk({"content": None, "reasoning_content": piece.reasoning})
                    if piece.text:
                        yield chunk({"content": piece.text})
    except answers.CompletionFailed as exc:
        yield _event(errors.body(exc.code, exc.message))
        return
    yield chunk({}, completion.finish_reason or "stop")
    if body.include_usage:
        yield _event({**base, "choices": [], "usage": _usage(completion.usage())})
    yield b"data: [DONE]\n\n"
