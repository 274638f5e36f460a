import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog import rollup


class Command(BaseCommand):
    help = (
        "Roll the usage ledger up per closed day, model and user (the admin's dashboard "
        "reads it): the days not rolled up yet, or with --rebuild every closed day of the "
        "range again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--start", type=dt.date.fromisoformat, help="first day (ISO)")
        parser.add_argument("--end", type=dt.date.fromisoformat, help="last day (ISO)")
        parser.add_argument(
            "--days", type=int, default=rollup.WARM_DAYS,
            help="without --start: the days before today (default %(default)s)",
        )  # fmt: skip
        parser.add_argument("--rebuild", action="store_true", help="recompute the range")

    def handle(self, *args: Any, **options: Any) -> None:
        yesterday = rollup.first_open_day() - dt.timedelta(days=1)
        end = options["end"] or yesterday
        if options["days"] < 1:
            raise CommandError("--days must be at least 1.")
        start = options["start"] or end - dt.timedelta(days=options["days"] - 1)
        if end < start:
            raise CommandError("The end date is before the start date.")
        fill = rollup.rebuild if options["rebuild"] else rollup.ensure
        count = fill(start, end)
        self.stdout.write(f"Rolled up {count} day{'' if count == 1 else 's'} ({start} to {end}).")
