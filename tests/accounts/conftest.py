"""The accounts tests share the conversations tests' fixtures: a fast password hasher
and a clean cache (throttle counters must never leak between tests)."""

from tests.conversations.conftest import _clean_cache, _fast_password_hashing  # noqa: F401
