"""The test suite's environment: neither the checkout's `.env` nor the caller's variables.

A developer's `.env` (the README tells every newcomer to make one) or a variable exported
in their shell (OPENAI_API_KEY, DEBUG, TIMEOUT_MS, a proxy) changed what the tests saw:
`test_no_key_and_no_base_url_means_no_provider` failed with a `.env` in the checkout.
So before the settings are read (tests/settings.py, the suite's DJANGO_SETTINGS_MODULE)
every variable chatweb/settings.py reads is removed from this process's environment,
`CHATWEB_ENV_FILE` is set empty (no file is read), and the data directory is a
temporary one. The server processes the tests start get the same environment
(tests/servers.py app_env).

Only DATABASE_URL and REDIS_URL pass: they choose the configuration the suite runs on
(`make test-pg`).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The configuration the suite is asked to run on.
PASSED = frozenset({"DATABASE_URL", "REDIS_URL"})
# Read by httpx (the app's upstream client) and others from the environment.
PROXIES = frozenset({"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"})


def app_variables() -> frozenset[str]:
    """Every variable chatweb/settings.py reads, and every one .env.example documents."""
    settings = (ROOT / "chatweb" / "settings.py").read_text()
    example = (ROOT / ".env.example").read_text()
    read = re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', settings)
    documented = re.findall(r"^# ([A-Z_]+)=", example, flags=re.MULTILINE)
    return frozenset(read) | frozenset(documented)


def clean(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without the app's variables (but PASSED) and proxies; no env file."""
    dropped = app_variables() - PASSED
    kept = {
        name: value
        for name, value in environ.items()
        if name not in dropped and name.upper() not in PROXIES
    }
    kept["CHATWEB_ENV_FILE"] = ""
    return kept


def isolate() -> None:
    """This process's environment made clean, with a data directory of its own."""
    cleaned = clean(os.environ)
    os.environ.clear()
    os.environ.update(cleaned)
    data_dir = tempfile.mkdtemp(prefix="chatweb-tests-")
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    os.environ["DATA_DIR"] = data_dir
    os.environ["SECRET_KEY"] = "test-secret-key-of-the-test-process-only"
