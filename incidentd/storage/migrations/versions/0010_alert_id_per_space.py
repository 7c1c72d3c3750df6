"""An alert id is unique within its space, not over all spaces (CONTRACT §2 idempotency key).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Replace the global unique alert id by (space, alert_id); its index serves lookups."""
    op.create_unique_constraint("uq_alerts_space_alert_id", "alerts", ["space", "alert_id"])
    op.drop_constraint("alerts_alert_id_key", "alerts", type_="unique")


def downgrade() -> None:
    """Back to one alert id over all spaces (fails if two spaces share an id)."""
    op.create_unique_constraint("alerts_alert_id_key", "alerts", ["alert_id"])
    op.drop_constraint("uq_alerts_space_alert_id", "alerts", type_="unique")
