"""Transactional outbox: event rows commit with the business write; a relay publishes them.

Order safety: a row is stamped with its transaction id (`pg_current_xact_id()`), and the relay
reads only rows of transactions below the oldest one still running
(`pg_snapshot_xmin(pg_current_snapshot())`), in transaction-id order. A BIGSERIAL id alone would
skip rows whose transaction commits after a later id was already published.
Delivery is at-least-once (a crash between send and delete resends); consumers are idempotent.
Each message carries CloudEvents binary-mode headers (ce_*) beside `event_id` and `event_type` (and
the W3C `traceparent` of the request that wrote it, when tracing is on: services/common/tracing.py), and
the event's occurred_at as its Kafka timestamp (consumers measure freshness from it; held between a
day before the relay's clock and its clock, as brokers refuse timestamps far off theirs); the value is
the envelope as written.

Packing: the events of one topic that one call writes, from PACK_FROM of them on (a request's
visits, a payroll's statuses), go in one row (`events` = how many, the payload packed by
osms_native.outbox_pack): a row each cost PostgreSQL about ten times the CPU, in and out.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import datetime
from itertools import groupby

import asyncpg
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Gauge

from services.common import tracing
from services.common.events import OutgoingEvent
from services.common.kafka import client_options
from services.common.logs import get_logger
from services.common.native import osms_native
from services.common.settings import Settings

log = get_logger(__name__)

# A call that writes this many events of one topic or more puts them in one packed outbox row (no
# key or event id of its own, its payload compressed with lz4: the cheapest for PostgreSQL's CPU).
PACK_FROM = 50

# The first rows in publishing order, up to the one that makes `relay_batch` events (a packed row
# counts its events). The payloads of rows left out are not read from their TOAST tables.
_READ = """
SELECT id, txid::text, topic, key, event_id, payload, events, traceparent FROM (
    SELECT *, sum(coalesce(events, 1)) OVER (ORDER BY txid, id) AS upto FROM (
        SELECT id, txid, topic, key, event_id, payload, events, traceparent FROM outbox
        WHERE txid < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY txid, id LIMIT $1) AS first_rows
) AS counted
WHERE upto - coalesce(events, 1) < $1
ORDER BY txid, id
"""

NOTIFY_CHANNEL = "osms_outbox"
# The producer's own partitioning (murmur2 of the key, as Java's), computed natively: aiokafka's is
# pure Python, a visible share of the registry's CPU. An event goes to the partition a plain
# send() would have chosen, so a key's events stay in one partition, in outbox order; a unit test
# holds the two equal.
key_partition = osms_native.key_partition
RELAY_LOCK_KEY = 7_401_001  # pg advisory lock: one relay per service database

PUBLISHED = Counter("osms_outbox_published_total", "Events published from the outbox", ["topic"])
BACKLOG = Gauge("osms_outbox_backlog", "Outbox rows not yet published (last seen)",
                multiprocess_mode="livemax")   # (with PROMETHEUS_MULTIPROC_DIR: app.metrics_text)
RELAY_ERRORS = Counter("osms_outbox_relay_errors_total", "Relay failures (retried)")
OLDEST_AGE = Gauge("osms_outbox_oldest_age_seconds", "Age of the oldest outbox row not yet published (0: none)",
                   multiprocess_mode="livemax")
# Every relay instance reports it, also one waiting for the lock or for Kafka.
AGE_CHECK_SECONDS = 5.0

CE_SPECVERSION = b"1.0"


def ce_type(event_type: str) -> bytes:
    """The CloudEvents type of an event type: reverse-DNS prefixed, as the specification advises."""
    return f"kz.osms.{event_type}".encode()


def ce_source(service: str) -> bytes:
    return f"/osms/{service}".encode()


def occurred_at(payload: bytes) -> bytes:
    """The envelope's occurred_at as written (ISO 8601), found without parsing the JSON (it comes
    before `data` in every envelope); b"" when there is none."""
    at = payload.find(b'"occurred_at"')
    if at < 0:
        return b""
    start = payload.find(b'"', at + 13) + 1
    return payload[start:payload.find(b'"', start)] if start else b""


# A broker refuses a record whose timestamp is far from its clock (Kafka 4: more than an hour ahead, by
# default): an occurred_at ahead of the relay's clock, or over a day behind, is sent as the nearer bound.
# Freshness loses nothing: a day is far beyond its largest bucket.
EARLIEST_MS = 86_400_000


def record_timestamp(stamp: bytes, now_ms: int) -> int:
    """The Kafka timestamp (ms) of an event that occurred at `stamp` (ISO 8601), sent at `now_ms`."""
    try:
        at = int(datetime.fromisoformat(stamp.decode()).timestamp() * 1000)
    except ValueError:
        return now_ms
    return min(max(at, now_ms - EARLIEST_MS), now_ms)


async def add_events(conn: asyncpg.Connection, events: Iterable[OutgoingEvent]) -> int:
    """Writes events in the caller's transaction: a row each, or packed from PACK_FROM on."""
    events = list(events)
    if len(events) >= PACK_FROM:
        for topic, run in groupby(events, key=lambda e: e.topic):
            same = [(e.key, e.event_id.bytes, e.payload) for e in run]
            await add_packed(conn, topic, len(same), osms_native.outbox_pack(same))
        return len(events)
    if events:
        traceparent = tracing.current_traceparent() if tracing.enabled() else None
        if traceparent is None:
            await conn.executemany("INSERT INTO outbox (topic, key, event_id, payload) VALUES ($1, $2, $3, $4)",
                                   [(e.topic, e.key, e.event_id, e.payload) for e in events])
        else:
            await conn.executemany(
                "INSERT INTO outbox (topic, key, event_id, payload, traceparent) VALUES ($1, $2, $3, $4, $5)",
                [(e.topic, e.key, e.event_id, e.payload, traceparent) for e in events])
        await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
    return len(events)


async def add_packed(conn: asyncpg.Connection, topic: str, count: int, packed: bytes, *, notify: bool = True) -> None:
    """Writes `count` events of `topic`, packed (osms_native.outbox_pack), in the caller's transaction.
    `notify=False`: the transaction wakes the relay already (NOTIFY is delivered at commit)."""
    if count:
        traceparent = tracing.current_traceparent() if tracing.enabled() else None
        await conn.execute("INSERT INTO outbox (topic, events, payload, traceparent) VALUES ($1, $2, $3, $4)",
                           topic, count, packed, traceparent)
        if notify:
            await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")


def make_producer(settings: Settings) -> AIOKafkaProducer:
    # Idempotent producer: no duplicates or reordering from its own retries (forces acks=all).
    return AIOKafkaProducer(
        **client_options(settings),
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
        request_timeout_ms=15000,
    )


class OutboxRelay:
    """Publishes committed outbox rows to Kafka in transaction order, then deletes them."""

    def __init__(self, settings: Settings, dsn: str, service: str = "osms"):
        self.settings = settings
        self.dsn = dsn
        self.source = ce_source(service)
        self.producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self.has_lock = False
        self.age_check_seconds = AGE_CHECK_SECONDS

    async def close(self) -> None:
        """Stops the producer; bounded, since a flush to an unreachable broker would wait long.
        Rows it did not confirm stay in the outbox and are sent again by the next relay."""
        producer, self.producer = self.producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), timeout=5)
            except (Exception, asyncio.TimeoutError):
                pass

    async def run(self) -> None:
        watch = asyncio.create_task(self._watch_oldest())
        try:
            await self._publish_forever()
        finally:
            watch.cancel()

    async def _watch_oldest(self) -> None:
        """Keeps OLDEST_AGE: from its own connection, so that it grows while Kafka is away."""
        conn: asyncpg.Connection | None = None
        while True:
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(self.dsn, timeout=5)
                OLDEST_AGE.set(await conn.fetchval(
                    "SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM outbox"))
            except asyncio.CancelledError:
                if conn is not None:
                    conn.terminate()
                raise
            except Exception as exc:    # the database is away: the relay itself logs that
                log.debug("outbox age not read", error=repr(exc))
                if conn is not None:
                    conn.terminate()
                    conn = None
            await asyncio.sleep(self.age_check_seconds)

    async def _publish_forever(self) -> None:
        backoff = 0.2
        while True:
            conn: asyncpg.Connection | None = None
            try:
                if self.producer is None:
                    producer = make_producer(self.settings)
                    try:
                        await producer.start()
                    except BaseException:
                        await producer.stop()
                        raise
                    self.producer = producer
                conn = await asyncpg.connect(self.dsn, timeout=5)
                # One relay at a time per service: others wait here and take over if it dies.
                while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY):
                    self.has_lock = False
                    await asyncio.sleep(1.0)
                self.has_lock = True
                await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
                backoff = 0.2
                await self._pump(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database down: the rows stay, retry
                RELAY_ERRORS.inc()
                log.warning("outbox relay failed; retrying", error=repr(exc), backoff=backoff)
                await self.close()  # a fresh producer after a failure: no half-sent state kept
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self.has_lock = False
                if conn is not None:
                    conn.terminate()

    async def _pump(self, conn: asyncpg.Connection) -> None:
        while True:
            self._wake.clear()  # before the read: a commit during the read is not missed
            if await self.publish_once(conn) == 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=0.5)
                except TimeoutError:
                    pass

    async def publish_once(self, conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(_READ, self.settings.relay_batch)
        if not rows:
            BACKLOG.set(0)
            return 0
        assert self.producer is not None
        producer = self.producer
        # Per partition, in outbox order, as the producer's own partitioner would place each key:
        # one batch builder per partition instead of one send() (and one future) per event.
        by_partition: dict[tuple[str, int], list] = {}
        partitions: dict[str, list[int]] = {}
        per_topic: dict[str, int] = {}
        for row in rows:
            topic = row["topic"]
            name = self.settings.topic(topic)
            if name not in partitions:
                partitions[name] = sorted(await producer.partitions_for(name))
            known = partitions[name]
            if row["events"] is None:
                key = row["key"].encode()
                events = [(key_partition(key, len(known)), key, str(row["event_id"]).encode(), row["payload"])]
            else:
                events = osms_native.outbox_unpack(row["payload"], len(known))
            # The headers every event of this row carries alike.
            same = (("event_type", topic.encode()), ("ce_specversion", CE_SPECVERSION),
                    ("ce_type", ce_type(topic)), ("ce_source", self.source))
            if row["traceparent"] is not None:
                same += (("traceparent", row["traceparent"].encode()),)
            for p, key, event_id, payload in events:
                by_partition.setdefault((name, known[p]), []).append((key, event_id, same, payload))
            per_topic[topic] = per_topic.get(topic, 0) + len(events)
        futures = []
        stamp, ms = None, 0       # the events of one request share their occurred_at: parsed once
        now_ms = int(time.time() * 1000)
        for (name, p), items in by_partition.items():
            batch = producer.create_batch()
            for key, event_id, same, payload in items:
                t = occurred_at(payload)
                if t != stamp:
                    stamp, ms = t, record_timestamp(t, now_ms)
                headers = [("event_id", event_id), ("ce_id", event_id), ("ce_time", t), *same]
                if batch.append(timestamp=ms, key=key, value=payload, headers=headers) is None:
                    batch.close()     # full: sent, and a new one takes the event (a batch takes its first)
                    futures.append(await producer.send_batch(batch, name, partition=p))
                    batch = producer.create_batch()
                    batch.append(timestamp=ms, key=key, value=payload, headers=headers)
            if batch.record_count():
                batch.close()
                futures.append(await producer.send_batch(batch, name, partition=p))
        await asyncio.gather(*futures)  # every event acknowledged by the broker (acks=all)
        # The rows read are the first in (txid, id) order of those whose transactions had all ended, so
        # they are exactly the rows up to the last one read: deleted as that range. By their ids instead
        # (`id = ANY($1)`, or a join), a plan made from the statistics of an empty outbox tested each row
        # against each id: 5-10 s and 64 s for one batch of the region benchmark.
        last = rows[-1]
        await conn.execute("DELETE FROM outbox WHERE (txid, id) <= ($1::text::xid8, $2)", last["txid"], last["id"])
        for topic, n in per_topic.items():
            PUBLISHED.labels(topic).inc(n)
        published = sum(per_topic.values())
        BACKLOG.set(published if published >= self.settings.relay_batch else 0)
        return published
