"""A DSN naming several PostgreSQL hosts (a failover cluster): the first that answers as primary
serves, for migrations and pools alike. Here the first host named is down."""
from __future__ import annotations

from urllib.parse import urlsplit

from bench.processes import free_port
from services.common.app import create_app
from services.registry.app import spec
from tests.support.inproc import running


async def test_a_service_migrates_and_serves_through_a_multi_host_dsn(settings):
    live = urlsplit(settings.database_url)
    down = f"127.0.0.1:{free_port()}"
    url = f"postgresql://{live.username}@{down},{live.hostname}:{live.port}/postgres?target_session_attrs=read-write"
    own = settings.model_copy(update={"database_url": url, "db_prefix": settings.db_prefix + "multi_"})
    async with running(create_app(spec, own)) as client:   # creates and migrates its database on the way
        assert (await client.get("/readyz")).status_code == 200
        r = await client.put("/v1/clinics/MULTI-1", json={"name": "Multi", "region": "Kyzylorda", "settlement": "urban"})
        assert r.status_code == 201, r.text
