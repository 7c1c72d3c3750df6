"""Per-space incident numbers; products' project and connections.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from incidentd.lineage.connections import connections_of

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TEXTS = pg.ARRAY(sa.Text())
EMPTY = sa.text("'{}'")


def upgrade() -> None:
    """Number existing incidents in creation order; derive existing products' connections."""
    op.add_column(
        "spaces",
        sa.Column("last_incident_number", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.add_column("incidents", sa.Column("number", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE incidents AS i SET number = n.number FROM ("
        "  SELECT id, row_number() OVER (PARTITION BY space ORDER BY created_at, id) AS number"
        "  FROM incidents) AS n WHERE n.id = i.id"
    )
    op.execute(
        "UPDATE spaces AS s SET last_incident_number = m.number FROM ("
        "  SELECT space, max(number) AS number FROM incidents GROUP BY space) AS m "
        "WHERE m.space = s.slug"
    )
    op.alter_column("incidents", "number", nullable=False)
    op.create_unique_constraint("uq_incidents_space_number", "incidents", ["space", "number"])
    op.add_column(
        "products", sa.Column("project_id", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "products", sa.Column("connection_ids", TEXTS, nullable=False, server_default=EMPTY)
    )
    op.add_column(
        "products", sa.Column("connection_types", TEXTS, nullable=False, server_default=EMPTY)
    )
    _derive_connections()


def _derive_connections() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT space, id, datasets FROM products WHERE datasets <> '{}'"))
    for space, product, datasets in rows.fetchall():
        ids, types = connections_of(datasets)
        bind.execute(
            sa.text(
                "UPDATE products SET connection_ids = :ids, connection_types = :types "
                "WHERE space = :s AND id = :p"
            ),
            {"ids": list(ids), "types": list(types), "s": space, "p": product},
        )


def downgrade() -> None:
    """Drop the numbers, projects and connections."""
    op.drop_column("products", "connection_types")
    op.drop_column("products", "connection_ids")
    op.drop_column("products", "project_id")
    op.drop_constraint("uq_incidents_space_number", "incidents", type_="unique")
    op.drop_column("incidents", "number")
    op.drop_column("spaces", "last_incident_number")
