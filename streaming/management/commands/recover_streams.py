from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from conversations.recovery import recover_interrupted
from streaming import spill


class Command(BaseCommand):
    help = (
        "Write the answers a database outage left on disk (DATA_DIR/spill), then mark "
        "answers left streaming by a stopped server as interrupted. Run before daphne "
        "starts (make run and the Docker image do)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # The spill first: its text is newer than any checkpoint of the same answer.
        spilled = spill.recover_all()
        count = recover_interrupted(instance_id=settings.INSTANCE_ID)
        if spilled or count or options["verbosity"] >= 1:
            self.stdout.write(
                f"{spilled} answer(s) written from disk, {count} interrupted answer(s) recovered."
            )
