"""registry: the outbox keeps the W3C traceparent of the request that wrote a row (tracing on; else NULL)

Revision ID: t027 (a name of its own: other migrations written at the same time take the next numbers)
"""
from services.common.migrations import execute_script

revision = "t027"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE outbox ADD COLUMN traceparent text;")


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
