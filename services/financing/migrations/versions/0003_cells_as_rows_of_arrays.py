"""financing: fin_cells as one row per clinic and bucket holding every cell (people integer[])

A clinic's figures read about 20 rows instead of about 1,000 (one heap page each), which is what
the clinic query's latency depended on once the nation's calendars outgrow PostgreSQL's buffers.

Revision ID: 0003
"""
from services.common.migrations import execute_script

CELLS = 88  # age bands x 8 (sex, activity, insurance) when this ran

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# 0001 (its SQL as it was when migrations became a fixed history) has the array layout: only a
# database made before this change has a `cell` column to fold away.
UPGRADE = f"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'fin_cells' AND column_name = 'cell')
    THEN
        CREATE TABLE fin_cells_by_bucket (
            clinic_no integer   NOT NULL,
            grain     smallint  NOT NULL,
            bucket    date      NOT NULL,
            people    integer[] NOT NULL,
            PRIMARY KEY (clinic_no, grain, bucket)
        ) WITH (fillfactor = 80);
        INSERT INTO fin_cells_by_bucket (clinic_no, grain, bucket, people)
        SELECT k.clinic_no, k.grain, k.bucket,
               ARRAY(SELECT coalesce(c.people, 0) FROM generate_series(0, {CELLS - 1}) AS s(cell)
                     LEFT JOIN fin_cells c ON (c.clinic_no, c.grain, c.bucket, c.cell) = (k.clinic_no, k.grain, k.bucket, s.cell)
                     ORDER BY s.cell)
        FROM (SELECT DISTINCT clinic_no, grain, bucket FROM fin_cells) k;
        DROP TABLE fin_cells;
        ALTER TABLE fin_cells_by_bucket RENAME TO fin_cells;
        ALTER INDEX fin_cells_by_bucket_pkey RENAME TO fin_cells_pkey;
    END IF;
END $$;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
