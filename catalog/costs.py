"""What the ledger's rows cost, in money: a model's prices and a user's spending.

A model's prices (per million prompt and answer tokens, ChatModel.input_price and
output_price) are read from the catalog's in-memory copy (catalog.snapshot), not by a
query per answer. A row's cost is computed when it is written (usage.record, record_all)
and stored on it, so a later price change never rewrites what was spent. A model without
both prices (the `.env` models, a model whose prices are empty) is unpriced: its rows'
cost is null, and it counts nothing against a money budget.

Amounts are Decimals, never floats: cost = (prompt * input + answer * output) / 1,000,000,
kept to 8 decimal places (UsageRecord.cost), shown to the cent in the site's CURRENCY.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Sum
from django.utils import formats
from django.utils.translation import gettext as _

from catalog import snapshot
from catalog.models import UsageRecord

if TYPE_CHECKING:
    from collections.abc import Iterable

MILLION = Decimal(1_000_000)
STORED = Decimal("0.00000001")  # UsageRecord.cost's decimal places
CENT = Decimal("0.01")


def cost(prompt_tokens: int, completion_tokens: int, prices: tuple[Decimal, Decimal]) -> Decimal:
    """The exact cost of a request at (input, output) prices per million tokens."""
    input_price, output_price = prices
    amount = (prompt_tokens * input_price + completion_tokens * output_price) / MILLION
    return amount.quantize(STORED, rounding=ROUND_HALF_UP)


def prices_of(
    model: str, catalog: snapshot.Snapshot | None = None
) -> tuple[Decimal, Decimal] | None:
    """The model's (input, output) prices now, or None when it is unpriced."""
    row = (catalog or snapshot.get()).by_name.get(model)
    if row is None or row.input_price is None or row.output_price is None:
        return None
    return (row.input_price, row.output_price)


def price(rows: Iterable[UsageRecord]) -> None:
    """Set each row's cost at its model's prices in force now (called as rows are written)."""
    catalog = snapshot.get()
    for row in rows:
        prices = prices_of(row.model, catalog)
        row.cost = (
            None if prices is None else cost(row.prompt_tokens, row.completion_tokens, prices)
        )


def spent_since(user_id: int, start: dt.datetime) -> Decimal:
    """What the user's requests since `start` cost (unpriced rows count nothing)."""
    total = UsageRecord.objects.filter(user_id=user_id, created_at__gte=start).aggregate(
        total=Sum("cost")
    )["total"]
    return Decimal(total or 0)


def amount(value: Decimal | int | None) -> str:
    """An amount to the cent, grouped as the active language groups numbers: "1,234.57"."""
    cents = Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)
    return formats.number_format(cents, 2, force_grouping=True)


def money(value: Decimal | int | None) -> str:
    """An amount to the cent in the site's currency, in the active language: "12.34 USD"."""
    return _("%(amount)s %(currency)s") % {"amount": amount(value), "currency": settings.CURRENCY}
