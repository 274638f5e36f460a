from typing import Any

from django.core.management.base import BaseCommand

from audit import retention


class Command(BaseCommand):
    help = "Delete the audit entries older than AUDIT_RETENTION_DAYS (0 keeps them all)."

    def handle(self, *args: Any, **options: Any) -> None:
        purged = retention.purge()
        self.stdout.write(f"Deleted {purged} audit entr{'y' if purged == 1 else 'ies'}.")
