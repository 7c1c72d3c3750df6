"""Initial schema: spaces, lineage, alerts, incidents, history and outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
TEXTS = pg.ARRAY(sa.Text())
EMPTY = sa.text("'{}'")
NOW = sa.text("now()")


def upgrade() -> None:
    """Create every table and index."""
    op.create_table(
        "spaces",
        sa.Column("slug", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("features", TEXTS, nullable=False, server_default=EMPTY),
        sa.Column(
            "correlation_window_seconds", sa.Integer(), nullable=False, server_default="21600"
        ),
        sa.Column("auto_resolve", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("lineage_version", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("state_seq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_at", TZ, nullable=False, server_default=NOW),
    )
    op.create_table(
        "products",
        sa.Column("space", sa.Text(), primary_key=True),
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("owners", TEXTS, nullable=False, server_default=EMPTY),
        sa.Column("stewards", TEXTS, nullable=False, server_default=EMPTY),
        sa.Column("tier", sa.Text(), nullable=True),
        sa.Column("tags", TEXTS, nullable=False, server_default=EMPTY),
        sa.Column("datasets", TEXTS, nullable=False, server_default=EMPTY),
        sa.Column("updated_at", TZ, nullable=False, server_default=NOW),
    )
    op.create_index("ix_products_datasets", "products", ["datasets"], postgresql_using="gin")
    op.create_table(
        "edges",
        sa.Column("space", sa.Text(), primary_key=True),
        sa.Column("upstream", sa.Text(), primary_key=True),
        sa.Column("downstream", sa.Text(), primary_key=True),
        sa.Column("created_at", TZ, nullable=False, server_default=NOW),
    )
    _create_incidents()
    _create_alerts()
    _create_history_and_outbox()


def _create_incidents() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("space", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("severity_locked", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("impact", sa.Text(), nullable=False),
        sa.Column("root_cause", sa.Text(), nullable=True),
        sa.Column("root_product_id", sa.Text(), nullable=True),
        sa.Column("root_locked", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("blast_radius", TEXTS, nullable=False, server_default=EMPTY),
        sa.Column("products", TEXTS, nullable=False, server_default=EMPTY),
        sa.Column("suspected_upstream", TEXTS, nullable=False, server_default=EMPTY),
        sa.Column("tags", TEXTS, nullable=False, server_default=EMPTY),
        sa.Column("ticket_id", sa.Text(), nullable=True),
        sa.Column("merged_into", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("alert_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("state_seq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("resolved_at", TZ, nullable=True),
        sa.Column("cleared_at", TZ, nullable=True),
        sa.Column("first_alert_at", TZ, nullable=True),
        sa.Column("last_alert_at", TZ, nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'investigating', 'resolved')", name="ck_incidents_status"
        ),
        sa.CheckConstraint(
            "severity IN ('critical', 'high', 'medium', 'low', 'info')",
            name="ck_incidents_severity",
        ),
        sa.CheckConstraint("impact IN ('HIGH', 'MEDIUM', 'LOW')", name="ck_incidents_impact"),
        # A resolved incident, and only a resolved one, has a resolution time.
        sa.CheckConstraint(
            "(status = 'resolved') = (resolved_at IS NOT NULL)", name="ck_incidents_resolved_at"
        ),
        # An incident merged away is closed and never points at itself.
        sa.CheckConstraint(
            "merged_into IS NULL OR (status = 'resolved' AND merged_into <> id)",
            name="ck_incidents_merged_resolved",
        ),
    )
    op.create_index("ix_incidents_space_status", "incidents", ["space", "status"])
    op.create_index(
        "ix_incidents_open_window",
        "incidents",
        ["space", "last_alert_at"],
        postgresql_where=sa.text("status <> 'resolved'"),
    )
    op.create_index("ix_incidents_space_seq", "incidents", ["space", "state_seq"])


def _create_alerts() -> None:
    op.create_table(
        "alerts",
        sa.Column("pk", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.Text(), nullable=False, unique=True),
        sa.Column("space", sa.Text(), nullable=False),
        sa.Column("product_id", sa.Text(), nullable=False),
        sa.Column("alert_type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("occurred_at", TZ, nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("tags", TEXTS, nullable=False, server_default=EMPTY),
        sa.Column(
            "incident_id", pg.UUID(as_uuid=True), sa.ForeignKey("incidents.id"), nullable=True
        ),
        sa.Column("added_at", TZ, nullable=True),
        sa.Column("received_at", TZ, nullable=False, server_default=NOW),
        sa.Column("raw", pg.JSONB(), nullable=False),
        sa.CheckConstraint("status IN ('firing', 'resolved')", name="ck_alerts_status"),
        sa.CheckConstraint(
            "(incident_id IS NULL) = (added_at IS NULL)", name="ck_alerts_added_with_incident"
        ),
    )
    op.create_index("ix_alerts_incident", "alerts", ["incident_id"])
    op.create_index("ix_alerts_space_fingerprint", "alerts", ["space", "fingerprint"])
    op.create_index("ix_alerts_space_occurred", "alerts", ["space", "occurred_at"])


def _create_history_and_outbox() -> None:
    op.create_table(
        "incident_history",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column(
            "incident_id", pg.UUID(as_uuid=True), sa.ForeignKey("incidents.id"), nullable=False
        ),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("alert_ids", TEXTS, nullable=False, server_default=EMPTY),
        sa.Column("detail", pg.JSONB(), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_index("ix_history_incident", "incident_history", ["incident_id", "id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("incident_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("created_at", TZ, nullable=False, server_default=NOW),
        sa.Column("sent_at", TZ, nullable=True),
    )
    op.create_index(
        "ix_outbox_unsent", "outbox", ["id"], postgresql_where=sa.text("sent_at IS NULL")
    )


def downgrade() -> None:
    """Drop everything."""
    for table in ("outbox", "incident_history", "alerts", "incidents", "edges", "products"):
        op.drop_table(table)
    op.drop_table("spaces")
