"""Notification channels: per-space subscriptions, deliveries in the outbox, channels told.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Subscriptions; outbox rows that belong to one; which channels told each incident."""
    op.create_table(
        "subscriptions",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "space", sa.Text(), sa.ForeignKey("spaces.slug", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("filter", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_subscriptions_space", "subscriptions", ["space"])
    fk = sa.ForeignKey("subscriptions.id", ondelete="CASCADE")
    op.add_column("outbox", sa.Column("subscription_id", UUID(as_uuid=True), fk, nullable=True))
    op.add_column("outbox", sa.Column("event_id", sa.Text(), nullable=True))
    op.add_column("outbox", sa.Column("event_type", sa.Text(), nullable=True))
    op.add_column("outbox", sa.Column("failed_at", TZ, nullable=True))
    # E-mails given up before this revision were left unsent without a retry time.
    op.execute(
        "UPDATE outbox SET failed_at = now() WHERE sent_at IS NULL AND channel <> 'kafka' "
        "AND attempts > 0 AND next_attempt_at IS NULL"
    )
    op.create_index(
        "ix_outbox_pending_order",
        "outbox",
        ["channel", "topic", "key", "id"],
        postgresql_where=sa.text("sent_at IS NULL AND failed_at IS NULL"),
    )
    op.create_index(
        "ix_outbox_subscription_event",
        "outbox",
        ["subscription_id", "event_id"],
        unique=True,
        postgresql_where=sa.text("subscription_id IS NOT NULL"),
    )
    op.create_table(
        "incident_channels",
        sa.Column(
            "incident_id",
            UUID(as_uuid=True),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("channel", sa.Text(), primary_key=True),
        sa.Column("first_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("last_at", TZ, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("incident_channels")
    op.drop_index("ix_outbox_subscription_event", table_name="outbox")
    op.drop_index("ix_outbox_pending_order", table_name="outbox")
    for column in ("failed_at", "event_type", "event_id", "subscription_id"):
        op.drop_column("outbox", column)
    op.drop_index("ix_subscriptions_space", table_name="subscriptions")
    op.drop_table("subscriptions")
