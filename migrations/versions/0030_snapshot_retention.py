"""Raw metric snapshots kept for a number of months: the owner's function that drops the
monthly partitions wholly before a cutoff (the rollups are other tables and stay). And the
index reports read a brand's comments of a period through (``inbox_messages``).

``metric_snapshot_drop_before(cutoff)`` runs with the owner's rights (the app role owns no
table); it refuses a cutoff less than two months back, so the app role can never drop the
months that pulls still write to (a post's last pull falls 30 days after publishing).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-04 04:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROP_BEFORE = """
CREATE FUNCTION metric_snapshot_drop_before(cutoff date) RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    first date := date_trunc('month', cutoff)::date;
    part record;
BEGIN
    IF first > date_trunc('month', now()) - interval '2 months' THEN
        RAISE EXCEPTION 'raw snapshots are kept at least two months (cutoff %)', cutoff;
    END IF;
    FOR part IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE i.inhparent = 'public.metric_snapshots'::regclass
          AND n.nspname = 'metric_partitions'
          AND c.relname ~ '^metric_snapshots_[0-9]{4}_[0-9]{2}$'
          AND to_date(substr(c.relname, 18), 'YYYY_MM') < first
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE metric_partitions.%I', part.relname);
        RETURN NEXT part.relname;
    END LOOP;
END
$$
"""


INDEX = "ix_inbox_messages_agency_brand_received"


def upgrade() -> None:
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.create_index(INDEX, ["agency_id", "brand_id", "received_at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP_BEFORE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION metric_snapshot_drop_before(date)")
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.drop_index(INDEX)
