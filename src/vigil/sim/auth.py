"""RTSP Basic and Digest authentication (RFC 2617), for testing a camera's 401 path."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

REALM = "vigil-sim"
_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


@dataclass
class Credentials:
    username: str
    password: str
    nonce: str = field(default_factory=lambda: secrets.token_hex(16))

    def challenge(self) -> list[str]:
        """The WWW-Authenticate headers of a 401."""
        return [f'Digest realm="{REALM}", nonce="{self.nonce}"', f'Basic realm="{REALM}"']

    def check(self, method: str, header: str | None) -> bool:
        """Whether an Authorization header proves these credentials."""
        if not header:
            return False
        scheme, _, rest = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, pw = base64.b64decode(rest.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return hmac.compare_digest(f"{user}:{pw}", f"{self.username}:{self.password}")
        if scheme.lower() != "digest":
            return False
        params = {
            m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _PARAM.finditer(rest)
        }
        if params.get("username") != self.username or params.get("nonce") != self.nonce:
            return False
        ha1 = _md5(f"{self.username}:{REALM}:{self.password}")
        ha2 = _md5(f"{method}:{params.get('uri', '')}")
        expected = _md5(f"{ha1}:{self.nonce}:{ha2}")
        return hmac.compare_digest(expected, params.get("response", ""))
