"""The auth tables, in the same database as the recordings index, and their queries.

Session and token secrets are never stored: a row holds the SHA-256 of its secret (the
secret is 256 random bits, so a fast hash is enough; passwords get argon2id).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine

from vigil.auth.principal import UserRole

metadata = MetaData()

users = Table(
    "auth_users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("cameras", String(4096), nullable=False),  # a JSON list: ["*"] or names
    Column("password_hash", String(256), nullable=False),
    Column("created", Float, nullable=False),
)

sessions = Table(
    "auth_sessions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("user", String(64), nullable=False, index=True),
    Column("created", Float, nullable=False),
    Column("seen", Float, nullable=False),
)

tokens = Table(
    "auth_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("name", String(64), nullable=False),
    Column("user", String(64), nullable=False, index=True),
    Column("login_link", Boolean, nullable=False, default=False),  # single use, into a session
    Column("created", Float, nullable=False),
    Column("last_used", Float, nullable=True),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),  # Unix time
    Column("user", String(64), nullable=True),
    Column("address", String(64), nullable=True),
    Column("action", String(32), nullable=False),
    Column("target", String(128), nullable=True),
    Column("ok", Boolean, nullable=False),
    Column("detail", String(512), nullable=True),
)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class UserRow:
    name: str
    role: UserRole
    cameras: tuple[str, ...]
    password_hash: str
    created: float


@dataclass(frozen=True, slots=True)
class SessionRow:
    digest: str
    user: str
    created: float
    seen: float


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: int
    name: str
    user: str
    login_link: bool
    created: float
    last_used: float | None


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: float
    user: str | None
    address: str | None
    action: str
    target: str | None
    ok: bool
    detail: str | None


def _user(row: Any) -> UserRow:
    return UserRow(
        row.name, UserRole(row.role), tuple(json.loads(row.cameras)), row.password_hash, row.created
    )


class AuthStore:
    """Users, sessions, tokens and the audit log, on the index's engine."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._write = threading.Lock()
        with self._write, engine.begin() as conn:
            metadata.create_all(conn)
        self._watch: sqlite3.Connection | None = None
        database = engine.url.database
        if engine.dialect.name == "sqlite" and database and database != ":memory:":
            self._watch = sqlite3.connect(database, check_same_thread=False)
        self._watch_lock = threading.Lock()

    def data_version(self) -> int | None:
        """A number that changes whenever any connection (this process's others, a ``vigil
        user`` command's) commits to the database: SQLite's ``PRAGMA data_version``, a few
        microseconds. Rows read under one value are current while it stays. None where the
        database can't tell (then nothing may be remembered)."""
        if self._watch is None:
            return None
        with self._watch_lock:
            row = self._watch.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()

    # users
    def user(self, name: str) -> UserRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        return None if row is None else _user(row)

    def users(self) -> list[UserRow]:
        with self.engine.connect() as conn:
            return [_user(row) for row in conn.execute(select(users).order_by(users.c.name))]

    def add_user(self, row: UserRow) -> None:
        with self._write, self.engine.begin() as conn:
            conn.execute(
                insert(users).values(
                    name=row.name,
                    role=str(row.role),
                    cameras=json.dumps(list(row.cameras)),
                    password_hash=row.password_hash,
                    created=row.created,
                )
            )

    def update_user(self, name: str, **fields: Any) -> bool:
        """Change a user's role, cameras or password hash; True if there was such a user."""
        if "cameras" in fields:
            fields["cameras"] = json.dumps(list(fields["cameras"]))
        if "role" in fields:
            fields["role"] = str(fields["role"])
        with self._write, self.engine.begin() as conn:
            done = conn.execute(update(users).where(users.c.name == name).values(**fields))
            return bool(done.rowcount)

    def remove_user(self, name: str) -> bool:
        """The user and everything that lets it in: its sessions and tokens."""
        with self._write, self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.user == name))
            conn.execute(delete(tokens).where(tokens.c.user == name))
            return bool(conn.execute(delete(users).where(users.c.name == name)).rowcount)

    # sessions
    def add_session(self, secret: str, user: str, now: float) -> None:
        with self._write, self.engine.begin() as conn:
            conn.execute(
                insert(sessions).values(digest=digest(secret), user=user, created=now, seen=now)
            )

    def session_by(self, key: str) -> SessionRow | None:
        """The session whose secret's digest is `key`."""
        with self.engine.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.digest == key)).first()
        return None if row is None else SessionRow(**row._mapping)

    def touch_session(self, key: str, now: float) -> None:
        with self._write, self.engine.begin() as conn:
            conn.execute(update(sessions).where(sessions.c.digest == key).values(seen=now))

    def end_session(self, key: str) -> None:
        with self._write, self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.digest == key))

    def end_sessions(self, user: str) -> None:
        with self._write, self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.user == user))

    def prune_sessions(self, idle_before: float, created_before: float) -> int:
        with self._write, self.engine.begin() as conn:
            gone = conn.execute(
                delete(sessions).where(
                    (sessions.c.seen < idle_before) | (sessions.c.created < created_before)
                )
            )
            return int(gone.rowcount)

    # tokens
    def add_token(self, secret: str, name: str, user: str, now: float, login_link: bool) -> int:
        with self._write, self.engine.begin() as conn:
            result = conn.execute(
                insert(tokens).values(
                    digest=digest(secret), name=name, user=user, login_link=login_link, created=now
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def token(self, secret: str) -> TokenRow | None:
        return self.token_by(digest(secret))

    def token_by(self, key: str) -> TokenRow | None:
        """The token whose secret's digest is `key`."""
        query = select(*(tokens.c[c] for c in TokenRow.__slots__)).where(tokens.c.digest == key)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else TokenRow(**row._mapping)

    def tokens(self, user: str | None = None) -> list[TokenRow]:
        query = select(*(tokens.c[c] for c in TokenRow.__slots__)).where(
            tokens.c.login_link.is_(False)
        )
        if user is not None:
            query = query.where(tokens.c.user == user)
        with self.engine.connect() as conn:
            return [TokenRow(**row._mapping) for row in conn.execute(query.order_by(tokens.c.id))]

    def token_by_id(self, token_id: int) -> TokenRow | None:
        query = select(*(tokens.c[c] for c in TokenRow.__slots__)).where(tokens.c.id == token_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else TokenRow(**row._mapping)

    def used_token(self, token_id: int, now: float) -> None:
        with self._write, self.engine.begin() as conn:
            conn.execute(update(tokens).where(tokens.c.id == token_id).values(last_used=now))

    def revoke_token(self, token_id: int) -> bool:
        with self._write, self.engine.begin() as conn:
            return bool(conn.execute(delete(tokens).where(tokens.c.id == token_id)).rowcount)

    # audit
    def record(self, **fields: Any) -> None:
        with self._write, self.engine.begin() as conn:
            conn.execute(insert(audit).values(**fields))

    def audit(self, limit: int, before: int | None = None) -> list[AuditRow]:
        """The newest entries first; `before` is the id to continue below (the cursor)."""
        query = select(audit).order_by(audit.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(audit.c.id < before)
        with self.engine.connect() as conn:
            return [AuditRow(**row._mapping) for row in conn.execute(query)]

    def prune_audit(self, before: float) -> int:
        with self._write, self.engine.begin() as conn:
            return int(conn.execute(delete(audit).where(audit.c.at < before)).rowcount)
