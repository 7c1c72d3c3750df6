"""API tokens that expire and can be revoked and listed; server-side UI sessions.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Token id, name, expiry and revocation; the `ui_sessions` table."""
    op.add_column("api_tokens", sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False))
    op.create_unique_constraint("uq_api_tokens_id", "api_tokens", ["id"])
    op.add_column("api_tokens", sa.Column("name", sa.Text(), nullable=True))
    op.add_column("api_tokens", sa.Column("expires_at", TZ, nullable=True))
    op.add_column("api_tokens", sa.Column("revoked_at", TZ, nullable=True))
    op.create_table(
        "ui_sessions",
        sa.Column("id_hash", sa.Text(), primary_key=True),
        sa.Column(
            "token_hash",
            sa.Text(),
            sa.ForeignKey("api_tokens.token_hash", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", TZ, nullable=False),
    )


def downgrade() -> None:
    """Drop sessions and the token columns."""
    op.drop_table("ui_sessions")
    op.drop_constraint("uq_api_tokens_id", "api_tokens")
    for column in ("revoked_at", "expires_at", "name", "id"):
        op.drop_column("api_tokens", column)
