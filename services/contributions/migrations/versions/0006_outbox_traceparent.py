"""contributions: the outbox keeps the W3C traceparent of the request that wrote a row (tracing on; else NULL)

Revision ID: 0006
"""
from services.common.migrations import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE outbox ADD COLUMN traceparent text;")


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
