"""chatweb/settings.py: the one place that reads the environment, checked at start."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.servers import ROOT, app_env

SETTINGS = (ROOT / "chatweb" / "settings.py").read_text()
ENV_EXAMPLE = (ROOT / ".env.example").read_text()


def read_settings(tmp_path: Path, **env: str) -> SimpleNamespace:
    """chatweb/settings.py run afresh in this process, in exactly the environment a server
    started with `env` gets (tests/servers.py app_env, no SECRET_KEY), restored after.

    The module's code runs as at a process's start: no Python of its own is needed to
    check what it reads (a process per check cost about a second each)."""
    environment = app_env(tmp_path, None, **env)
    environment.pop("SECRET_KEY")
    with mock.patch.dict(os.environ, environment, clear=True):
        return SimpleNamespace(**runpy.run_path(str(ROOT / "chatweb" / "settings.py")))


def settings_of(tmp_path: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh process with this environment, run code (for the
    checks that set Django up: a process of its own, marked slow)."""
    environment = app_env(tmp_path, None, **env)
    environment.pop("SECRET_KEY")
    return subprocess.run(
        [sys.executable, "-c", f"from chatweb import settings as s; {code}"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_env_example_documents_every_variable_the_settings_read():
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', SETTINGS))
    assert len(read) > 20
    documented = set(re.findall(r"^# ([A-Z_]+)=", ENV_EXAMPLE, flags=re.MULTILINE))
    assert read <= documented, read - documented


def test_no_other_module_reads_the_environment():
    offenders = [
        path.relative_to(ROOT)
        for package in ("chatweb", "conversations", "streaming")
        for path in (ROOT / package).rglob("*.py")
        if path.name not in {"settings.py", "asgi.py"}
        and re.search(r"os\.environ|getenv\(", path.read_text())
    ]
    assert offenders == []


def test_a_bad_base_url_fails_at_start_with_a_clear_message(tmp_path):
    with pytest.raises(ImproperlyConfigured, match=r"OPENAI_API_BASE_URL must be an http\(s\) URL"):
        read_settings(tmp_path, OPENAI_API_BASE_URL="localhost:11434")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://api.openai.com", "https://api.openai.com/v1"),
        ("https://api.openai.com/", "https://api.openai.com/v1"),
        ("http://localhost:11434/v1", "http://localhost:11434/v1"),
        ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1"),
    ],
)
def test_the_base_url_takes_chatgpt_webs_bare_host_and_full_v1_urls(tmp_path, raw, expected):
    assert expected == read_settings(tmp_path, OPENAI_API_BASE_URL=raw).OPENAI_API_BASE_URL


def test_no_key_and_no_base_url_means_no_provider(tmp_path):
    assert read_settings(tmp_path).OPENAI_API_BASE_URL == ""


def test_several_models_are_comma_separated(tmp_path):
    models = read_settings(tmp_path, OPENAI_API_MODEL="llama3, qwen2.5 ,").OPENAI_API_MODELS
    assert models == ["llama3", "qwen2.5"]


def test_a_bad_timeout_fails_at_start(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="TIMEOUT_MS must be a positive"):
        read_settings(tmp_path, TIMEOUT_MS="0")


def test_without_secret_key_one_is_generated_once_and_kept_private(tmp_path):
    key = read_settings(tmp_path).SECRET_KEY
    assert len(key) >= 50
    assert key == read_settings(tmp_path).SECRET_KEY
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_redis_url_selects_the_pubsub_layer_and_the_redis_cache(tmp_path):
    s = read_settings(tmp_path, REDIS_URL="redis://127.0.0.1:6379/3")
    layer = s.CHANNEL_LAYERS["default"]
    assert [layer["BACKEND"], layer["CONFIG"]["prefix"], s.CACHES["default"]["BACKEND"]] == [
        "streaming.layers.PipelinedPubSubChannelLayer",  # channels-redis pub/sub, pipelined
        # PUBLISH ignores the database number: the prefix keeps databases apart.
        "chatweb.db3.",
        "django_redis.cache.RedisCache",  # its pools per process, not per cache object
    ]


def test_channel_layer_prefix_can_be_set(tmp_path):
    s = read_settings(tmp_path, REDIS_URL="redis://127.0.0.1:6379", CHANNEL_LAYER_PREFIX="blue.")
    assert s.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] == "blue."


def test_embedded_defaults_use_our_in_memory_layer(tmp_path):
    s = read_settings(tmp_path)
    assert s.CHANNEL_LAYERS["default"]["BACKEND"] == "streaming.layers.EmbeddedChannelLayer"


@pytest.mark.parametrize("database_url", ["", "postgres://u:p@127.0.0.1:5432/x"])
def test_database_connections_persist_and_are_health_checked(tmp_path, database_url):
    extra = {"DATABASE_URL": database_url} if database_url else {}
    database = read_settings(tmp_path, **extra).DATABASES["default"]
    assert (database["CONN_MAX_AGE"], database["CONN_HEALTH_CHECKS"]) == (600, True)


@pytest.mark.slow
def test_sqlite_runs_in_wal_mode_without_an_fsync_per_commit(tmp_path):
    result = settings_of(
        tmp_path,
        "import django; django.setup(); from django.db import connection; "
        "c = connection.cursor(); "
        "print(c.execute('PRAGMA journal_mode').fetchone()[0], "
        "c.execute('PRAGMA synchronous').fetchone()[0])",
        DJANGO_SETTINGS_MODULE="chatweb.settings",
    )
    assert result.stdout.split() == ["wal", "1"], result.stderr  # 1 is NORMAL


def test_a_negative_conn_max_age_is_refused(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="CONN_MAX_AGE must be"):
        read_settings(tmp_path, CONN_MAX_AGE="-1")


def test_database_url_selects_postgresql(tmp_path):
    s = read_settings(tmp_path, DATABASE_URL="postgres://u:p@127.0.0.1:5432/x")
    # Django's backend with the health check trusting a connection just used.
    assert s.DATABASES["default"]["ENGINE"] == "chatweb.postgresql"


@pytest.mark.slow
def test_pages_render_before_collectstatic_with_plain_asset_names(tmp_path):
    result = settings_of(
        tmp_path,
        "import django; django.setup(); "
        "from django.templatetags.static import static; print(static('css/app.css'))",
        STATIC_ROOT=str(tmp_path / "not-collected"),
        DJANGO_SETTINGS_MODULE="chatweb.settings",
    )
    assert result.stdout.strip() == "/static/css/app.css", result.stderr


@pytest.mark.slow
def test_after_collectstatic_asset_names_are_hashed(tmp_path, static_root):
    result = settings_of(
        tmp_path,
        "import django; django.setup(); "
        "from django.templatetags.static import static; print(static('css/app.css'))",
        STATIC_ROOT=str(static_root),
        DJANGO_SETTINGS_MODULE="chatweb.settings",
    )
    assert re.fullmatch(r"/static/css/app\.[0-9a-f]{12}\.css", result.stdout.strip()), result


def test_the_outbound_proxy_is_read_from_curls_and_chatgpt_webs_variables(tmp_path):
    from modelclient.proxies import parse_proxy_url

    read = read_settings(tmp_path, https_proxy="http://proxy.example:3128", NO_PROXY="localhost")
    proxies = read.UPSTREAM_PROXIES
    assert proxies.for_url("https://api.openai.com/v1") == parse_proxy_url(
        "http://proxy.example:3128"
    )
    assert proxies.for_url("https://localhost/v1") is None
    assert proxies.for_url("http://ollama:11434/v1") is None  # HTTP_PROXY unset
    socks = read_settings(tmp_path, SOCKS_PROXY_HOST="127.0.0.1", SOCKS_PROXY_PORT="1080")
    assert socks.UPSTREAM_PROXIES.for_url("http://ollama/v1") == parse_proxy_url(
        "socks5://127.0.0.1:1080"
    )
    assert read_settings(tmp_path).UPSTREAM_PROXIES.for_url("https://a.example/v1") is None


def test_a_bad_proxy_fails_at_start_naming_the_variable(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="HTTPS_PROXY must start with"):
        read_settings(tmp_path, HTTPS_PROXY="ftp://user:secret@proxy.example:21")


# --- Single sign-on (chatweb/sso.py) -----------------------------------------------------

SSO_ENV = {
    "OIDC_ISSUER": "https://id.example.com/realms/staff",
    "OIDC_CLIENT_ID": "chatweb",
    "OIDC_CLIENT_SECRET": "the-client-secret",
}


def test_single_sign_on_is_off_unless_an_issuer_is_set(tmp_path):
    assert read_settings(tmp_path).SSO is None


def test_single_sign_on_reads_its_variables(tmp_path):
    sso = read_settings(
        tmp_path, **SSO_ENV, OIDC_SCOPES="openid email groups", OIDC_BUTTON_LABEL="Acme ID",
        OIDC_CREATE_USERS="false", OIDC_GROUPS_CLAIM="groups", OIDC_SSO_ONLY="true",
    ).SSO  # fmt: skip
    assert (sso.issuer, sso.scopes, sso.button_label, sso.create_users) == (
        "https://id.example.com/realms/staff",
        ("openid", "email", "groups"),
        "Acme ID",
        False,
    )
    assert (sso.groups_claim, sso.sso_only, sso.endpoints) == ("groups", True, {})
    assert "the-client-secret" not in repr(sso)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({**SSO_ENV, "OIDC_ISSUER": "http://id.example.com"}, "OIDC_ISSUER must use https"),
        ({**SSO_ENV, "OIDC_ISSUER": "id.example.com"}, "OIDC_ISSUER must be an https URL"),
        ({**SSO_ENV, "OIDC_CLIENT_SECRET": ""}, "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET"),
        ({"OIDC_CLIENT_ID": "x", "OIDC_CLIENT_SECRET": "y"}, "needs OIDC_ISSUER"),
        ({"OIDC_SSO_ONLY": "true"}, "needs OIDC_ISSUER"),
        ({**SSO_ENV, "OIDC_SCOPES": "openid profile"}, "must include openid and email"),
        ({**SSO_ENV, "OIDC_SIGN_ALGORITHM": "HS256"}, "OIDC_SIGN_ALGORITHM must be"),
        ({**SSO_ENV, "OIDC_TIMEOUT_SECONDS": "0"}, "OIDC_TIMEOUT_SECONDS must be"),
        ({**SSO_ENV, "OIDC_BUTTON_LABEL": "x" * 41}, "OIDC_BUTTON_LABEL must be"),
        ({**SSO_ENV, "OIDC_TOKEN_ENDPOINT": "http://id.example.com/token"}, "must use https"),
    ],
)
def test_a_bad_single_sign_on_setting_fails_at_start(tmp_path, env, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        read_settings(tmp_path, **env)


def test_a_provider_on_this_machine_may_use_plain_http(tmp_path):
    sso = read_settings(tmp_path, **{**SSO_ENV, "OIDC_ISSUER": "http://127.0.0.1:9000/o/"}).SSO
    assert sso.issuer == "http://127.0.0.1:9000/o"
