"""contributions: outbox

Revision ID: 0001
"""
from services.common.migrations import execute_script


OUTBOX_DDL = """
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    txid       xid8 NOT NULL DEFAULT pg_current_xact_id(),
    topic      text NOT NULL,
    key        text NOT NULL,
    event_id   uuid NOT NULL,
    payload    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_publish_order ON outbox (txid, id);
"""

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(OUTBOX_DDL)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
