"""Idempotent batch consumer: applies a batch and stores its offsets in one database transaction.

Offsets live in the service's own database (`consumer_offsets`): on assignment the consumer seeks
to the stored offset, so a restart or a rebalance resumes exactly after the last applied batch.
After the transaction they are also committed to Kafka's group store, for the standard tools
(kafka-consumer-groups.sh, exporters) to see the group and its lag; nothing reads them back. Each transaction locks the offset rows and checks that
they still hold the position this instance started from; an instance that lost a partition
(a zombie after a rebalance) fails that check and rolls back instead of applying twice.
Malformed messages are kept in `dead_letters` (same transaction) and skipped, never lost.
A watchdog restarts the client when a partition has events waiting and its stored offset has not
moved for `consumer_stall_seconds`, and logs where the consuming loop was stuck.
"""
from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from prometheus_client import Counter, Gauge, Histogram

from services.common.collector import collector_paused
from services.common.events import EventData, Envelope, decode
from services.common.kafka import client_options
from services.common.logs import get_logger
from services.common import tracing
from services.common.settings import Settings

log = get_logger(__name__)


APPLIED = Counter("osms_consumer_events_applied_total", "Events applied", ["topic"])
DEAD = Counter("osms_consumer_dead_letters_total", "Malformed events set aside", ["topic"])
BATCH_SECONDS = Histogram("osms_consumer_batch_seconds", "Time to apply one batch",
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
# How full the batches are: a projection's rows are shared by the events of a batch, so the apply rate
# rises with the batch (a batch takes what is waiting, up to `consumer_batch`).
BATCH_EVENTS = Histogram("osms_consumer_batch_events", "Messages applied in one batch (events and dead letters)",
                         buckets=(1, 10, 100, 1_000, 10_000, 25_000, 50_000, 100_000, 200_000))
SKIPPED = Counter("osms_consumer_already_applied_skipped_total",
                  "Messages below the stored offset handed back by the client (skipped, not applied twice)")
STALLED = Counter("osms_consumer_stalls_total", "Consumers restarted by the watchdog: events waiting, none applied")
FENCED = Counter("osms_consumer_fenced_total", "Batches rolled back: offsets moved by another instance")
# Refreshed by the watchdog. Each process consuming for a group computes the whole group's lag.
LAG = Gauge("osms_consumer_lag_events", "Events on the broker not yet applied by the group",
            ["group", "topic", "partition"], multiprocess_mode="livemax")
# From the event's occurred_at (the relay makes it the Kafka record's timestamp) to its batch's commit.
FRESHNESS = Histogram("osms_consumer_event_freshness_seconds", "Time from an event's occurrence to its being applied",
                      ["topic"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600))
KAFKA_COMMIT_FAILURES = Counter("osms_consumer_kafka_commit_failures_total",
                                "Offsets not committed to Kafka after a batch (the database keeps them)")




def observe_ages(histogram, stamps_ms: list[int], now_ms: float) -> None:
    """Observes the age at `now_ms` of every timestamp, like histogram.observe((now_ms - t) / 1000) for
    each: prometheus_client walks the buckets in Python once per observation, too slow for a batch of
    100,000 events. Sorted (in place), each bucket takes its count from one bisection."""
    if not stamps_ms:
        return
    stamps_ms.sort()
    n = len(stamps_ms)
    counted = 0
    for bucket, bound in zip(histogram._buckets, histogram._upper_bounds):
        # age <= bound  <=>  t >= now - bound
        within = n - bisect_left(stamps_ms, now_ms - bound * 1000)
        if within > counted:
            bucket.inc(within - counted)
            counted = within
    histogram._sum.inc((n * now_ms - sum(stamps_ms)) / 1000)


@dataclass(slots=True)
class Event:
    """One decoded message handed to the projection. Not frozen: a frozen dataclass's __init__ sets each
    field through object.__setattr__, several times the cost, and one is made for every message."""

    topic: str          # the event name, without any test prefix
    partition: int
    offset: int
    envelope: Envelope | None   # None from a decoder that reads the data only
    data: EventData | Any       # the model, or what the consumer's own decoder reads of it


ApplyBatch = Callable[[asyncpg.Connection, list[Event]], Awaitable[None]]
# (message value, event name) -> (envelope, data); raises ValueError when the message is malformed.
Decode = Callable[[bytes, str], tuple[Envelope | None, Any]]


class ConsumerStalled(Exception):
    """Events are waiting and the consumer has not applied any of them for too long."""


class StaleOffsets(Exception):
    """Another instance moved this partition's offsets: this instance no longer owns it."""


class ChangedMeanwhile(Exception):
    """apply() found rows it read changed by another transaction before it could write them (it reads
    without locking): the batch is rolled back and applied again."""


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: "BatchConsumer"):
        self.owner = owner

    async def on_partitions_revoked(self, revoked):
        # Wait for the batch in flight to commit or roll back before the partitions move.
        async with self.owner._lock:
            for tp in revoked:
                self.owner._positions.pop(tp, None)
                self.owner._to_commit.pop(tp, None)   # no longer this instance's to commit

    async def on_partitions_assigned(self, assigned):
        async with self.owner._lock:
            try:
                await self.owner._seek_to_stored(list(assigned))
            except Exception as exc:
                # The database is unreachable, say: the run loop seeks these partitions before it
                # applies anything from them (the client would only log a listener's failure).
                log.warning("stored offsets not read on assignment; sought again before the next batch",
                            group=self.owner.group_id, error=repr(exc))


class BatchConsumer:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, *, group: str, topics: list[str],
                 apply: ApplyBatch, max_records: int | None = None, decode: Decode = decode,
                 fetch_min_bytes: int = 1):
        self.settings = settings
        self.fetch_min_bytes = fetch_min_bytes
        self.decode = decode
        self.pool = pool
        self.group_id = settings.group(group)
        self.topics = topics
        self.apply = apply
        self.max_records = max_records or settings.consumer_batch
        self._lock = asyncio.Lock()
        self._positions: dict[TopicPartition, int] = {}
        self.consumer: AIOKafkaConsumer | None = None
        self.last_batch_at: float | None = None
        self._to_commit: dict[TopicPartition, int] = {}
        self._committing: asyncio.Task | None = None

    def _make_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            **client_options(self.settings),
            group_id=self.group_id,
            enable_auto_commit=False,        # offsets are stored with the projection, then committed
            auto_offset_reset="earliest",    # a partition with no stored offset starts at the beginning
            isolation_level="read_committed",
            # A batch takes up to `consumer_batch` of what the last fetch brought: with 8 MB a partition,
            # three contribution partitions gave batches of about 48,500 where 100,000 were waiting.
            max_partition_fetch_bytes=16 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
            fetch_min_bytes=self.fetch_min_bytes,
            session_timeout_ms=self.settings.consumer_session_timeout_ms,
            heartbeat_interval_ms=max(self.settings.consumer_session_timeout_ms // 5, 500),
            group_instance_id=self.settings.consumer_instance_id,
            max_poll_interval_ms=300000,
        )

    async def _seek_to_stored(self, tps: list[TopicPartition]) -> None:
        if self.consumer is None:
            return
        owned = self.consumer.assignment()
        tps = [tp for tp in tps if tp in owned]
        if not tps:
            return
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT topic, partition, next_offset FROM consumer_offsets
                   WHERE group_id = $1 AND topic = ANY($2::text[])""",
                self.group_id, list({self.settings.unprefixed(tp.topic) for tp in tps}))
        stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
        for tp in tps:
            offset = stored.get((self.settings.unprefixed(tp.topic), tp.partition), 0)
            self.consumer.seek(tp, offset)
            self._positions[tp] = offset
        log.info("partitions assigned", group=self.group_id,
                 partitions=sorted(f"{tp.topic}/{tp.partition}@{self._positions[tp]}" for tp in tps))

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                consumer = self._make_consumer()
                try:
                    await consumer.start()
                except BaseException:
                    await close_consumer(consumer, self.group_id)
                    raise
                self.consumer = consumer      # only once started: lag() asks it for end offsets
                self.consumer.subscribe([self.settings.topic(t) for t in self.topics],
                                        listener=_Listener(self))
                backoff = 0.5
                await self._consume_while_progressing()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer failed; restarting", group=self.group_id, error=repr(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                if self._committing is not None:
                    self._committing.cancel()
                    self._committing = None
                self._to_commit.clear()
                if self.consumer is not None:
                    await close_consumer(self.consumer, self.group_id)
                    self.consumer = None
                self._positions.clear()

    async def _consume(self) -> None:
        assert self.consumer is not None
        while True:
            batch = await self.consumer.getmany(timeout_ms=200, max_records=self.max_records)
            if not batch:
                continue
            async with self._lock:
                batch = await self._seek_unpositioned(batch)
                with collector_paused():
                    await self._apply_with_retry(batch)
                    del batch    # freed before collections resume

    async def _consume_while_progressing(self) -> None:
        """Consumes until a failure, or until the watchdog finds a partition that stopped moving
        with events left on it; either way the caller restarts the client, which rejoins the group
        and seeks to the stored offsets. Where the consuming loop was waiting is logged."""
        consume = asyncio.create_task(self._consume())
        watch = asyncio.create_task(self._watch_progress())
        try:
            done, _ = await asyncio.wait({consume, watch}, return_when=asyncio.FIRST_COMPLETED)
            if consume in done:
                consume.result()
            stalled = watch.result()
            log.error("consumer stalled; restarting it", group=self.group_id, partitions=stalled,
                      assigned=sorted(f"{tp.topic}/{tp.partition}" for tp in self.consumer.assignment())
                      if self.consumer is not None else [],
                      consuming_at=_awaiting(consume), coordinating_at=_awaiting(
                          getattr(getattr(self.consumer, "_coordinator", None), "_coordination_task", None)))
            STALLED.inc()
            raise ConsumerStalled(f"no progress on {stalled}")
        finally:
            for task in (consume, watch):
                task.cancel()
            await asyncio.wait({consume, watch}, timeout=10)

    async def _watch_progress(self) -> list[str]:
        """Returns the partitions that have events not applied and whose stored offset has not moved
        for `consumer_stall_seconds` (the whole group's, read from the database and the broker)."""
        interval = min(5.0, self.settings.consumer_stall_seconds / 3)
        probe: AIOKafkaConsumer | None = None
        seen: dict[tuple[str, int], tuple[int, float]] = {}
        try:
            while True:
                await asyncio.sleep(interval)
                try:
                    if probe is None:
                        probe = AIOKafkaConsumer(**client_options(self.settings), group_id=None,
                                                 request_timeout_ms=5000)
                        await asyncio.wait_for(probe.start(), timeout=10)
                    lag = await asyncio.wait_for(
                        group_lag(self.settings, self.pool, self.group_id, self.topics, probe, prefixed=True), 10)
                except Exception as exc:   # asyncio.TimeoutError among them
                    # Kafka or the database is down: the consuming loop copes with that; this cannot judge.
                    log.info("progress not checked", group=self.group_id, error=repr(exc))
                    if probe is not None:
                        await close_consumer(probe, None)
                        probe = None
                    seen.clear()
                    continue
                group = self.settings.unprefixed(self.group_id)
                for p in lag:
                    LAG.labels(group, p["topic"], str(p["partition"])).set(p["lag"])
                now = time.monotonic()
                stalled = []
                for p in lag:
                    key = (p["topic"], p["partition"])
                    if p["lag"] == 0 or seen.get(key, (None,))[0] != p["applied_offset"]:
                        seen[key] = (p["applied_offset"], now)
                    elif now - seen[key][1] >= self.settings.consumer_stall_seconds:
                        stalled.append(f"{key[0]}/{key[1]}@{p['applied_offset']} of {p['end_offset']}")
                if stalled:
                    return stalled
        finally:
            if probe is not None:
                await close_consumer(probe, None)

    async def _seek_unpositioned(self, batch: dict[TopicPartition, list[Any]]) -> dict[TopicPartition, list[Any]]:
        """Partitions assigned whose stored offsets could not be read then are sought now (a failure
        here restarts the consumer); what was fetched for them before is dropped, to be fetched
        again from the stored offsets."""
        assert self.consumer is not None
        missing = [tp for tp in self.consumer.assignment() if tp not in self._positions]
        if not missing:
            return batch
        await self._seek_to_stored(missing)
        return {tp: messages for tp, messages in batch.items() if tp not in missing}

    async def _apply_with_retry(self, batch: dict[TopicPartition, list[Any]]) -> None:
        # Only partitions this instance still owns, from the position it expects.
        batch = {tp: msgs for tp, msgs in batch.items() if tp in self._positions}
        attempt = 0
        while batch:
            try:
                await self.apply_batch(batch)
                return
            except StaleOffsets:
                FENCED.inc()
                log.warning("offsets moved by another instance; re-seeking", group=self.group_id)
                await self._seek_to_stored(list(batch))
                return
            except (asyncpg.PostgresConnectionError, OSError, asyncpg.InterfaceError, asyncpg.InternalClientError,
                    asyncpg.SerializationError, asyncpg.DeadlockDetectedError, ChangedMeanwhile) as exc:
                attempt += 1
                log.warning("batch failed; retrying", error=repr(exc), attempt=attempt)
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
                if attempt >= 5:
                    # Re-read from the stored offsets: the consumer position is ahead of the store.
                    await self._seek_to_stored(list(batch))
                    raise

    async def apply_batch(self, batch: dict[TopicPartition, list[Any]]) -> None:
        started = time.perf_counter()
        events: list[Event] = []
        dead: list[tuple] = []
        new_positions: dict[TopicPartition, int] = {}
        stamps: dict[str, list[int]] = {}     # per topic, the records' timestamps (ms)
        traced: set[bytes] | None = set() if tracing.enabled() else None    # the events' traceparents
        applied: dict[str, int] = {}          # per topic, the events decoded
        for tp, messages in batch.items():
            topic = self.settings.unprefixed(tp.topic)
            # The stored offset is checked below to equal this position, so a message before it is
            # applied already: whatever the client hands back from before a seek is skipped.
            position = self._positions.get(tp)
            if position is not None and messages[0].offset < position:
                behind = sum(1 for m in messages if m.offset < position)
                SKIPPED.inc(behind)
                log.warning("messages below the stored offset skipped", topic=topic, partition=tp.partition,
                            position=position, first_offset=messages[0].offset, skipped=behind)
                messages = [m for m in messages if m.offset >= position]
                if not messages:
                    continue
            before = len(events)
            for msg in messages:
                try:
                    envelope, data = self.decode(msg.value, topic)   # another event_type is malformed here
                    events.append(Event(topic, tp.partition, msg.offset, envelope, data))
                except Exception as exc:
                    dead.append((topic, tp.partition, msg.offset, msg.key, msg.value, str(exc)[:2000]))
            applied[topic] = applied.get(topic, 0) + len(events) - before
            stamps.setdefault(topic, []).extend([m.timestamp for m in messages])
            if traced is not None:
                traced.update(v for m in messages for k, v in m.headers if k == "traceparent")
            new_positions[tp] = messages[-1].offset + 1
        span = nullcontext() if traced is None else tracing.batch_span(
            f"{self.settings.unprefixed(self.group_id)} batch", traced,
            {"messaging.system": "kafka", "messaging.consumer.group.name": self.group_id,
             "messaging.batch.message_count": len(events) + len(dead)})
        with span:
            await self._apply_in_transaction(events, dead, new_positions)
        self._positions.update(new_positions)
        self.last_batch_at = time.time()
        # Every partition this instance holds, so that the tools see none without an offset.
        self._commit_to_kafka(self._positions)
        BATCH_SECONDS.observe(time.perf_counter() - started)
        for topic, ts in stamps.items():
            observe_ages(FRESHNESS.labels(topic), ts, self.last_batch_at * 1000)
        BATCH_EVENTS.observe(len(events) + len(dead))
        for topic, n in applied.items():
            if n:
                APPLIED.labels(topic).inc(n)
        for d in dead:
            DEAD.labels(d[0]).inc()
            log.error("malformed event set aside", topic=d[0], partition=d[1], offset=d[2], error=d[5][:300])

    async def _apply_in_transaction(self, events: list[Event], dead: list[tuple],
                                    new_positions: dict[TopicPartition, int]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            keys = [(self.settings.unprefixed(tp.topic), tp.partition) for tp in new_positions]
            await conn.executemany(
                """INSERT INTO consumer_offsets (group_id, topic, partition, next_offset)
                   VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING""",
                [(self.group_id, t, p) for t, p in keys])
            rows = await conn.fetch(
                """SELECT topic, partition, next_offset FROM consumer_offsets
                   WHERE group_id = $1 AND (topic, partition) IN
                         (SELECT * FROM unnest($2::text[], $3::int[]))
                   FOR UPDATE""",
                self.group_id, [t for t, _ in keys], [p for _, p in keys])
            stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
            for tp in new_positions:
                if stored[(self.settings.unprefixed(tp.topic), tp.partition)] != self._positions.get(tp):
                    raise StaleOffsets()
            if dead:
                await conn.executemany(
                    """INSERT INTO dead_letters (topic, partition, "offset", key, value, error)
                       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""", dead)
            if events:
                await self.apply(conn, events)
            await conn.executemany(
                """UPDATE consumer_offsets SET next_offset = $4, updated_at = now()
                   WHERE group_id = $1 AND topic = $2 AND partition = $3""",
                [(self.group_id, self.settings.unprefixed(tp.topic), tp.partition, off)
                 for tp, off in new_positions.items()])

    def _commit_to_kafka(self, positions: dict[TopicPartition, int]) -> None:
        """Commits the applied positions to the group's offsets in Kafka, in the background (a batch
        does not wait for the broker): one commit at a time, each of the newest positions."""
        self._to_commit.update(positions)    # a copy: the commit runs later
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self._commit_pending())

    async def _commit_pending(self) -> None:
        while self._to_commit and self.consumer is not None:
            offsets, self._to_commit = self._to_commit, {}
            try:
                await asyncio.wait_for(self.consumer.commit(offsets), 10)
            except asyncio.CancelledError:
                raise
            except Exception as exc:   # a rebalance under way, the broker away: the next batch commits again
                KAFKA_COMMIT_FAILURES.inc()
                log.warning("offsets not committed to Kafka (kept in the database)", group=self.group_id,
                            error=repr(exc))

    async def lag(self) -> list[dict[str, Any]]:
        """Per topic and partition: end offset on the broker, stored offset, events not yet applied."""
        if self.consumer is None:
            raise RuntimeError("consumer is not running")
        return await group_lag(self.settings, self.pool, self.group_id, self.topics, self.consumer, prefixed=True)


async def close_consumer(consumer: AIOKafkaConsumer, group: str | None, timeout: float = 15) -> None:
    """Stops a client for good. aiokafka's `stop()` waits for the group coordination task and can
    fail or hang part way; then its heartbeat would go on, and the broker would keep a member that
    holds partitions no one fetches. So after a failed stop its background tasks are cancelled."""
    try:
        await asyncio.wait_for(consumer.stop(), timeout)
        return
    except Exception as exc:   # asyncio.TimeoutError among them
        log.warning("consumer did not stop cleanly; its tasks are cancelled", group=group, error=repr(exc))
    coordinator = getattr(consumer, "_coordinator", None)
    tasks = [getattr(coordinator, name, None)
             for name in ("_heartbeat_task", "_commit_refresh_task", "_coordination_task")]
    for task in tasks:
        if isinstance(task, asyncio.Task):
            task.cancel()
    try:
        await asyncio.wait_for(consumer._client.close(), 5)
    except Exception as exc:   # asyncio.TimeoutError among them
        log.warning("consumer's connections not closed", group=group, error=repr(exc))


def _awaiting(task: asyncio.Task | None) -> list[str]:
    """Where a task is suspended: the chain of coroutines it awaits, innermost last."""
    out = []
    coro = task.get_coro() if isinstance(task, asyncio.Task) and not task.done() else None
    while coro is not None and len(out) < 30:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            out.append(f"{frame.f_code.co_name} ({frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno})")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return out


async def group_lag(settings: Settings, pool: asyncpg.Pool, group: str, topics: list[str],
                    probe: AIOKafkaConsumer, prefixed: bool = False) -> list[dict[str, Any]]:
    """Lag of a consumer group from any process: broker end offsets against the offsets stored
    with the projection. `probe` is any started consumer; `group` is the group's name before the
    prefix unless `prefixed`."""
    # Fresh metadata, for the partitions each topic has now (the consumer's own cache knows only
    # the topics it was given; aiokafka has no public call for another's).
    cluster = await probe._client.fetch_all_metadata()
    tps = [TopicPartition(settings.topic(t), p) for t in topics
           for p in sorted(cluster.partitions_for_topic(settings.topic(t)) or ())]
    ends = await probe.end_offsets(tps)
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT topic, partition, next_offset FROM consumer_offsets WHERE group_id = $1",
                                group if prefixed else settings.group(group))
    stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
    out = []
    for tp in tps:
        name = settings.unprefixed(tp.topic)
        applied = stored.get((name, tp.partition), 0)
        out.append({"topic": name, "partition": tp.partition, "end_offset": ends[tp],
                    "applied_offset": applied, "lag": max(ends[tp] - applied, 0)})
    return out
