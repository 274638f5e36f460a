"""chatweb/csp.py and the HTTPS settings: a strict Content-Security-Policy on every
response, and `manage.py check --deploy` clean with a production-like environment."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.servers import ROOT, app_env


@pytest.fixture(autouse=True)
def _own_static_root(settings: Any, tmp_path: Path) -> None:
    """An empty STATIC_ROOT of the test's own: a `staticfiles/` left in the checkout by
    collectstatic would give hashed names (its manifest), which these tests do not expect."""
    settings.STATIC_ROOT = tmp_path / "staticfiles"


def directives(response: Any) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    parts = (part.strip().split(" ", 1) for part in header.split(";"))
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/", "/accounts/login/", "/admin/login/", "/no-such-page/", "/static/favicon.svg"]
)
def test_every_response_carries_the_policy(path: str, alice_client: Client):
    response = alice_client.get(path)

    policy = directives(response)
    assert policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["style-src"] == "'self'"
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_the_import_map_runs_by_this_requests_nonce_only(alice_client: Client):
    first = alice_client.get("/")
    second = alice_client.get("/")

    nonces = []
    for response in (first, second):
        script_src = directives(response)["script-src"]
        match = re.fullmatch(r"'self' 'nonce-([A-Za-z0-9_-]{20,})'", script_src)
        assert match, script_src
        nonces.append(match.group(1))
        html = response.content.decode()
        assert f'<script type="importmap" nonce="{match.group(1)}">' in html
        # Every other script is a file from this origin, none inline.
        inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*\bnonce=)[^>]*>", html)
        assert inline == []
    assert nonces[0] != nonces[1]


@pytest.mark.django_db
def test_images_come_from_this_origin_only_by_default(alice_client: Client):
    assert directives(alice_client.get("/"))["img-src"] == "'self' blob:"


@pytest.mark.django_db
def test_allowing_remote_images_widens_img_src(alice_client: Client, settings: Any):
    settings.ALLOW_REMOTE_IMAGES = True

    response = alice_client.get("/")

    assert directives(response)["img-src"] == "'self' blob: http: https:"
    assert b'<html lang="en" data-remote-images="allow"' in response.content


@pytest.mark.django_db
def test_the_page_may_connect_to_itself_and_its_socket(alice_client: Client):
    response = alice_client.get("/", headers={"host": "localhost"})

    assert directives(response)["connect-src"] == "'self' ws://localhost wss://localhost"


@pytest.mark.django_db
def test_the_diagram_frame_has_its_own_narrow_policy(client: Client):
    response = client.get("/render/diagram/")

    policy = directives(response)
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self' http://testserver"
    assert "'unsafe-inline'" in policy["style-src"]
    assert "connect-src" not in policy  # default-src 'none': no requests at all
    assert policy["frame-ancestors"] == "'self'"
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert b"vendor/mermaid/mermaid.min.js" in response.content
    # Every other page may not be framed at all.
    assert client.get("/accounts/login/")["X-Frame-Options"] == "DENY"


# --- manage.py check --deploy --------------------------------------------------------

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k3J9-" + "x7Qp2vLm8RtZ4wYb6NcHs1GdUf5AeKo0" * 2,
    "ALLOWED_HOSTS": "chat.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://chat.example.com",
    "TRUST_X_FORWARDED_PROTO": "true",
    "SECURE_COOKIES": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def check_deploy(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=app_env(tmp_path, None, **env), capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path: Path):
    result = check_deploy(tmp_path, **PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variable", "warning"),
    [
        ("SECURE_HSTS_SECONDS", "security.W004"),
        ("SECURE_SSL_REDIRECT", "security.W008"),
        ("SECURE_COOKIES", "security.W012"),
    ],
)
def test_check_deploy_warns_without_each_https_setting(tmp_path: Path, variable: str, warning: str):
    env = dict(PRODUCTION)
    del env[variable]

    result = check_deploy(tmp_path, **env)

    assert result.returncode != 0
    assert warning in result.stdout + result.stderr


def test_the_deploy_guide_names_every_https_setting():
    guide = (ROOT / "README.md").read_text().split("## Deploy", 1)[1]
    example = (ROOT / ".env.example").read_text()
    for variable in PRODUCTION:
        assert variable in guide, variable
        assert f"# {variable}=" in example, variable


@pytest.mark.django_db
def test_the_ssl_redirect_spares_the_containers_healthcheck(settings: Any):
    settings.SECURE_SSL_REDIRECT = True
    client = Client()

    assert client.get("/accounts/login/").status_code == 301
    assert client.get("/healthz/").status_code in {200, 503}
