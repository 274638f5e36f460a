"""Provider API keys at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a derived key.

The key is derived (HKDF-SHA256) from PROVIDER_KEY_SECRET, or SECRET_KEY when that is
empty, so a database dump alone does not reveal any provider's API key. Changing the
secret makes stored keys unreadable: the admin then says so and asks for the key again.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class UndecryptableKey(Exception):
    """The stored key was encrypted under another secret (SECRET_KEY changed)."""


def _fernet() -> Fernet:
    secret = settings.PROVIDER_KEY_SECRET or settings.SECRET_KEY
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"chatweb provider api keys"
    ).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(plain: str) -> str:
    if not plain:
        return ""
    return _fernet().encrypt(plain.encode()).decode("ascii")


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError) as exc:
        raise UndecryptableKey(
            "The stored API key cannot be decrypted (SECRET_KEY or PROVIDER_KEY_SECRET "
            "changed). Enter the key again in the admin."
        ) from exc
