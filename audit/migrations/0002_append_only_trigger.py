"""On PostgreSQL, the table itself refuses UPDATE and DELETE: nobody, whatever they go
through (the app, the admin, a shell on the app's account), changes or deletes an entry,
except the retention purge, which sets chatweb.audit_purge for its own transaction
(audit.retention). SQLite has no session settings to let the purge through, so there the
model's refusals (audit.models) are the guard. TRUNCATE is left alone: the tests empty
tables with it, and it needs the table's owner."""

from typing import Any

from django.db import migrations

FORWARD = """
CREATE FUNCTION audit_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('chatweb.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit entries cannot be changed or deleted'
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS audit_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_refuse_change();
"""


class PostgreSQLOnly(migrations.RunSQL):
    def database_forwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, *args)

    def database_backwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, *args)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_audit_event")]

    operations = [PostgreSQLOnly(FORWARD, BACKWARD)]
