"""contributions: outbox

Revision ID: 0001
"""
from services.common.migrations import execute_script

from services.common.outbox import OUTBOX_DDL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(OUTBOX_DDL)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
