"""contributions: packed outbox rows (a call's many events of one topic in one row; OUTBOX_PACKING_DDL)

Revision ID: 0003
"""
from services.common.migrations import execute_script

OUTBOX_PACKING_DDL = """
ALTER TABLE outbox
    ADD COLUMN events integer,
    ALTER COLUMN key DROP NOT NULL,
    ALTER COLUMN event_id DROP NOT NULL,
    ALTER COLUMN payload SET COMPRESSION lz4,
    ADD CONSTRAINT outbox_one_event_or_packed
        CHECK (CASE WHEN events IS NULL THEN key IS NOT NULL AND event_id IS NOT NULL ELSE events > 0 END);
"""

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(OUTBOX_PACKING_DDL)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
