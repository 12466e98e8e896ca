"""common: API keys (every service database), an alembic branch of its own

Revision ID: c0001
"""
from services.common.auth import AUTH_DDL
from services.common.migrations import execute_script

revision = "c0001"
down_revision = None
branch_labels = ("common",)
depends_on = None


def upgrade() -> None:
    execute_script(AUTH_DDL)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
