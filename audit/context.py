"""The request being served, for audit entries written far from the view (signals from
the admin, from django.contrib.auth): who is acting and from which address.

A context variable, set by AuditContextMiddleware for the life of the request; asgiref
copies it into the threads that serve a request's sync code, so a receiver running
there sees it. Outside a request (a management command, the heartbeat) there is none.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "audit_request", default=None
)


def current_request() -> HttpRequest | None:
    return _request.get()


def address_of(request: HttpRequest | None) -> str | None:
    """REMOTE_ADDR, never a header the client writes (accounts.protection.client_address
    says why); None when there is no request or no valid address."""
    if request is None:
        return None
    address = str(request.META.get("REMOTE_ADDR", "") or "")
    return address or None


def current_user() -> Any:
    """The signed-in user of the current request, or None."""
    request = current_request()
    user = getattr(request, "user", None) if request is not None else None
    return user if user is not None and user.is_authenticated else None


class AuditContextMiddleware:
    """Makes the request known to audit.record for as long as it is served."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        token = _request.set(request)
        try:
            response: Awaitable[HttpResponseBase] = self.get_response(request)
            return await response
        finally:
            _request.reset(token)
