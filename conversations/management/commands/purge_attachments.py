from typing import Any

from django.core.management.base import BaseCommand

from conversations.attachment_purge import purge_orphans


class Command(BaseCommand):
    help = (
        "Delete the uploads left on no message for ATTACHMENT_PENDING_HOURS, and every "
        "stored attachment file that no row names (written before the same cutoff). "
        "Every server process also deletes the stale uploads every few minutes."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        uploads, files = purge_orphans()
        if uploads or files or options["verbosity"] >= 1:
            self.stdout.write(f"{uploads} stale upload(s) and {files} orphaned file(s) deleted.")
