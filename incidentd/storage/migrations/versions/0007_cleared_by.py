"""Recoveries that clear an incident while another incident holds them.

One recovery clears its fingerprint in every open incident holding it (CONTRACT §6); it is
stored with one of them, and the others list it here.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Alert ids of the recoveries held elsewhere that cleared a fingerprint of the incident."""
    op.add_column(
        "incidents",
        sa.Column("cleared_by", ARRAY(sa.Text()), nullable=False, server_default="{}"),
    )


def downgrade() -> None:
    """Drop the column."""
    op.drop_column("incidents", "cleared_by")
