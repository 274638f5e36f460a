"""The tests see neither the checkout's `.env` nor the caller's variables (tests/isolation.py).

Proven against a hostile `.env` and a hostile caller: a copy of the settings (chatweb/ and
the suite's own settings module) beside a `.env` that sets a key, a broken DATABASE_URL,
DEBUG and more, imported in a process whose environment sets others. The suite's settings
come out at their defaults; chatweb/settings.py read the same way shows every hostile value
(so the check can fail).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests import isolation
from tests.servers import ROOT, app_env

HOSTILE_DOTENV = """\
OPENAI_API_KEY=sk-hostile-dotenv
OPENAI_API_BASE_URL=http://hostile.invalid/v1
OPENAI_API_MODEL=hostile-model
DATABASE_URL=garbage://nowhere
DEBUG=true
ALLOW_SIGNUP=true
TIMEOUT_MS=1
LOG_LEVEL=DEBUG
"""
# Exported in the shell the tests are started from.
HOSTILE_CALLER = {
    "OPENAI_API_KEY": "sk-hostile-shell",
    "MAX_REQUEST_PER_HOUR": "1",
    "AUTO_TITLE": "true",
    "HTTPS_PROXY": "http://hostile-proxy.invalid:3128",
}
SHOWN = [
    "OPENAI_API_KEY",
    "OPENAI_API_BASE_URL",
    "OPENAI_API_MODELS",
    "DEBUG",
    "ALLOW_SIGNUP",
    "TIMEOUT_MS",
    "MAX_REQUEST_PER_HOUR",
    "AUTO_TITLE",
]


def settings_in_a_hostile_checkout(tmp_path: Path, module: str) -> dict[str, Any]:
    """Import `module` from a copy of the settings beside a hostile .env, under a hostile
    environment; its values as JSON, with the proxy variable the process ended with."""
    checkout = tmp_path / "checkout"
    for package in ("chatweb", "modelclient"):  # settings imports modelclient.baseurl
        shutil.copytree(
            ROOT / package, checkout / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    (checkout / "tests").mkdir()
    for name in ("__init__.py", "isolation.py", "settings.py"):
        shutil.copy(ROOT / "tests" / name, checkout / "tests" / name)
    shutil.copy(ROOT / ".env.example", checkout / ".env.example")
    (checkout / ".env").write_text(HOSTILE_DOTENV)
    environment = {
        "PATH": os.environ["PATH"],
        "DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": "x",
        **HOSTILE_CALLER,
    }
    code = (
        f"import json, os; import {module} as s; "
        f"values = {{name: getattr(s, name) for name in {SHOWN!r}}}; "
        "values['DATABASE'] = s.DATABASES['default']['ENGINE']; "
        "values['HTTPS_PROXY'] = os.environ.get('HTTPS_PROXY'); "
        "print(json.dumps(values))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=checkout, env=environment, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@pytest.mark.slow
def test_the_suites_settings_ignore_a_hostile_dotenv_and_caller(tmp_path):
    seen = settings_in_a_hostile_checkout(tmp_path, "tests.settings")

    assert seen == {
        "OPENAI_API_KEY": "",
        "OPENAI_API_BASE_URL": "",
        "OPENAI_API_MODELS": ["gpt-4o-mini"],
        "DEBUG": False,
        "ALLOW_SIGNUP": False,
        "TIMEOUT_MS": 100_000,
        "MAX_REQUEST_PER_HOUR": 0,
        "AUTO_TITLE": True,
        "DATABASE": "django.db.backends.sqlite3",
        "HTTPS_PROXY": None,
    }


@pytest.mark.slow
def test_without_the_isolation_the_same_checkout_reads_them_all(tmp_path):
    # The control: chatweb/settings.py itself, in the same hostile checkout, takes the
    # .env (the caller's variables winning over it), so the check above can fail.
    seen = settings_in_a_hostile_checkout(tmp_path, "chatweb.settings")

    assert seen == {
        "OPENAI_API_KEY": "sk-hostile-shell",
        "OPENAI_API_BASE_URL": "http://hostile.invalid/v1",
        "OPENAI_API_MODELS": ["hostile-model"],
        "DEBUG": True,
        "ALLOW_SIGNUP": True,
        "TIMEOUT_MS": 1,
        "MAX_REQUEST_PER_HOUR": 1,
        "AUTO_TITLE": True,
        "DATABASE": "garbage",  # DATABASE_URL=garbage://nowhere
        "HTTPS_PROXY": "http://hostile-proxy.invalid:3128",
    }


def test_this_process_reads_no_env_file_and_none_of_the_callers_variables():
    environment = os.environ
    assert environment["CHATWEB_ENV_FILE"] == ""
    leaked = (isolation.app_variables() - isolation.PASSED - {"CHATWEB_ENV_FILE"}) & {
        name for name in environment if name not in {"DATA_DIR", "SECRET_KEY"}
    }
    assert leaked == set()
    # The data directory is the suite's own, not the checkout's data/.
    assert Path(environment["DATA_DIR"]) == settings.DATA_DIR
    assert not settings.DATA_DIR.is_relative_to(ROOT)


def test_server_processes_get_the_clean_environment_too(tmp_path, monkeypatch):
    for name, value in HOSTILE_CALLER.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", "postgres://someone@elsewhere/db")

    env = app_env(tmp_path)

    assert env["CHATWEB_ENV_FILE"] == ""
    assert "OPENAI_API_KEY" not in env
    assert "MAX_REQUEST_PER_HOUR" not in env
    assert "HTTPS_PROXY" not in env
    assert env["DATABASE_URL"] == f"sqlite:///{tmp_path / 'db.sqlite3'}"


@pytest.mark.slow
def test_chatweb_env_file_names_the_file_to_read(tmp_path):
    dotenv = tmp_path / "chatweb.env"
    dotenv.write_text("OPENAI_API_MODEL=from-the-named-file\nTIMEOUT_MS=1234\n")
    environment = app_env(tmp_path, None, CHATWEB_ENV_FILE=str(dotenv), TIMEOUT_MS="999")
    environment.pop("OPENAI_API_MODEL")

    def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c",
             "from chatweb import settings as s; print(s.OPENAI_API_MODELS, s.TIMEOUT_MS)"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    # The file's value is read; a variable already set wins over it.
    assert run(environment).stdout.split() == ["['from-the-named-file']", "999"]
    missing = run({**environment, "CHATWEB_ENV_FILE": str(tmp_path / "nowhere.env")})
    assert missing.returncode != 0
    assert "CHATWEB_ENV_FILE names no file" in missing.stderr
