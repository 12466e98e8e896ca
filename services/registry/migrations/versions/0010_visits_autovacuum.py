"""registry: the visits vacuumed every 20,000 inserts, whatever the table's size

The intake's volume check counts each practitioner's day on the visits' index;
an index entry on a page not yet marked all-visible costs a visit to the table. By default an
insert-only table is vacuumed once it grew by a fifth: at a region's size, hours of recent pages
unmarked, exactly the days the checks read.

Revision ID: 0010_visits_autovacuum
"""
from services.common.migrations import execute_script

revision = "0010_visits_autovacuum"
down_revision = "0009_integrity_flags"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
ALTER TABLE visits SET (autovacuum_vacuum_insert_threshold = 20000, autovacuum_vacuum_insert_scale_factor = 0);
""")


def downgrade() -> None:
    execute_script("""
ALTER TABLE visits RESET (autovacuum_vacuum_insert_threshold, autovacuum_vacuum_insert_scale_factor);
""")
