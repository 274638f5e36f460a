from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from conversations.actions import recover_interrupted


class Command(BaseCommand):
    help = (
        "Mark answers left streaming by a stopped server as interrupted. Run before "
        "daphne starts (make run and the Docker image do)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = recover_interrupted(instance_id=settings.INSTANCE_ID)
        if count or options["verbosity"] >= 1:
            self.stdout.write(f"{count} interrupted answer(s) recovered.")
