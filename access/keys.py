"""API keys: each maps to an identity and roles; only a SHA-256 of its secret part is stored.

A key reads ``tfk_<key id>_<secret>``: the id finds the row, the secret's hash is compared in constant time.
The secret is 32 random bytes, so a plain SHA-256 is enough (a slow hash such as scrypt protects guessable
passwords; nobody can guess 256 random bits) and keeps authentication cheap on every request.

Verified keys are cached in the process for ``TRADEFLOW_KEY_CACHE_S`` seconds, so a revoked key stops
working everywhere within that time (the database is the truth every replica reads).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from access.db import AccessDB
from access.errors import AccessDenied, UnknownKeyError
from access.roles import ROLES, Caller, parse_roles

PREFIX = "tfk_"


@dataclass(frozen=True)
class KeyInfo:
    """One stored key, without its secret."""

    key_id: str
    identity: str
    roles: tuple[str, ...]
    created_at: str
    created_by: str
    revoked_at: str | None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {**self.__dict__, "roles": list(self.roles)}


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(presented: str) -> tuple[str, str] | None:
    if not presented.startswith(PREFIX):
        return None
    key_id, sep, secret = presented[len(PREFIX) :].partition("_")
    return (key_id, secret) if sep and key_id and secret else None


def _text_time(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


class KeyStore:
    """Add, list, revoke and verify API keys."""

    def __init__(self, db: AccessDB, cache_s: float = 5.0) -> None:
        self.db = db
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, str, Caller | None]] = {}
        self._any: tuple[float, bool] | None = None
        self._lock = threading.Lock()

    def add(self, identity: str, roles: list[str] | tuple[str, ...], *, created_by: str) -> tuple[KeyInfo, str]:
        """Store a new key; returns its info and the key itself (shown once, never stored)."""
        identity = identity.strip()
        if not identity or len(identity) > 200 or any(c.isspace() for c in identity):
            raise AccessDenied(f"identity: expected a name without spaces, got {identity!r}", 422, "identity")
        checked = parse_roles(roles)
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self.db.cursor() as cur:
            cur.execute(
                self.db.sql("INSERT INTO tradeflow_api_keys (key_id, identity, roles, key_hash, created_at, created_by)"
                            " VALUES (?, ?, ?, ?, ?, ?)"),
                (key_id, identity, ",".join(checked), _hash(secret), now.isoformat(), created_by),
            )  # fmt: skip
        self._forget()
        info = KeyInfo(key_id, identity, checked, now.isoformat(), created_by, None)
        return info, f"{PREFIX}{key_id}_{secret}"

    def list(self, *, include_revoked: bool = False) -> list[KeyInfo]:
        """Stored keys, oldest first."""
        query = "SELECT key_id, identity, roles, created_at, created_by, revoked_at FROM tradeflow_api_keys"
        if not include_revoked:
            query += " WHERE revoked_at IS NULL"
        with self.db.cursor() as cur:
            cur.execute(query + " ORDER BY created_at, key_id")
            rows = cur.fetchall()
        return [
            KeyInfo(r[0], r[1], tuple(filter(None, r[2].split(","))), str(_text_time(r[3])), r[4], _text_time(r[5]))
            for r in rows
        ]

    def revoke(self, key_id: str) -> KeyInfo:
        """Revoke a key (kept, marked revoked); an unknown id is an error naming it."""
        key_id = key_id.removeprefix(PREFIX).split("_", 1)[0]
        with self.db.cursor() as cur:
            cur.execute(
                self.db.sql("UPDATE tradeflow_api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL"),
                (datetime.now(UTC).isoformat(), key_id),
            )
        self._forget()
        for info in self.list(include_revoked=True):
            if info.key_id == key_id:
                return info
        raise UnknownKeyError(f"no key with id {key_id!r}; `tradeflow keys list` shows them")

    def verify(self, presented: str) -> Caller | None:
        """The caller a presented key belongs to, or None when it is unknown, wrong or revoked."""
        parts = _split(presented)
        if parts is None:
            return None
        key_id, secret = parts
        digest = _hash(secret)
        now = time.monotonic()  # cache ages only; nothing here is stored
        cached = self._cache.get(key_id)
        if cached is None or now - cached[0] > self.cache_s:
            with self.db.cursor() as cur:
                cur.execute(
                    self.db.sql("SELECT identity, roles, key_hash FROM tradeflow_api_keys"
                                " WHERE key_id = ? AND revoked_at IS NULL"),
                    (key_id,),
                )  # fmt: skip
                row = cur.fetchone()
            caller = Caller(row[0], tuple(r for r in row[1].split(",") if r in ROLES)) if row else None
            cached = (now, row[2] if row else "", caller)
            with self._lock:
                self._cache[key_id] = cached
        _, stored, caller = cached
        if caller is None or not hmac.compare_digest(stored, digest):
            return None
        return caller

    def any_active(self) -> bool:
        """True when at least one key is stored and not revoked (then requests without a key are refused)."""
        now = time.monotonic()
        if self._any is None or now - self._any[0] > self.cache_s:
            with self.db.cursor() as cur:
                cur.execute("SELECT 1 FROM tradeflow_api_keys WHERE revoked_at IS NULL LIMIT 1")
                self._any = (now, cur.fetchone() is not None)
        return self._any[1]

    def _forget(self) -> None:
        with self._lock:
            self._cache.clear()
            self._any = None
