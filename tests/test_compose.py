"""docker-compose.yaml, the Dockerfile and the nginx config say what README.md (Deploy) says.

No Docker engine is needed: the compose file is parsed and its structure checked, and when a
compose client is installed (`docker compose` or Debian's `docker-compose`) it validates
the file too. tests/deploy runs the nginx config itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yaml"
NGINX_TEMPLATE = ROOT / "nginx" / "chatweb.conf.template"
DOCKERFILE = ROOT / "Dockerfile"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    return services


def test_compose_has_the_five_services(services) -> None:
    assert set(services) == {"db", "redis", "migrate", "app", "nginx"}


def test_the_app_can_be_scaled(services) -> None:
    app = services["app"]
    assert "ports" not in app, "a published port would clash between replicas"
    assert "container_name" not in app, "a fixed name forbids --scale app=N"


def test_the_app_replicas_start_after_migrations_and_healthy_services(services) -> None:
    assert services["app"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "db": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"


def test_the_app_and_migrate_share_the_image_and_settings(services) -> None:
    app, migrate = services["app"], services["migrate"]
    for key in ("build", "image", "env_file", "environment", "volumes"):
        assert app[key] == migrate[key]
    assert app["env_file"] == ".env"
    env = app["environment"]
    assert env["DATABASE_URL"].startswith("postgres://")
    assert "@db:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    # The image's healthcheck calls http://127.0.0.1:8000/healthz/.
    assert env["ALLOWED_HOSTS"].endswith(",127.0.0.1")


def test_secrets_come_from_env_not_from_the_file(services) -> None:
    assert "${POSTGRES_PASSWORD:?" in services["db"]["environment"]["POSTGRES_PASSWORD"]
    for service in services.values():
        assert not {"SECRET_KEY", "OPENAI_API_KEY"} & set(service.get("environment", {}))


def test_db_and_redis_have_healthchecks_and_the_db_a_named_volume(services) -> None:
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert "ping" in services["redis"]["healthcheck"]["test"]
    assert services["db"]["volumes"] == ["postgres:/var/lib/postgresql/data"]
    volumes = yaml.safe_load(COMPOSE_FILE.read_text())["volumes"]
    assert "postgres" in volumes


def test_the_image_checks_its_health_at_healthz() -> None:
    dockerfile = DOCKERFILE.read_text()
    assert re.search(r"^HEALTHCHECK .*\n.*127\.0\.0\.1:8000/healthz/", dockerfile, re.M)
    assert re.search(r"^USER chatweb$", dockerfile, re.M), "the app must not run as root"
    assert "collectstatic" in dockerfile
    assert "python -m streaming.server --bind 0.0.0.0 --port 8000" in dockerfile
    # Migrations belong to the one-shot service, never to each replica's start.
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD"))
    assert "migrate" not in cmd


def test_nginx_publishes_the_port_and_renders_the_project_config(services) -> None:
    nginx = services["nginx"]
    assert nginx["ports"] == ["${CHATWEB_PORT:-8080}:80"]
    assert nginx["volumes"] == [
        "./nginx/chatweb.conf.template:/etc/nginx/templates/default.conf.template:ro"
    ]
    assert nginx["depends_on"] == {"app": {"condition": "service_healthy"}}
    assert set(nginx["environment"]) == {"CHATWEB_LISTEN", "CHATWEB_UPSTREAM_SERVERS"}
    assert "server app:8000" in nginx["environment"]["CHATWEB_UPSTREAM_SERVERS"]


def _location(config: str, prefix: str) -> str:
    match = re.search(r"location " + re.escape(prefix) + r" \{(.*?)\n    \}", config, re.S)
    assert match, f"no location {prefix}"
    return match.group(1)


def test_nginx_never_buffers_or_compresses_the_streams() -> None:
    config = NGINX_TEMPLATE.read_text()
    for prefix in ("/ws/", "= /admin-tools/diagnostics/stream/", "/api/v1/", "/v1/"):
        location = _location(config, prefix)
        assert "proxy_buffering off;" in location
        assert "gzip off;" in location
        assert "proxy_read_timeout 1h;" in location


def test_nginx_passes_websocket_upgrades_and_forwarded_headers() -> None:
    config = NGINX_TEMPLATE.read_text()
    assert "map $http_upgrade $connection_upgrade" in config
    for header in (
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_set_header Host $http_host;",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Request-ID $request_id;",
    ):
        assert header in config
    # Appending ($proxy_add_x_forwarded_for) would keep a client's own header first, and
    # daphne takes the first entry as the client's address (sign-in throttling counts it).
    assert "$proxy_add_x_forwarded_for" not in config
    # A location with its own proxy_set_header would silently drop all of the above.
    server_block = config.split("server {", 1)[1]
    for location in re.findall(r"location [^{]*\{(.*?)\n    \}", server_block, re.S):
        assert "proxy_set_header" not in location
    assert re.search(r"^    client_max_body_size \d+m;", config, re.M)
    # Prometheus scrapes each instance itself; nginx does not serve /metrics.
    assert "return 404;" in _location(config, "= /metrics")
    assert re.search(r"^# server \{\n#     listen 443 ssl;", config, re.M), "HTTPS example"


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.mark.slow
def test_the_compose_client_accepts_the_file(tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("no compose client (`docker compose` or `docker-compose`) installed")
    # A copy with a dummy .env, so a developer's own .env is neither needed nor read.
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yaml")
    shutil.copy(DOCKERFILE, tmp_path / "Dockerfile")
    shutil.copytree(ROOT / "nginx", tmp_path / "nginx")

    def config_with(dotenv: str) -> subprocess.CompletedProcess[str]:
        # Only PATH from this environment: POSTGRES_PASSWORD must come from .env.
        (tmp_path / ".env").write_text(dotenv)
        return subprocess.run(
            [*command, "-f", "docker-compose.yaml", "config", "-q"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
            env={"PATH": "/usr/bin:/bin:/usr/local/bin"},
        )  # fmt: skip

    result = config_with("POSTGRES_PASSWORD=dummy\nSECRET_KEY=dummy\n")
    assert result.returncode == 0, result.stderr
    # Without the password the file refuses to start rather than use an empty one.
    refused = config_with("SECRET_KEY=dummy\n")
    assert refused.returncode != 0
    assert "POSTGRES_PASSWORD" in refused.stderr


README = (ROOT / "README.md").read_text()
DEPLOY_SECTION = README.split("\n## Deploy\n")[1].split("\n## Upgrading\n")[0]


def test_the_readme_deploy_section_lists_exactly_the_compose_services(services):
    table = set(re.findall(r"^\| `([a-z]+)` \|", DEPLOY_SECTION, flags=re.MULTILINE))
    assert table == set(services)


def test_the_readme_commands_and_variables_are_the_compose_files(services):
    compose = COMPOSE_FILE.read_text()
    assert "docker compose up -d --build" in DEPLOY_SECTION
    assert "--scale app=" in DEPLOY_SECTION
    # Every ${VARIABLE} the compose file takes from .env is explained in the README.
    for variable in set(re.findall(r"\$\{(\w+)", compose)):
        assert f"`{variable}`" in DEPLOY_SECTION, variable
    assert services["migrate"]["command"][-2:] == ["migrate", "--noinput"]
    assert "migrate" in README.split("\n## Upgrading\n")[1]


def test_nginx_lets_an_attached_file_of_the_largest_size_through(services) -> None:
    from django.conf import settings

    config = NGINX_TEMPLATE.read_text()
    for prefix in ("= /attachments/", "= /api/v1/attachments"):
        location = _location(config, prefix)
        limit = re.search(r"client_max_body_size (\d+)m;", location)
        assert limit, prefix
        # The largest file the app takes, plus the multipart form's framing.
        assert int(limit[1]) * 1024 * 1024 > settings.ATTACHMENT_MAX_BYTES
    # Files kept on the local disk live on the volume every replica mounts.
    assert "data:/data" in services["app"]["volumes"]
    assert services["app"]["environment"]["DATA_DIR"] == "/data"
    assert services["app"]["env_file"] == ".env"  # ATTACHMENT_* come from .env
