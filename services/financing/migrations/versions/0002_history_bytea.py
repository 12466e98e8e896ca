"""financing: a person's history as JSON bytes (bytea) instead of jsonb

Only the consumer reads it; the server no longer parses and re-serialises it on every batch.

Revision ID: 0002
"""
from services.common.migrations import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# 0001 (its SQL as it was when migrations became a fixed history) says bytea: only a database made
# before this change holds jsonb.
UPGRADE = """
DO $$
BEGIN
    IF (SELECT data_type FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = 'fin_persons' AND column_name = 'history') = 'jsonb'
    THEN
        ALTER TABLE fin_persons ALTER COLUMN history TYPE bytea USING convert_to(history::text, 'UTF8');
    END IF;
END $$;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
