"""The alembic environment every service's migrations/env.py runs (one history per database)."""
from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATION_LOCK_KEY = 7_401_000  # two instances starting at once migrate one after the other


def _run(connection) -> None:
    connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
    context.configure(connection=connection, target_metadata=None, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(dsn: str) -> None:
    import asyncpg

    # asyncpg connects, so a DSN naming several hosts (failover) works; SQLAlchemy's URL cannot hold it.
    engine = create_async_engine("postgresql+asyncpg://", poolclass=pool.NullPool,
                                 async_creator=lambda: asyncpg.connect(dsn))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_env() -> None:
    dsn = context.config.attributes["dsn"]  # the service's database, as asyncpg takes it
    if context.is_offline_mode():
        context.configure(url="postgresql://", literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_async(dsn))


def execute_script(sql: str) -> None:
    """Runs a multi-statement SQL script in the migration's transaction.

    The asyncpg dialect prepares each statement, which refuses several commands at once; the
    driver's own `execute` sends the script as one simple query instead."""
    from alembic import op
    from sqlalchemy.util import await_only

    driver = op.get_bind().connection.driver_connection
    await_only(driver.execute(sql))
