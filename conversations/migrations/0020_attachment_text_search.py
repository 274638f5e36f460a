"""Full-text search over attached documents' text (conversations/search.py, #21), on
PostgreSQL only: a GIN index over the expression the search uses, as migration 0005 made
for messages and titles. SQLite searches with a substring match and gets nothing here.
"""

from django.db import migrations

NAME = "conversations_attachment_text_fts"


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {NAME} ON conversations_attachment "
        "USING gin (to_tsvector('simple'::regconfig, COALESCE(text, '')))"
    )


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0019_attachment_thumbnail_size")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
