"""Log lines: the plain format (default) or one JSON object a line (LOG_FORMAT=json), each
with the request id of the work it belongs to.

The id is the request's X-Request-ID (nginx sets it: `$request_id`) when it is a sane
token, else one made here; it lives in a contextvar, set for a page or API request by
RequestIdMiddleware and for a socket by its handshake (streaming.socketbase). Work that
outlives the request takes it along: an answer's task is started in a context holding
its starter's id (streaming.registry), so its lines (generation, checkpoints, its end)
carry the id of the request or socket that posted it.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import ipaddress
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

HEADER = "X-Request-ID"
# What an id taken from a client may look like; anything else is replaced by a new one
# (a newline in it would forge a plain log line).
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def new_id() -> str:
    return secrets.token_hex(16)  # nginx's $request_id is 32 hex digits too


def from_header(value: str | bytes | None) -> str:
    """The id a request asked for, if it is a sane token, else a new one."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if value and _SANE.fullmatch(value):
        return value
    return new_id()


def from_scope_headers(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The id of an ASGI connection (a socket's handshake) from its headers."""
    wanted = HEADER.lower().encode()
    return from_header(next((value for name, value in headers if name.lower() == wanted), None))


@contextlib.contextmanager
def bound(value: str) -> Iterator[None]:
    """Log under `value` for a while (work done for an answer by a task of the process)."""
    token = request_id.set(value)
    try:
        yield
    finally:
        request_id.reset(token)


def context_with_id() -> contextvars.Context:
    """A fresh context (nothing of the caller's but its request id), for a task that
    must not inherit the request's or socket's context."""
    context = contextvars.Context()
    context.run(request_id.set, request_id.get())
    return context


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (on the handler: every line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message,
    request_id, and the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or None,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def networks(values: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """CIDR blocks (or single addresses) from a setting; ImproperlyConfigured on a bad one."""
    parsed = []
    for value in values:
        try:
            parsed.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"PROMETHEUS_ALLOWED_NETWORKS: {value!r} is not an address or CIDR block."
            ) from exc
    return parsed


def config(*, log_format: str, level: str) -> dict[str, Any]:
    """The LOGGING setting for LOG_FORMAT ("plain" or "json") and LOG_LEVEL."""
    formatter = {"()": "chatweb.logs.JsonFormatter"} if log_format == "json" else {"format": PLAIN}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "chatweb.logs.RequestIdFilter"}},
        "formatters": {"main": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        # httpx logs every request line at INFO; keep the noise (never the key: it is a
        # header) at WARNING.
        "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
    }


class RequestIdMiddleware:
    """Each request's id: its X-Request-ID if sane, else a new one; in the contextvar
    while the request runs, and echoed in the response's X-Request-ID."""

    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]
    ) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    # The id is set, never reset: Django logs a response's status (django.request's "Not
    # Found") after the middleware chain has returned, and under ASGI a streaming body
    # (SSE: /v1, /api/v1) is read then too. Each ASGI request runs in a context of its
    # own, and every request sets its id first, so none inherits another's.
    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        request_id.set(from_header(request.headers.get(HEADER)))
        response: HttpResponse = self.get_response(request)  # type: ignore[assignment]
        response[HEADER] = request_id.get()
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        request_id.set(from_header(request.headers.get(HEADER)))
        response: HttpResponse = await self.get_response(request)  # type: ignore[misc]
        response[HEADER] = request_id.get()
        return response
