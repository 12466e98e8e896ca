"""financing: the text keys of people and visits compared byte by byte (COLLATE "C")

IINs and visit keys are identifiers, not words: the database's locale (C.UTF-8 here) compared them
through strcoll on every index probe. Byte order is also the order Python sorts them in, which is
the lock order of a batch. IINs are digits, so their order does not change.

Revision ID: 0004
"""
from services.common.migrations import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# 0001 (its SQL as it was when migrations became a fixed history) says COLLATE "C" already: only a
# database made before this change has the keys in the default collation.
UPGRADE = """
DO $$
DECLARE
    key record;
BEGIN
    FOR key IN SELECT c.table_name, c.column_name FROM information_schema.columns c
                WHERE c.table_schema = current_schema()
                  AND (c.table_name, c.column_name) IN (('fin_persons', 'iin'), ('fin_visits', 'clinic_id'),
                                                        ('fin_visits', 'visit_id'))
                  AND c.collation_name IS DISTINCT FROM 'C'
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I TYPE text COLLATE "C"', key.table_name, key.column_name);
    END LOOP;
END $$;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
