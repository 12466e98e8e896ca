"""Alembic environment of this service's database: the shared one in services.common.migrations."""
from services.common.migrations import run_env

run_env()
