"""API keys: generated once, shown once, stored as a sha256 hash and found by a public prefix.

A key is ``ks_<prefix>_<secret>``: the prefix (8 hex characters) selects the row, the sha256 of the
whole key must match. Keys are 160+ bits of randomness, so a plain sha256 suffices (no slow hash
needed: nobody can guess one), and comparing with hmac.compare_digest keeps the check constant-time.
A key may expire (`expires_at`); creating and revoking one is written to the audit log (api.audit).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit import record
from api.tables import ApiKey

Role = Literal["service", "analyst", "admin"]
ROLES: tuple[Role, ...] = ("service", "analyst", "admin")
# Each role can do what the ones before it can: service scores texts, analyst also uploads and reads,
# admin also manages keys (and, with the model registry, models).
RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}
KEY_PREFIX = "ks_"
# The length of api_keys.name: PostgreSQL refuses a longer value where SQLite would keep it.
MAX_NAME = 100
# Further ahead than this is no expiry at all; leave it out instead (and years past 9999 cannot be stored).
MAX_LIFETIME = timedelta(days=3660)
_DURATION = re.compile(r"\s*([0-9]+)\s*([smhdw])\s*")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class KeyExpiryError(ValueError):
    """An expiry that is not a time ahead (in the past, too far, not readable)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name and role (never the key itself)."""

    key_id: int
    name: str
    role: Role
    expires_at: datetime | None = None

    def can(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def duration(text: str) -> timedelta:
    """A lifetime written as a number and a unit: 30d, 12h, 90m, 2w, 3600s (KeyExpiryError otherwise)."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise KeyExpiryError(f"{text!r}: expected a number and a unit, e.g. 30d, 12h, 90m, 2w")
    amount, unit = int(match.group(1)), match.group(2)
    if amount == 0:
        raise KeyExpiryError(f"{text!r}: a key's lifetime must be more than zero")
    try:
        lifetime = timedelta(**{_UNITS[unit]: amount})
    except OverflowError:
        lifetime = timedelta.max
    if lifetime > MAX_LIFETIME:
        raise KeyExpiryError(f"{text!r}: longer than {MAX_LIFETIME.days} days; leave the expiry out")
    return lifetime


def checked_expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    """`expires_at` in UTC (without a zone: UTC) when it is ahead of `now` and within MAX_LIFETIME."""
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    if expires_at - now > MAX_LIFETIME:
        raise KeyExpiryError(
            f"expires_at {expires_at.isoformat()}: more than {MAX_LIFETIME.days} days ahead; "
            "leave it out for a key that does not expire"
        )
    if expires_at <= now:
        raise KeyExpiryError(f"expires_at {expires_at.isoformat()}: in the past; give a time ahead")
    return expires_at.astimezone(UTC)


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


def create_key(
    session: Session,
    role: Role,
    name: str = "",
    expires_at: datetime | None = None,
    created_by: int | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key of `role` (expiring at `expires_at`, a time ahead; None: never) and its audit
    entry (`created_by`: the admin key's id; None: the CLI). Returns the row and the key itself (to be
    shown once, never stored). ValueError (KeyExpiryError) for a bad role, name or expiry."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    if len(name) > MAX_NAME or "\x00" in name:
        raise ValueError(f"key name: at most {MAX_NAME} characters and no NUL ({len(name)} given)")
    now = datetime.now(UTC)
    expires_at = checked_expiry(expires_at, now)
    while True:
        prefix = secrets.token_hex(4)
        if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            break
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"
    row = ApiKey(prefix=prefix, hash=hash_key(key), role=role, name=name, created_at=now, expires_at=expires_at)
    session.add(row)
    session.flush()
    # The name is the admin's label and may be a person's: not in the log (the key list shows it).
    detail = {"role": role, "expires_at": expires_at.isoformat() if expires_at else None}
    record(session, created_by, "key.create", f"key:{row.id}", detail, at=now)
    return row, key


def revoke_key(session: Session, row: ApiKey, revoked_by: int | None = None) -> bool:
    """Revoke the key of `row` now, with its audit entry (`revoked_by`: the admin key's id; None: the
    CLI). False, and nothing written, when it was revoked already."""
    if row.revoked_at is not None:
        return False
    row.revoked_at = datetime.now(UTC)
    record(session, revoked_by, "key.revoke", f"key:{row.id}", {"role": row.role}, at=row.revoked_at)
    return True


def find_key(session: Session, key: str) -> Principal | None:
    """The principal of a well-formed, unrevoked key whose hash matches, expired or not; else None."""
    prefix = split_key(key)
    if prefix is None:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.hash, hash_key(key)):
        return None
    return Principal(row.id, row.name, row.role, row.expires_at)  # type: ignore[arg-type]


def verify_key(session: Session, key: str, now: datetime | None = None) -> Principal | None:
    """The principal of a valid key: unrevoked and not expired at `now` (default: now); else None."""
    principal = find_key(session, key)
    if principal is None or principal.expired(now or datetime.now(UTC)):
        return None
    return principal


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
