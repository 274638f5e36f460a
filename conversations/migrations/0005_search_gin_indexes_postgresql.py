"""Full-text search indexes (conversations/search.py), on PostgreSQL only.

GIN indexes over the same expressions the search uses (to_tsvector('simple', …) of a
message's content and a conversation's title), so PostgreSQL can answer a search from
the index. SQLite searches with a plain substring match and gets nothing here.
"""

from django.db import migrations

INDEXES = [
    ("conversations_message_content_fts", "conversations_message", "content"),
    ("conversations_conversation_title_fts", "conversations_conversation", "title"),
]


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
            f"USING gin (to_tsvector('simple'::regconfig, COALESCE({column}, '')))"
        )


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0004_shared_links")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
