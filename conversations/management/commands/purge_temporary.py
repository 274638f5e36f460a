from typing import Any

from django.core.management.base import BaseCommand

from conversations.organise import purge_temporary


class Command(BaseCommand):
    help = (
        "Delete the temporary chats whose time is up (TEMPORARY_CHAT_HOURS after they "
        "started), with their messages; the usage ledger keeps what they cost. Every server "
        "process also does this at start-up and every few minutes."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = purge_temporary()
        if count or options["verbosity"] >= 1:
            self.stdout.write(f"{count} temporary chat(s) deleted.")
