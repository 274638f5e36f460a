"""Django's PostgreSQL backend, with the health check skipped for a connection just used.

With CONN_HEALTH_CHECKS, Django pings the server (`SELECT 1`) before the first query of
every "request", and channels' database_sync_to_async starts one for every trip to the
database thread: a socket's answer made five trips and so five pings, half of the
transactions PostgreSQL counted per answer (bench, issue 19). A connection that finished
a trip without an error less than HEALTH_CHECK_TRUST_SECONDS ago is taken as usable; an
idle one is still pinged, and one whose last trip had an error is always checked (what
makes a connection to a restarted server be replaced on its next use). A server
restarted within that second costs at most the one query that finds the connection
broken, as it would without health checks; the next trip replaces the connection.

Leans on BaseDatabaseWrapper.close_if_unusable_or_obsolete running at every trip's
start and end, and on is_usable() being what the health check asks (Django 5.x, pinned
by the lock); tests/test_postgresql_backend.py checks both against the real server.
"""

from __future__ import annotations

import time
from typing import Any

from django.db.backends.postgresql import base

# How long after a trip that ended without an error its connection is trusted unpinged.
HEALTH_CHECK_TRUST_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    # monotonic time the connection last ended a trip without an error; 0: never.
    trusted_at = 0.0

    def connect(self) -> None:
        super().connect()
        self.trusted_at = 0.0

    def close_if_unusable_or_obsolete(self) -> None:
        if self.connection is not None and not self.errors_occurred:
            self.trusted_at = time.monotonic()
        super().close_if_unusable_or_obsolete()

    def is_usable(self) -> Any:
        if (
            not self.errors_occurred
            and self.trusted_at
            and time.monotonic() - self.trusted_at < HEALTH_CHECK_TRUST_SECONDS
        ):
            return True
        return super().is_usable()
