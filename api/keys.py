"""API keys: generated once, shown once, stored as a sha256 hash and found by a public prefix.

A key is ``ks_<prefix>_<secret>``: the prefix (8 hex characters) selects the row, the sha256 of the
whole key must match. Keys are 160+ bits of randomness, so a plain sha256 suffices (no slow hash
needed: nobody can guess one), and comparing with hmac.compare_digest keeps the check constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.tables import ApiKey

Role = Literal["service", "analyst", "admin"]
ROLES: tuple[Role, ...] = ("service", "analyst", "admin")
# Each role can do what the ones before it can: service scores texts, analyst also uploads and reads,
# admin also manages keys (and, with the model registry, models).
RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}
KEY_PREFIX = "ks_"
# The length of api_keys.name: PostgreSQL refuses a longer value where SQLite would keep it.
MAX_NAME = 100


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name and role (never the key itself)."""

    key_id: int
    name: str
    role: Role

    def can(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def split_key(key: str) -> str | None:
    """The lookup prefix of a well-formed key, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = key[len(KEY_PREFIX) :].partition("_")
    if not sep or len(prefix) != 8 or len(secret) < 20:
        return None
    return prefix


def create_key(session: Session, role: Role, name: str = "") -> tuple[ApiKey, str]:
    """Store a new key of `role`; returns the row and the key itself (to be shown once, never stored)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    if len(name) > MAX_NAME or "\x00" in name:
        raise ValueError(f"key name: at most {MAX_NAME} characters and no NUL ({len(name)} given)")
    while True:
        prefix = secrets.token_hex(4)
        if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            break
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"
    row = ApiKey(prefix=prefix, hash=hash_key(key), role=role, name=name, created_at=datetime.now(UTC))
    session.add(row)
    session.flush()
    return row, key


def verify_key(session: Session, key: str) -> Principal | None:
    """The principal of a valid, unrevoked key, else None."""
    prefix = split_key(key)
    if prefix is None:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.hash, hash_key(key)):
        return None
    return Principal(row.id, row.name, row.role)  # type: ignore[arg-type]


class KeyCache:
    """Verified keys for a few seconds, so a real-time request does not wait on the database.

    Keyed by the key's hash (the key itself is never held). A revocation through the API clears the
    cache at once; one made elsewhere (the CLI) takes effect within `ttl` seconds.
    """

    def __init__(self, ttl: float = 30.0, size: int = 4096) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[Principal | None, float]] = {}

    def get(self, key: str, now: float) -> tuple[bool, Principal | None]:
        entry = self._entries.get(hash_key(key))
        if entry is None or entry[1] < now:
            return False, None
        return True, entry[0]

    def put(self, key: str, principal: Principal | None, now: float) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[hash_key(key)] = (principal, now + self.ttl)

    def clear(self) -> None:
        self._entries.clear()
