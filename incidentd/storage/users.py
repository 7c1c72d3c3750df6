"""Users, their roles in spaces, and API tokens (stored only as SHA-256 hashes)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

INGEST_ROLE = "ingest"
ROLES = ("viewer", "editor", "admin", INGEST_ROLE)
"""`ingest` may only post alerts (to `/spaces/{slug}/alerts`); the others read, and
editors and admins change things."""
WRITER_ROLES = frozenset({"editor", "admin"})
"""Roles that change a space's incidents and catalog."""
TOKEN_PREFIX = "idt_"
VALID = "t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())"
"""SQL condition of a usable token `t`: neither revoked nor expired."""
_USE_EVERY_SECONDS = 60


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and their role in every space they belong to."""

    user_id: int
    email: str
    roles: dict[str, str]

    def readable_spaces(self) -> list[str]:
        """The spaces whose incidents the caller may read (an `ingest` role only posts alerts)."""
        return [space for space, role in self.roles.items() if role != INGEST_ROLE]

    def writes_somewhere(self) -> bool:
        """Whether the caller may change anything in any space."""
        return any(role in WRITER_ROLES for role in self.roles.values())


def create_user(
    conn: Connection, email: str, space: str, role: str, *, days: float | None = None
) -> str:
    """Create the user if new, set their role in `space`, and return a new API token.

    The token expires after `days` (None: never).
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    exists = conn.execute(text("SELECT 1 FROM spaces WHERE slug = :s"), {"s": space}).first()
    if exists is None:
        raise ValueError(
            f"space {space!r} does not exist; create it with 'incidentd spaces create'"
        )
    user_id = conn.execute(
        text(
            "INSERT INTO users (email) VALUES (:e) "
            "ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING id"
        ),
        {"e": email.strip().lower()},
    ).scalar_one()
    conn.execute(
        text(
            "INSERT INTO memberships (user_id, space, role) VALUES (:u, :s, :r) "
            "ON CONFLICT (user_id, space) DO UPDATE SET role = EXCLUDED.role"
        ),
        {"u": user_id, "s": space, "r": role},
    )
    return issue_token(conn, int(user_id), days=days)[1]


def issue_token(
    conn: Connection, user_id: int, *, name: str | None = None, days: float | None = None
) -> tuple[int, str]:
    """A new token of the user, valid for `days` (None: never expires); (id, token)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = conn.execute(
        text(
            "INSERT INTO api_tokens (token_hash, user_id, name, expires_at) VALUES "
            "(:h, :u, :n, CASE WHEN CAST(:d AS float) IS NULL THEN NULL "
            "ELSE now() + make_interval(secs => CAST(:d AS float) * 86400) END) RETURNING id"
        ),
        {"h": hash_token(token), "u": user_id, "n": name, "d": days},
    ).scalar_one()
    return int(token_id), token


def authenticate(conn: Connection, token: str) -> Principal | None:
    """The principal a bearer token belongs to, or None; records the token's use."""
    token_hash = hash_token(token)
    row = conn.execute(
        text("SELECT t.user_id FROM api_tokens t WHERE t.token_hash = :h AND " + VALID),
        {"h": token_hash},
    ).first()
    if row is None:
        return None
    _record_use(conn, token_hash)
    return principal_of(conn, int(row.user_id))


def principal_of(conn: Connection, user_id: int) -> Principal | None:
    """A user with their role in every space, or None when there is no such user."""
    email = conn.execute(text("SELECT email FROM users WHERE id = :u"), {"u": user_id}).scalar()
    if email is None:
        return None
    roles = {
        r.space: r.role
        for r in conn.execute(
            text("SELECT space, role FROM memberships WHERE user_id = :u"), {"u": user_id}
        )
    }
    return Principal(user_id, str(email), roles)


def authenticate_token(engine: Engine, token: str) -> Principal | None:
    """`authenticate` in a short transaction of its own, apart from the request's."""
    with engine.begin() as conn:
        return authenticate(conn, token)


def _record_use(conn: Connection, token_hash: str) -> None:
    """Set `last_used_at` at most once a minute, skipping a row another request is updating.

    A shared token (a dashboard, an OpenLineage client) is used by many requests at once; none
    of them may wait for another's row lock, and a minute is precise enough for "last used".
    """
    conn.execute(
        text(
            "UPDATE api_tokens SET last_used_at = now() WHERE token_hash = ("
            "SELECT token_hash FROM api_tokens WHERE token_hash = :h "
            "AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => :every)) "
            "FOR UPDATE SKIP LOCKED)"
        ),
        {"h": token_hash, "every": _USE_EVERY_SECONDS},
    )
