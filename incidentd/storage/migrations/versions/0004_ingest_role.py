"""The `ingest` role: a token that may only post alerts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Allow `ingest` in memberships."""
    op.drop_constraint("ck_memberships_role", "memberships", type_="check")
    op.create_check_constraint(
        "ck_memberships_role", "memberships", "role IN ('viewer', 'editor', 'admin', 'ingest')"
    )


def downgrade() -> None:
    """Forget `ingest` memberships, then the role."""
    op.execute("DELETE FROM memberships WHERE role = 'ingest'")
    op.drop_constraint("ck_memberships_role", "memberships", type_="check")
    op.create_check_constraint(
        "ck_memberships_role", "memberships", "role IN ('viewer', 'editor', 'admin')"
    )
