"""Password hashes: argon2id (argon2-cffi's defaults, RFC 9106's second recommendation),
compared in constant time. An unknown user costs a verify too, so timing tells nothing."""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
MIN_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True if `password` matches `stored`; with no stored hash, a dummy verify, then False."""
    try:
        return _hasher.verify(stored or _dummy(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def random_password() -> str:
    return secrets.token_urlsafe(15)  # 120 bits
