"""Recoveries stored without an incident, found by fingerprint when their failure arrives late.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A small partial index: only recoveries that no incident holds."""
    op.create_index(
        "ix_alerts_orphan_recoveries",
        "alerts",
        ["space", "fingerprint"],
        postgresql_where=sa.text("incident_id IS NULL AND status = 'resolved'"),
    )


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_alerts_orphan_recoveries", table_name="alerts")
