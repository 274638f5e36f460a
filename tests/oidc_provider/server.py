"""The test OpenID provider as a real process: migrated, given an RSA key made here, one
client (Chatweb) and its users, then served by Django's runserver on a free port."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests import isolation
from tests.servers import ROOT, free_port

CLIENT_ID, CLIENT_SECRET = "chatweb-test-client", "chatweb-test-client-secret-never-shown"
# Where Chatweb's callback and sign-out may send the browser back: the in-process test
# client's host, and any port of 127.0.0.1 (RFC 8252: a loopback redirect's port is free).
REDIRECT_URIS = "http://testserver/accounts/sso/callback/ http://127.0.0.1/accounts/sso/callback/"
LOGOUT_URIS = "http://testserver/accounts/login/ http://127.0.0.1/accounts/login/"


class OIDCProvider:
    """with OIDCProvider(directory, users) as provider: provider.issuer ...

    users: {username: {"password":, "email":, "groups": [...], "verified": bool}}; a user
    with verified False is in the provider's claims.UNVERIFIED group.
    """

    def __init__(self, directory: Path, users: dict[str, dict[str, object]]) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = f"{self.url}/o"
        self.key_pem = directory / "rsa.pem"
        self.users = users
        self.log_path = directory / "provider.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        env = isolation.clean(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="tests.oidc_provider.settings",
            OIDC_PROVIDER_DATA=str(self.directory),
            OIDC_PROVIDER_ISSUER=self.issuer,
            PYTHONUNBUFFERED="1",
        )
        return env

    def private_key(self) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(self.key_pem.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    def _prepare(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        script = (
            "import json, sys; from django.core.management import call_command; "
            "call_command('migrate', interactive=False, verbosity=0); "
            "from django.contrib.auth.models import Group, User; "
            "from oauth2_provider.models import Application; "
            "from tests.oidc_provider.claims import UNVERIFIED; "
            "spec = json.loads(sys.stdin.read()); "
            "Application.objects.create(name='Chatweb', client_id=spec['id'], "
            "client_secret=spec['secret'], client_type='confidential', "
            "authorization_grant_type='authorization-code', redirect_uris=spec['redirect'], "
            "post_logout_redirect_uris=spec['logout'], algorithm='RS256', "
            "skip_authorization=True)\n"
            "for name, u in spec['users'].items():\n"
            "    user = User.objects.create_user(name, email=u['email'], password=u['password'])\n"
            "    names = list(u.get('groups', []))\n"
            "    names += [] if u.get('verified', True) else [UNVERIFIED]\n"
            "    user.groups.set([Group.objects.get_or_create(name=n)[0] for n in names])\n"
        )
        spec = {
            "id": CLIENT_ID,
            "secret": CLIENT_SECRET,
            "redirect": REDIRECT_URIS,
            "logout": LOGOUT_URIS,
            "users": self.users,
        }
        result = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); exec({script!r})"],
            input=json.dumps(spec), cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr

    def __enter__(self) -> OIDCProvider:
        self._prepare()
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "django", "runserver", "--noreload",
             f"127.0.0.1:{self.port}"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the provider exited: {self.log_path.read_text()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return self
            time.sleep(0.1)
        raise RuntimeError(f"the provider did not start: {self.log_path.read_text()}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def app_env(self, **extra: str) -> dict[str, str]:
        """The variables that point a Chatweb process at this provider."""
        return {
            "OIDC_ISSUER": self.issuer,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            **extra,
        }
