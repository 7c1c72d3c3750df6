"""The life of API tokens (issue, list, revoke; expiry) and of the web UI's sessions.

A token is stored only as its SHA-256 hash, with an id to name it by, an optional name, an
expiry (none: it never expires) and the time it was revoked. A UI session is a random id in an
HttpOnly cookie, stored as its hash and tied to the token it was opened with: it ends when it
expires, when the user signs out, or when that token expires or is revoked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, text

from incidentd.storage.users import VALID, Principal, hash_token, issue_token, principal_of

SESSION_PREFIX = "ids_"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never the token itself."""

    id: int
    email: str
    name: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def state(self) -> Literal["active", "expired", "revoked"]:
        """`active`, `expired` or `revoked`."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= datetime.now(self.expires_at.tzinfo):
            return "expired"
        return "active"


def issue_for(
    conn: Connection, email: str, *, name: str | None = None, days: float | None = None
) -> tuple[int, str]:
    """`issue_token` for the user with this e-mail (ValueError when there is none)."""
    user_id = conn.execute(
        text("SELECT id FROM users WHERE email = :e"), {"e": email.strip().lower()}
    ).scalar()
    if user_id is None:
        raise ValueError(f"no user {email!r}; create one with 'incidentd users create'")
    return issue_token(conn, int(user_id), name=name, days=days)


def list_tokens(
    conn: Connection, *, email: str | None = None, space: str | None = None
) -> list[TokenInfo]:
    """Tokens by id, of one user and/or of the members of one space."""
    rows = conn.execute(
        text(
            "SELECT t.id, u.email, t.name, t.created_at, t.expires_at, t.last_used_at, "
            "t.revoked_at FROM api_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE (CAST(:e AS text) IS NULL OR u.email = :e) AND (CAST(:s AS text) IS NULL "
            "OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.space = :s)) "
            "ORDER BY t.id"
        ),
        {"e": email.strip().lower() if email else None, "s": space},
    )
    return [TokenInfo(*row) for row in rows]


def revoke_token(conn: Connection, token_id: int, *, space: str | None = None) -> bool:
    """Revoke a token (of a member of `space`, when given); False when there is no such one."""
    row = conn.execute(
        text(
            "UPDATE api_tokens t SET revoked_at = coalesce(t.revoked_at, now()) "
            "WHERE t.id = :i AND (CAST(:s AS text) IS NULL OR EXISTS ("
            "SELECT 1 FROM memberships m WHERE m.user_id = t.user_id AND m.space = :s)) "
            "RETURNING 1"
        ),
        {"i": token_id, "s": space},
    ).first()
    return row is not None


def open_session(conn: Connection, token: str, seconds: int) -> str | None:
    """A new session for a usable token, at most `seconds` long and never past the token."""
    session = SESSION_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        text(
            "INSERT INTO ui_sessions (id_hash, token_hash, expires_at) "
            "SELECT :sh, t.token_hash, least(now() + make_interval(secs => :secs), "
            f"coalesce(t.expires_at, 'infinity')) FROM api_tokens t WHERE t.token_hash = :th "
            f"AND {VALID} RETURNING 1"
        ),
        {"sh": hash_token(session), "th": hash_token(token), "secs": seconds},
    ).first()
    return None if row is None else session


def session_principal(conn: Connection, session: str) -> Principal | None:
    """The user of a live session (its token still usable), or None."""
    user_id = conn.execute(
        text(
            "SELECT t.user_id FROM ui_sessions s JOIN api_tokens t ON t.token_hash = s.token_hash "
            f"WHERE s.id_hash = :h AND s.expires_at > now() AND {VALID}"
        ),
        {"h": hash_token(session)},
    ).scalar()
    return None if user_id is None else principal_of(conn, int(user_id))


def close_session(conn: Connection, session: str) -> None:
    """End a session (sign-out); expired sessions of anyone are swept at the same time."""
    conn.execute(
        text("DELETE FROM ui_sessions WHERE id_hash = :h OR expires_at < now() - interval '1 day'"),
        {"h": hash_token(session)},
    )
