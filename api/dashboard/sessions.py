"""Dashboard sign-ins: an API key opens a server-side session; the browser holds only a random token.

The token goes in an HttpOnly, SameSite=Strict cookie; the database keeps its sha256, the key it was
opened with and its expiry. Every request reads the key's role, revocation and expiry through that
row, so revoking the key (API or CLI) ends its sessions at once, as does the key's expiry, and signing
out deletes the row. The CSRF
token of a session's forms is an HMAC of the session token: the server recomputes it, nothing more is
stored, and a page from another site cannot know it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.keys import Principal, verify_key
from api.tables import ApiKey, DashboardSession

# A working day: a manager signs in in the morning; a forgotten browser does not stay signed in.
SESSION_LIFETIME = timedelta(hours=10)


class SignInError(Exception):
    """A key that cannot open a dashboard session (unknown, revoked, or a service key)."""


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_token(token: str) -> str:
    """The CSRF token of the session whose cookie holds `token`."""
    return hmac.new(token.encode("utf-8"), b"kesheng-dashboard-csrf", hashlib.sha256).hexdigest()


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected, given or "")


def sign_in(session: Session, key: str, now: datetime) -> tuple[str, Principal, datetime]:
    """Open a session for `key`: (the cookie's token, who signed in, when it expires).

    SignInError for an invalid or revoked key, and for a service key (machines call the API; they have
    no business in the managers' pages)."""
    principal = verify_key(session, key.strip())
    if principal is None:
        raise SignInError("API 密钥无效或已吊销")
    if not principal.can("analyst"):
        raise SignInError("服务密钥（service）只能调用 API，不能登录看板；请使用分析员或管理员密钥")
    token = secrets.token_urlsafe(32)
    expires = now + SESSION_LIFETIME
    session.execute(delete(DashboardSession).where(DashboardSession.expires_at < now))
    session.add(
        DashboardSession(token_hash=_token_hash(token), key_id=principal.key_id, created_at=now, expires_at=expires)
    )
    session.flush()
    return token, principal, expires


def principal_of(session: Session, token: str, now: datetime) -> Principal | None:
    """Who holds the session of `token`, or None (no such session, expired, or its key revoked)."""
    if not token:
        return None
    row = session.execute(
        select(ApiKey)
        .join(DashboardSession, DashboardSession.key_id == ApiKey.id)
        .where(DashboardSession.token_hash == _token_hash(token), DashboardSession.expires_at > now)
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.role not in ("analyst", "admin"):
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None  # the key expired while signed in: its sessions end with it
    return Principal(row.id, row.name, row.role, row.expires_at)  # type: ignore[arg-type]


def sign_out(session: Session, token: str) -> None:
    session.execute(delete(DashboardSession).where(DashboardSession.token_hash == _token_hash(token)))
