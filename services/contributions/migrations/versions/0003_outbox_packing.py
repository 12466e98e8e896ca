"""contributions: packed outbox rows (a call's many events of one topic in one row; OUTBOX_PACKING_DDL)

Revision ID: 0003
"""
from services.common.migrations import execute_script
from services.common.outbox import OUTBOX_PACKING_DDL

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(OUTBOX_PACKING_DDL)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
