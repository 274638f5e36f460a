"""manage.py openapi: print /api/v1's OpenAPI document, or --write it to docs/openapi.json."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from api import openapi


class Command(BaseCommand):
    help = "Print the /api/v1 OpenAPI document (--write: into docs/openapi.json)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--write", action="store_true", help="Write docs/openapi.json.")

    def handle(self, *args: Any, **options: Any) -> None:
        text = openapi.generate()
        if options["write"]:
            openapi.COMMITTED.write_text(text)
            self.stdout.write(f"{openapi.COMMITTED} written")
        else:
            self.stdout.write(text, ending="")
