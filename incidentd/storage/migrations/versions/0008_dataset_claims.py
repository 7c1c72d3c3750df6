"""A dataset belongs to at most one product, hence one space (CONTRACT §5).

`dataset_claims` holds one row per claimed dataset, kept in step with `products.datasets` by a
trigger; its primary key refuses a second claim however it arrives (file import, the catalog
API, OpenLineage). Existing double claims are resolved as reads resolved them until now: the
product that sorts first by (space, id) keeps the dataset, the others lose it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_SYNC = """
CREATE FUNCTION sync_dataset_claims() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM dataset_claims
         WHERE space = OLD.space AND product_id = OLD.id AND NOT (dataset = ANY (NEW.datasets));
    END IF;
    INSERT INTO dataset_claims (dataset, space, product_id)
    SELECT DISTINCT d, NEW.space, NEW.id FROM unnest(NEW.datasets) AS d
     WHERE NOT EXISTS (
        SELECT 1 FROM dataset_claims c
         WHERE c.dataset = d AND c.space = NEW.space AND c.product_id = NEW.id);
    RETURN NEW;
END $$
"""
_DEDUPE = """
WITH claims AS (
    SELECT p.space, p.id, d,
           row_number() OVER (PARTITION BY d ORDER BY p.space, p.id) AS rank
      FROM products p, unnest(p.datasets) AS d
)
UPDATE products p SET datasets = array(
    SELECT x FROM unnest(p.datasets) AS x
     WHERE NOT EXISTS (
        SELECT 1 FROM claims c
         WHERE c.space = p.space AND c.id = p.id AND c.d = x AND c.rank > 1))
 WHERE EXISTS (SELECT 1 FROM claims c WHERE c.space = p.space AND c.id = p.id AND c.rank > 1)
"""


def upgrade() -> None:
    """The claims table, its trigger, and the claims of the products there are."""
    op.create_table(
        "dataset_claims",
        sa.Column("dataset", sa.Text(), primary_key=True),
        sa.Column("space", sa.Text(), nullable=False),
        sa.Column("product_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["space", "product_id"],
            ["products.space", "products.id"],
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )
    op.execute(_DEDUPE)
    op.execute(
        "INSERT INTO dataset_claims (dataset, space, product_id) "
        "SELECT DISTINCT d, p.space, p.id FROM products p, unnest(p.datasets) AS d"
    )
    op.execute(_SYNC)
    op.execute(
        "CREATE TRIGGER products_dataset_claims AFTER INSERT OR UPDATE OF datasets ON products "
        "FOR EACH ROW EXECUTE FUNCTION sync_dataset_claims()"
    )


def downgrade() -> None:
    """Drop the trigger, its function and the table."""
    op.execute("DROP TRIGGER products_dataset_claims ON products")
    op.execute("DROP FUNCTION sync_dataset_claims()")
    op.drop_table("dataset_claims")
