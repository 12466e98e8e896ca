"""common: API keys (every service database), an alembic branch of its own

Revision ID: c0001
"""
from services.common.migrations import execute_script

AUTH_DDL = """
CREATE TABLE api_keys (
    key_id     text PRIMARY KEY,
    secret_sha256 bytea NOT NULL,
    role       text NOT NULL,
    scope      text,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
"""

revision = "c0001"
down_revision = None
branch_labels = ("common",)
depends_on = None


def upgrade() -> None:
    execute_script(AUTH_DDL)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
