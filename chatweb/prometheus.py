"""The Prometheus endpoint (/metrics) and what it counts; docs/operations.md lists each metric.

Off by default (PROMETHEUS_ENABLED): the endpoint answers 404 and no hook counts anything
(each is one settings check). On, it answers only a scraper with the bearer token
(PROMETHEUS_TOKEN) and/or a direct peer in PROMETHEUS_ALLOWED_NETWORKS, 403 otherwise.
Counting is per answer, per frame refused or per failed database trip, never per token;
the gauges (answers in flight, sockets open) are read from the process's own tables when
scraped, so they cost nothing between scrapes. One process, one set of numbers: each
daphne instance is a target of its own.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# No `_created` series beside each counter: Prometheus does not need them, and they would
# double what every scrape carries.
disable_created_metrics()  # type: ignore[no-untyped-call]

# The default registry: prometheus-client puts its process (CPU, memory, open files),
# platform and garbage-collector metrics there.
ANSWERS_IN_FLIGHT = Gauge(
    "chatweb_answers_in_flight",
    "Answers this process is streaming now (kind: answer for the chat, completion for /v1).",
    ["kind"],
)
ANSWERS = Counter(
    "chatweb_answers",
    "Answers ended, by kind and outcome (done, stopped, error, interrupted).",
    ["kind", "outcome"],
)
TIME_TO_FIRST_TOKEN = Histogram(
    "chatweb_time_to_first_token_seconds",
    "From an answer's start to its first text or thinking sent on.",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0),
)
UPSTREAM_ERRORS = Counter(
    "chatweb_upstream_errors",
    "Answers and completions the model server failed, by error code (docs/protocol.md).",
    ["code"],
)
TOKENS = Counter(
    "chatweb_tokens",
    "Tokens of every upstream request (answers, continuations, titles, /v1), by model "
    "(its name in the catalog) and type (prompt, completion), as the usage ledger counts them.",
    ["model", "type"],
)
DATABASE_ERRORS = Counter(
    "chatweb_database_errors",
    "Database trips of the answer engine that failed (operation: load, checkpoint, end).",
    ["operation"],
)
CHANNEL_LAYER_ERRORS = Counter(
    "chatweb_channel_layer_errors",
    "Channel-layer calls that failed (operation: publish, group_add, group_discard).",
    ["operation"],
)
SOCKETS_OPEN = Gauge("chatweb_sockets_open", "Signed-in WebSockets open on this process.")


def on() -> bool:
    return bool(settings.PROMETHEUS_ENABLED)


def watch(
    *, answers: Callable[[], int], completions: Callable[[], int], sockets: Callable[[], int]
) -> None:
    """The gauges read these when scraped (streaming's ready(): its registries)."""
    ANSWERS_IN_FLIGHT.labels("answer").set_function(answers)
    ANSWERS_IN_FLIGHT.labels("completion").set_function(completions)
    SOCKETS_OPEN.set_function(sockets)


def answer_ended(kind: str, outcome: str) -> None:
    if on():
        ANSWERS.labels(kind, outcome).inc()


def first_token(kind: str, seconds: float) -> None:
    if on():
        TIME_TO_FIRST_TOKEN.labels(kind).observe(seconds)


def upstream_error(code: str) -> None:
    if on():
        UPSTREAM_ERRORS.labels(code).inc()


def tokens(model: str, prompt: int, completion: int) -> None:
    if on():
        TOKENS.labels(model, "prompt").inc(prompt)
        TOKENS.labels(model, "completion").inc(completion)


def database_error(operation: str) -> None:
    if on():
        DATABASE_ERRORS.labels(operation).inc()


def layer_error(operation: str) -> None:
    if on():
        CHANNEL_LAYER_ERRORS.labels(operation).inc()


# --- The endpoint -------------------------------------------------------------------------


def _proxied(request: HttpRequest) -> bool:
    """Came through a proxy (nginx): daphne's --proxy-headers would have put the header's
    address in REMOTE_ADDR, which the client chose. Scrapers reach an instance directly."""
    return "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_X_REAL_IP" in request.META


def _from_allowed_network(request: HttpRequest) -> bool:
    if _proxied(request):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in settings.PROMETHEUS_ALLOWED_NETWORKS)


def _has_token(request: HttpRequest) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    expected: str = settings.PROMETHEUS_TOKEN
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), expected.encode()
    )


def allowed(request: HttpRequest) -> bool:
    """Both rules that are set must pass (settings refuse PROMETHEUS_ENABLED with neither)."""
    if settings.PROMETHEUS_TOKEN and not _has_token(request):
        return False
    return not (settings.PROMETHEUS_ALLOWED_NETWORKS and not _from_allowed_network(request))


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not on():
        raise Http404
    if not allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
