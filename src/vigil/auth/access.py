"""The one door: logins, sessions, tokens and Basic credentials become a :class:`Principal`.

Users, sessions and tokens live in the database, so a user removed or a password changed by
``vigil user`` while the server runs takes effect at the next request. Reading them on every
request cost 0.5 ms, so rows read are remembered while the database's
:meth:`~vigil.auth.store.AuthStore.data_version` stays the same: any commit, from any
connection or process, forgets them all. Basic credentials verified once are remembered as
the hash they matched for :data:`BASIC_TTL` seconds (argon2 is not paid per request), and
still compared with the stored hash.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.auth.passwords import MIN_LENGTH, hash_password, random_password, verify_password
from vigil.auth.principal import ALL_CAMERAS, USER_NAME_PATTERN, Principal, UserRole, Via
from vigil.auth.store import AuditRow, AuthStore, SessionRow, TokenRow, UserRow, digest
from vigil.auth.throttle import Throttle
from vigil.const import CAMERA_NAME_PATTERN
from vigil.errors import FieldError, RequestError

_log = logging.getLogger(__name__)
MAX_REMEMBERED = 10_000  # rows remembered between database changes
TOUCH_EVERY = 60.0  # seconds: a session's last use is written at most this often
BASIC_TTL = 300.0  # seconds Basic credentials stay verified without argon2
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class AuthSettings:
    idle_seconds: float = 12 * 3600.0
    max_seconds: float = 7 * 86400.0
    audit_days: float = 90.0


class LoginThrottled(RequestError):
    def __init__(self, retry_after: float):
        super().__init__("too many failed logins: try again later", code="E612")
        self.retry_after = max(1, round(retry_after + 0.5))


@dataclass(frozen=True, slots=True)
class Login:
    principal: Principal
    session: str  # the cookie's secret


class Access:
    def __init__(
        self,
        store: AuthStore,
        settings: AuthSettings | None = None,
        now: Callable[[], float] = time.time,
    ):
        self.store = store
        self.settings = settings or AuthSettings()
        self.now = now
        self.throttle = Throttle(now)
        self._basic: dict[tuple[str, str], tuple[str, float]] = {}
        self._rows: dict[tuple[str, str], tuple[int, Any]] = {}  # (kind, key) -> (version, row)

    def _read(self, kind: str, key: str, load: Callable[[str], Any]) -> Any:
        """`load(key)`, or the row read under the same data version."""
        version = self.store.data_version()
        if version is not None:
            hit = self._rows.get((kind, key))
            if hit is not None and hit[0] == version:
                return hit[1]
        row = load(key)
        if version is not None:
            if len(self._rows) > MAX_REMEMBERED:
                self._rows.clear()
            self._rows[(kind, key)] = (version, row)
        return row

    def _user(self, name: str) -> UserRow | None:
        row: UserRow | None = self._read("user", name, self.store.user)
        return row

    # who a request is
    def login(self, name: str, password: str, address: str) -> Login:
        """A session for `name`; E611 if the password is wrong, E612 while throttled."""
        keys = (f"address {address}", f"user {name}")
        wait = self.throttle.retry_after(keys)
        if wait > 0:
            self.audit("login", name, address, ok=False, detail="throttled")
            raise LoginThrottled(wait)
        row = self.store.user(name) if re.fullmatch(USER_NAME_PATTERN, name) else None
        if not verify_password(row.password_hash if row else None, password) or row is None:
            self.throttle.failed(keys)
            _log.warning("[E611] login failed for user %r from %s", name[:64], address)
            self.audit("login", name[:64], address, ok=False)
            raise RequestError("wrong user name or password", code="E611")
        self.throttle.succeeded(keys)
        self.audit("login", name, address, ok=True)
        return self._start_session(row)

    def _start_session(self, row: UserRow) -> Login:
        secret = secrets.token_urlsafe(32)
        self.store.add_session(secret, row.name, self.now())
        return Login(_principal(row, Via.SESSION, digest(secret)), secret)

    def session(self, secret: str) -> Principal | None:
        row: SessionRow | None = self._read("session", digest(secret), self.store.session_by)
        if row is None:
            return None
        now = self.now()
        idle, total = now - row.seen, now - row.created
        if idle > self.settings.idle_seconds or total > self.settings.max_seconds:
            self.store.end_session(row.digest)
            return None
        user = self._user(row.user)
        if user is None:
            return None
        if idle > TOUCH_EVERY:
            self.store.touch_session(row.digest, now)
        return _principal(user, Via.SESSION, row.digest)

    def token(self, secret: str) -> Principal | None:
        row: TokenRow | None = self._read("token", digest(secret), self.store.token_by)
        if row is None or row.login_link:
            return None
        user = self._user(row.user)
        if user is None:
            return None
        now = self.now()
        if row.last_used is None or now - row.last_used > TOUCH_EVERY:
            self.store.used_token(row.id, now)
        return _principal(user, Via.TOKEN)

    def basic_remembered(self, name: str, password: str) -> Principal | None:
        """Basic credentials verified lately, still matching the stored hash; else None
        (then :meth:`basic` checks them, with argon2: call it off the event loop)."""
        cached = self._basic.get((name, digest(password)))
        if cached is None or cached[1] <= self.now():
            return None
        user = self._user(name)
        if user is None or user.password_hash != cached[0]:
            return None
        return _principal(user, Via.BASIC)

    def basic(self, name: str, password: str, address: str) -> Principal | None:
        """HTTP Basic, for media players: argon2 once, then the cached match for a while."""
        remembered = self.basic_remembered(name, password)
        if remembered is not None:
            return remembered
        user = self.store.user(name) if re.fullmatch(USER_NAME_PATTERN, name) else None
        key = (name, digest(password))
        now = self.now()
        keys = (f"address {address}", f"user {name}")
        wait = self.throttle.retry_after(keys)
        if wait > 0:
            raise LoginThrottled(wait)
        if not verify_password(user.password_hash if user else None, password) or user is None:
            self.throttle.failed(keys)
            _log.warning("[E611] Basic login failed for user %r from %s", name[:64], address)
            return None
        if len(self._basic) > 1000:
            self._basic.clear()
        self._basic[key] = (user.password_hash, now + BASIC_TTL)
        return _principal(user, Via.BASIC)

    def redeem(self, secret: str, address: str) -> Login | None:
        """A one-time login link: its token becomes a session, and is gone."""
        row = self.store.token(secret)
        if row is None or not row.login_link:
            return None
        self.store.revoke_token(row.id)
        user = self.store.user(row.user)
        if user is None:
            return None
        self.audit("login", user.name, address, ok=True, detail="one-time link")
        return self._start_session(user)

    def logout(self, principal: Principal) -> None:
        if principal.session is not None:
            self.store.end_session(principal.session)

    # users
    def add_user(self, name: str, role: UserRole, cameras: Sequence[str], password: str) -> UserRow:
        check_user_fields(name, cameras, password)
        if self.store.user(name) is not None:
            raise RequestError(f"user {name!r} already exists", code="E619")
        row = UserRow(name, role, tuple(cameras), hash_password(password), self.now())
        self.store.add_user(row)
        return row

    def set_password(self, name: str, password: str) -> None:
        """A new password ends every session of the user."""
        check_password(password)
        if not self.store.update_user(name, password_hash=hash_password(password)):
            raise RequestError(f"no user {name!r}", code="E604")
        self.store.end_sessions(name)

    def change_user(
        self, name: str, role: UserRole | None = None, cameras: Sequence[str] | None = None
    ) -> UserRow:
        fields: dict[str, object] = {}
        if role is not None:
            fields["role"] = role
        if cameras is not None:
            check_cameras(cameras)
            fields["cameras"] = tuple(cameras)
        if fields and not self.store.update_user(name, **fields):
            raise RequestError(f"no user {name!r}", code="E604")
        row = self.store.user(name)
        if row is None:
            raise RequestError(f"no user {name!r}", code="E604")
        return row

    def remove_user(self, name: str) -> None:
        if not self.store.remove_user(name):
            raise RequestError(f"no user {name!r}", code="E604")

    def first_start(self) -> tuple[str, str] | None:
        """With no user at all: ``admin`` with a random password, and a one-time login link's
        token. Both are shown once (stderr) and never stored in the clear."""
        if self.store.users():
            return None
        password = random_password()
        self.add_user("admin", UserRole.ADMIN, [ALL_CAMERAS], password)
        _, link = self.create_token("first login", "admin", login_link=True)
        self.audit("user-add", None, None, ok=True, target="admin", detail="first start")
        return password, link

    # tokens
    def create_token(self, name: str, user: str, login_link: bool = False) -> tuple[int, str]:
        """A token for `user`: the secret is returned once, only its hash is kept."""
        if not name or len(name) > 64 or _CONTROL.search(name):
            raise RequestError(
                "bad token name",
                code="E602",
                errors=[FieldError("name", "E103", "1 to 64 printable characters")],
            )
        if self.store.user(user) is None:
            raise RequestError(f"no user {user!r}", code="E604")
        secret = "vgl_" + secrets.token_urlsafe(32)
        return self.store.add_token(secret, name, user, self.now(), login_link), secret

    def tokens(self, user: str | None = None) -> list[TokenRow]:
        return self.store.tokens(user)

    # the audit log
    def audit(
        self,
        action: str,
        user: str | None,
        address: str | None,
        *,
        ok: bool = True,
        target: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.store.record(
            at=self.now(),
            user=user,
            address=address,
            action=action,
            target=target[:128] if target else None,
            ok=ok,
            detail=detail[:512] if detail else None,
        )

    def audit_log(self, limit: int, before: int | None = None) -> list[AuditRow]:
        return self.store.audit(limit, before)

    def prune(self) -> None:
        """Expired sessions and audit entries older than ``auth.audit_days``."""
        now = self.now()
        self.store.prune_sessions(now - self.settings.idle_seconds, now - self.settings.max_seconds)
        self.store.prune_audit(now - self.settings.audit_days * 86400.0)


def _principal(row: UserRow, via: Via, session: str | None = None) -> Principal:
    return Principal(row.name, row.role, row.cameras, via, session)


def check_user_fields(name: str, cameras: Sequence[str], password: str) -> None:
    if not re.fullmatch(USER_NAME_PATTERN, name):
        raise RequestError(
            "bad user name",
            code="E602",
            errors=[FieldError("name", "E103", "letters, digits and _.@-, at most 64")],
        )
    check_cameras(cameras)
    check_password(password)


def check_cameras(cameras: Sequence[str]) -> None:
    bad = [c for c in cameras if c != ALL_CAMERAS and not re.fullmatch(CAMERA_NAME_PATTERN, c)]
    if bad or not cameras:
        raise RequestError(
            "bad camera list",
            code="E602",
            errors=[FieldError("cameras", "E114", 'camera names, or ["*"] for all')],
        )


def check_password(password: str) -> None:
    if len(password) < MIN_LENGTH or len(password) > 1024 or _CONTROL.search(password):
        raise RequestError(
            "bad password",
            code="E602",
            errors=[
                FieldError(
                    "password",
                    "E116" if _CONTROL.search(password) else "E103",
                    f"{MIN_LENGTH} to 1024 characters, no control characters",
                )
            ],
        )
