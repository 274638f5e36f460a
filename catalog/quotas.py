"""Per-user limits: requests per hour, tokens per day and per month, concurrent answers,
storage for attached files, and a money budget per month.

Each limit resolves on its own: the user's quota, else the most generous of the user's
groups' quotas, else the site default quota, else the environment (MAX_REQUEST_PER_HOUR
for requests, MAX_CONCURRENT_ANSWERS for concurrent answers; no limit for tokens).
0 means no limit.

Counters hold across instances: requests per hour in the cache (Redis in production;
a fixed window per clock hour), tokens from the usage ledger (day and month), concurrent
answers from the messages still being written, money from the ledger's costs (the
month's). Over a limit nothing is sent upstream: the action refuses with QuotaExceeded,
saying which limit and when it resets.

A money budget resolves like the others, and names where it came from (the user's own
row, their group's, the site's): it limits each user's own spending this month. Only
finished requests have a cost, so an answer started under the budget may end a little
over it; the next one is refused.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from catalog import clock, costs, snapshot, usage

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from catalog.models import Quota

LIMITS = (
    "requests_per_hour",
    "tokens_per_day",
    "tokens_per_month",
    "concurrent_answers",
    "storage_bytes",
)
# A money budget's refusal code, by where the budget came from (Limits.budget_from).
BUDGET_CODES = {"user": "budget_user", "group": "budget_group", "site": "budget_site"}


@dataclass(frozen=True)
class Limits:
    requests_per_hour: int = 0
    tokens_per_day: int = 0
    tokens_per_month: int = 0
    concurrent_answers: int = 0
    # Bytes the user's attachments may take (conversations/attachments.py checks it).
    storage_bytes: int = 0
    # Money per month in CURRENCY (0: no budget), and whose: "user", "group" or "site".
    budget_per_month: Decimal = Decimal(0)
    budget_from: str = ""


@dataclass(frozen=True)
class TokenBudget:
    """What an answer may spend (prompt and reply, every round) before the tightest token
    quota is reached: its `code`, `limit` and reset say which quota that is."""

    tokens: int
    code: str
    limit: int
    resets_at: dt.datetime | None

    def describe(self) -> str:
        return describe(self.code, self.limit, self.resets_at)


class QuotaExceeded(Exception):
    """A limit is reached. `code` is stable (docs/protocol.md); `resets_at` may be None
    (concurrent answers free up when one ends)."""

    def __init__(self, code: str, limit: int | Decimal, resets_at: dt.datetime | None) -> None:
        self.code = code
        self.limit = limit
        self.resets_at = resets_at
        self.message = describe(code, limit, resets_at)
        super().__init__(self.message)


def describe(code: str, limit: int | Decimal, resets_at: dt.datetime | None) -> str:
    """The refusal's sentence, in the active language (the request's or the socket's)."""
    if code in BUDGET_CODES.values():
        return _describe_budget(code, Decimal(limit), resets_at)
    limit = int(limit)
    count = formats.number_format(limit, force_grouping=True)
    what = {
        "rate_limited": ngettext(
            "%(count)s request per hour", "%(count)s requests per hour", limit
        ),
        "quota_tokens_day": ngettext("%(count)s token per day", "%(count)s tokens per day", limit),
        "quota_tokens_month": ngettext(
            "%(count)s token per month", "%(count)s tokens per month", limit
        ),
        "too_many_answers": ngettext(
            "%(count)s answer being written at a time",
            "%(count)s answers being written at a time",
            limit,
        ),
    }[code] % {"count": count}
    if resets_at is None:
        return _("You have reached your limit of %(what)s. Wait for one to finish, or stop it.") % {
            "what": what
        }
    return _("You have reached your limit of %(what)s. It resets at %(when)s (%(zone)s).") % {
        "what": what,
        **_when(resets_at),
    }


def _when(resets_at: dt.datetime) -> dict[str, str]:
    """A reset time for a sentence: its time, and its date unless it is today; its zone."""
    local = timezone.localtime(resets_at)
    today = timezone.localtime(clock.now()).date()
    when = formats.time_format(local.time(), "H:i")
    if local.date() != today:
        when = _("%(date)s, %(time)s") % {
            "date": formats.date_format(local.date(), "MONTH_DAY_FORMAT"),
            "time": when,
        }
    return {"when": when, "zone": str(local.tzname())}


def _describe_budget(code: str, limit: Decimal, resets_at: dt.datetime | None) -> str:
    sentences = {
        "budget_user": _(
            "You have reached your monthly budget of %(amount)s. It resets at %(when)s (%(zone)s)."
        ),
        "budget_group": _(
            "You have reached your group's monthly budget of %(amount)s a person. It resets "
            "at %(when)s (%(zone)s)."
        ),
        "budget_site": _(
            "You have reached the site's monthly budget of %(amount)s a person. It resets "
            "at %(when)s (%(zone)s)."
        ),
    }
    assert resets_at is not None
    return sentences[code] % {"amount": costs.money(limit), **_when(resets_at)}


def budget_of(user: AbstractBaseUser | AnonymousUser, tokens: int) -> TokenBudget:
    """A stored token_cap as a budget (an answer read back from the database): the quota
    behind it is the day's when the user has one, else the month's."""
    limits = limits_for(user)
    if limits.tokens_per_day or not limits.tokens_per_month:
        return TokenBudget(tokens, "quota_tokens_day", limits.tokens_per_day, usage.next_day())
    return TokenBudget(tokens, "quota_tokens_month", limits.tokens_per_month, usage.next_month())


def limits_for(user: AbstractBaseUser | AnonymousUser) -> Limits:
    if user.pk is None:
        return Limits(
            requests_per_hour=max(0, settings.MAX_REQUEST_PER_HOUR),
            concurrent_answers=max(0, settings.MAX_CONCURRENT_ANSWERS),
        )
    # The quota rows are in the catalog's in-memory copy (catalog.snapshot).
    catalog = snapshot.get()
    group_ids = snapshot.group_ids(user, catalog)
    rows = [q for q in catalog.quotas if q.user_id == user.pk]
    groups = [q for q in catalog.quotas if q.group_id is not None and q.group_id in group_ids]
    site = [q for q in catalog.quotas if q.user_id is None and q.group_id is None]
    defaults = {
        "requests_per_hour": max(0, settings.MAX_REQUEST_PER_HOUR),
        "concurrent_answers": max(0, settings.MAX_CONCURRENT_ANSWERS),
    }
    resolved: dict[str, object] = {}
    for name in LIMITS:
        own = [getattr(q, name) for q in rows if getattr(q, name) is not None]
        group_values = [getattr(q, name) for q in groups if getattr(q, name) is not None]
        site_values = [getattr(q, name) for q in site if getattr(q, name) is not None]
        if own:
            value = own[0]
        elif group_values:
            # The most generous group wins; 0 (no limit) is the most generous of all.
            value = 0 if 0 in group_values else max(group_values)
        elif site_values:
            value = site_values[0]
        else:
            value = defaults.get(name, 0)
        resolved[name] = int(value)
    resolved.update(_budget(rows, groups, site))
    return Limits(**resolved)  # type: ignore[arg-type]


def _budget(rows: list[Quota], groups: list[Quota], site: list[Quota]) -> dict[str, object]:
    """The money budget (0: none) and whose it is, resolved like the other limits."""
    own = [q.budget_per_month for q in rows if q.budget_per_month is not None]
    group_values = [q.budget_per_month for q in groups if q.budget_per_month is not None]
    site_values = [q.budget_per_month for q in site if q.budget_per_month is not None]
    if own:
        value, source = own[0], "user"
    elif group_values:
        value, source = (Decimal(0) if 0 in group_values else max(group_values)), "group"
    elif site_values:
        value, source = site_values[0], "site"
    else:
        value, source = Decimal(0), ""
    return {"budget_per_month": Decimal(value), "budget_from": source if value else ""}


def _hour_key(user_id: object, now: dt.datetime) -> str:
    return f"chatweb:quota:requests:{user_id}:{now:%Y%m%d%H}"


# A second requests-per-hour counter that check() applies beside the user's own: an API
# token's limit (accounts.api_tokens.limits_of). A context variable, so it reaches the
# actions in the database thread (asgiref copies the context) without every action taking
# a parameter only the API sets.
_extra_hourly: contextvars.ContextVar[tuple[str, int] | None] = contextvars.ContextVar(
    "chatweb_extra_hourly_limit", default=None
)


@contextmanager
def extra_hourly_limit(name: str, per_hour: int) -> Iterator[None]:
    """While inside, check() also counts requests under `name`, at most `per_hour` an
    hour (0: no extra limit)."""
    reset = _extra_hourly.set((name, per_hour) if per_hour > 0 else None)
    try:
        yield
    finally:
        _extra_hourly.reset(reset)


def requests_this_hour(user_id: object) -> int:
    return int(cache.get(_hour_key(user_id, clock.now()), 0))


def check(
    user: AbstractBaseUser | AnonymousUser,
    *,
    live_answers: int,
    reserved_tokens: int = 0,
    limits: Limits | None = None,
) -> TokenBudget | None:
    """Refuse (QuotaExceeded) or count one more request for this user, and return the
    new answer's token budget (None: no token quota applies).

    `live_answers` is how many of the user's answers are being written now, and
    `reserved_tokens` the budgets they were given (their tokens are not in the ledger
    until they end, so they count as spent); `limits`, the user's limits_for() when the
    caller already has them. The request is counted only when every limit passes, so a
    refused attempt costs nothing.
    """
    limits = limits or limits_for(user)
    if limits.concurrent_answers and live_answers >= limits.concurrent_answers:
        raise QuotaExceeded("too_many_answers", limits.concurrent_answers, None)
    user_id = int(user.pk) if user.pk is not None else 0
    windows = (
        ("quota_tokens_month", limits.tokens_per_month, usage.month_start, usage.next_month),
        ("quota_tokens_day", limits.tokens_per_day, usage.day_start, usage.next_day),
    )
    budgets = [
        TokenBudget(
            limit - usage.tokens_since(user_id, start()) - reserved_tokens, code, limit, resets()
        )
        for code, limit, start, resets in windows
        if limit
    ]
    budget = min(budgets, key=lambda b: b.tokens) if budgets else None
    if budget is not None and budget.tokens <= 0:
        raise QuotaExceeded(budget.code, budget.limit, budget.resets_at)
    if limits.budget_per_month:
        spent = costs.spent_since(user_id, usage.month_start())
        if spent >= limits.budget_per_month:
            code = BUDGET_CODES[limits.budget_from]
            raise QuotaExceeded(code, limits.budget_per_month, usage.next_month())
    counters = [(_hour_key(user.pk, clock.now()), limits.requests_per_hour)]
    extra = _extra_hourly.get()
    if extra is not None:
        counters.append((_hour_key(extra[0], clock.now()), extra[1]))
    _count_hourly([(key, limit) for key, limit in counters if limit])
    return budget


def _count_hourly(counters: list[tuple[str, int]]) -> None:
    """One more request on each counter, or none at all when one is over its limit."""
    now = clock.now()
    counted: list[str] = []
    for key, limit in counters:
        cache.add(key, 0, timeout=3700)
        counted.append(key)
        if cache.incr(key) > limit:
            for done in counted:
                cache.decr(done)
            hour = now.replace(minute=0, second=0, microsecond=0)
            raise QuotaExceeded("rate_limited", limit, hour + dt.timedelta(hours=1))
