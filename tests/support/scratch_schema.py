"""The outbox and consumer tables of a scratch database for the platform tests (a service's own
tables come from its migrations; these copy what the services' migrations create)."""

OUTBOX = """
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

OUTBOX_PACKING = """
ALTER TABLE outbox
    ADD COLUMN events integer,
    ALTER COLUMN key DROP NOT NULL,
    ALTER COLUMN event_id DROP NOT NULL,
    ALTER COLUMN payload SET COMPRESSION lz4,
    ADD CONSTRAINT outbox_one_event_or_packed
        CHECK (CASE WHEN events IS NULL THEN key IS NOT NULL AND event_id IS NOT NULL ELSE events > 0 END);
"""

OUTBOX_TRACEPARENT = """
ALTER TABLE outbox ADD COLUMN traceparent text;
"""

CONSUMER = """
CREATE TABLE consumer_offsets (
    group_id    text   NOT NULL,
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    next_offset bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    "offset"    bigint NOT NULL,
    key         bytea,
    value       bytea,
    error       text   NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset")
);
"""


async def scratch_pool(settings, service: str, ddl: str, max_size: int = 8):
    """A fresh database `service` of this run, with these tables, and a pool on it."""
    import asyncpg

    server = await asyncpg.connect(settings.server_dsn())
    name = settings.database_name(service)
    try:
        await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.execute(f'CREATE DATABASE "{name}"')
    finally:
        await server.close()
    pool = await asyncpg.create_pool(settings.database_dsn(service), min_size=1, max_size=max_size)
    async with pool.acquire() as conn:
        await conn.execute(ddl)
    return pool
