"""financing: region-wide answers read their clinics' checkpoints and day rows in ranges, not a probe per
clinic: the checkpoints by day and by month, and the calendars' day rows by day (grain 2 only: the
region reads no other grain by bucket)

Each is read as one range of its index and joined by hash to the region's clinics
(services.financing.checkpoints). The calendars' new index is on columns a batch never changes, so the
batches' updates of a row's counts stay HOT; a batch's new day rows each add an entry.

Revision ID: 0009_region_reads
"""
from services.common.migrations import execute_script

revision = "0009_region_reads"
down_revision = "0008_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
CREATE INDEX fin_counts_days ON fin_counts (bucket, clinic_no) WHERE grain = 2;
CREATE INDEX fin_count_marks_days ON fin_count_marks (day, clinic_no);
CREATE INDEX fin_month_cells_months ON fin_month_cells (month, clinic_no);
""")


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
