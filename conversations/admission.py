"""Whether a user may start an answer now (quotas, answers in flight), checked in the
transaction that creates it, after locking the user's row. The actions and /v1's
completions (streaming/completions.py) call these."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import quotas
from conversations.models import Message
from realtime.codes import ProtocolError as ActionError

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


def check_quota(user: AbstractBaseUser | AnonymousUser) -> quotas.TokenBudget | None:
    """The user's quotas (catalog.quotas): refuse before anything is written or sent.

    Requests per hour, tokens per day and month, and concurrent answers (the site default
    MAX_CONCURRENT_ANSWERS), counted in the database on every instance and skipping
    answers gone stale. Counts one request when it passes. Returns the new answer's token
    budget (the tightest token quota left, less what the user's answers being written
    hold): it is stored on the answer (token_cap), which never spends more. Call it last, in the
    transaction that creates the answer, after locking the user's row (lock_user), so
    two tabs cannot both take the last place.
    """
    if not user.is_active:
        # Deactivated without the signal that closes the sockets (a QuerySet.update(), a
        # script): a socket still open must not start answers for the account.
        raise ActionError("account_inactive", _("This account is deactivated."))
    limits = quotas.limits_for(user)
    live, reserved = answers_in_flight(user, limits)
    try:
        return quotas.check(user, live_answers=live, reserved_tokens=reserved, limits=limits)
    except quotas.QuotaExceeded as exc:
        raise ActionError(exc.code, exc.message) from exc


def answers_in_flight(
    user: AbstractBaseUser | AnonymousUser, limits: quotas.Limits
) -> tuple[int, int]:
    """How many of the user's answers are being written (skipping answers gone stale), and
    the token budgets they hold: counted only when a limit needs them (else 0, 0)."""
    if not (limits.concurrent_answers or limits.tokens_per_day or limits.tokens_per_month):
        return 0, 0
    fresh_since = timezone.now() - dt.timedelta(seconds=settings.STREAM_STALE_SECONDS)
    counted = Message.objects.filter(
        conversation__user_id=int(user.pk or 0),
        status__in=Message.LIVE,
        updated_at__gte=fresh_since,
    ).aggregate(live=Count("pk"), reserved=Sum("token_cap"))
    return counted["live"], counted["reserved"] or 0


def lock_user(user_id: int) -> None:
    """Serialise the starts of one user's answers, so the concurrency check holds."""
    get_user_model().objects.select_for_update().filter(pk=user_id).values_list("pk").first()
