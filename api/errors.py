"""One error body for both APIs, OpenAI's: `{"error": {"message", "type", "param",
"code"}}`, so an OpenAI SDK raises the right exception class on /v1 and a script reads
/api/v1's refusals the same way. `code` is Chatweb's stable code (realtime/codes.py),
`type` OpenAI's category for the HTTP status; a quota refusal carries `Retry-After`
(seconds) and `x-should-retry: false` (waiting, not retrying, is what helps)."""

from __future__ import annotations

import math
from typing import Any

from django.http import JsonResponse

from catalog import clock
from catalog.quotas import QuotaExceeded
from realtime.codes import CODES, ProtocolError

# OpenAI's `type` for each status (its SDKs choose their exception by status; the type is
# for people reading the body).
TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "api_error",
}
# Token quotas are "insufficient_quota" in OpenAI's words: no retry helps before the reset.
# So are money budgets.
QUOTA_TYPES = dict.fromkeys(
    ("quota_tokens_day", "quota_tokens_month", "budget_user", "budget_group", "budget_site"),
    "insufficient_quota",
)


def body(code: str, message: str, *, param: str | None = None) -> dict[str, Any]:
    status = CODES[code].status
    kind = QUOTA_TYPES.get(code) or TYPES.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def response(error: ProtocolError | QuotaExceeded, *, param: str | None = None) -> JsonResponse:
    """The JSON refusal for `error`, with its status and headers."""
    answer = JsonResponse(body(error.code, error.message, param=param), status=status_of(error))
    for name, value in headers_of(error).items():
        answer[name] = value
    return answer


def status_of(error: ProtocolError | QuotaExceeded) -> int:
    return CODES[error.code].status


def headers_of(error: ProtocolError | QuotaExceeded) -> dict[str, str]:
    if isinstance(error, QuotaExceeded):
        headers = {"x-should-retry": "false"}
        if error.resets_at is not None:
            wait = (error.resets_at - clock.now()).total_seconds()
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return headers
    if error.status == 401:
        return {"WWW-Authenticate": 'Bearer realm="chatweb"'}
    return {}
