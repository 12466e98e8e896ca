"""financing: consumer offsets, dead letters and the projection (people, visits, clinic calendars)

Revision ID: 0001
"""
from services.common.consumer import CONSUMER_DDL
from services.common.migrations import execute_script
from services.financing.store import PROJECTION_DDL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(CONSUMER_DDL)
    execute_script(PROJECTION_DDL)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
