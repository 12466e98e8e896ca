"""Rebuilds the financing projection from the topics, from their beginning, into a fresh schema of the
financing database, and compares it with the live projection cell by cell.

    python -m services.financing.rebuild [--keep] [--batch N] [--show 20]

The topics keep every event (services.common.topics creates them with retention.ms = -1), so the
projection can always be built again. The end offsets are captured at the start and the rebuild
stops there; the comparison is exact when the live consumer has applied exactly up to the same
offsets, and the report says when it has not (then differences may only be events in between).
Exit status: 0 identical, 1 differences, 2 identical rows but the live consumer at other offsets.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.collector import collector_paused
from services.common.consumer import Event
from services.common.kafka import client_options
from services.common.settings import Settings, get_settings
from services.financing import store
from services.financing.consumer import CONSUMER, TOPICS
from services.financing.projection import read_event

SERVICE = "financing"


@dataclass
class RebuildReport:
    schema: str
    events: int = 0
    malformed: int = 0
    seconds: float = 0.0
    end_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    live_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    differences: list[dict] = field(default_factory=list)
    compared: bool = True

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def live_at_same_offsets(self) -> bool:
        return all(self.live_offsets.get(k, 0) == v for k, v in self.end_offsets.items())


# Calendar rows of both schemas by clinic_id (clinic numbers differ between builds); zero rows are
# the same as absent ones.
_DIFF_SQL = """
WITH l AS (SELECT c.clinic_id, x.grain, x.bucket, {cols} FROM {l_source} x
             JOIN public.fin_clinics c USING (clinic_no) WHERE {nonzero}),
     r AS (SELECT c.clinic_id, x.grain, x.bucket, {cols} FROM {r_source} x
             JOIN "{schema}".fin_clinics c USING (clinic_no) WHERE {nonzero})
SELECT '{table}' AS calendar, clinic_id, grain, bucket, {keys_out}
       row({l_cols}) ::text AS live, row({r_cols})::text AS rebuilt
FROM l FULL JOIN r USING (clinic_id, grain, bucket{using})
WHERE row({l_cols}) IS DISTINCT FROM row({r_cols})
ORDER BY clinic_id, grain, bucket{order}
"""


def _cells_of(qualified: str) -> str:
    """fin_cells as one row per cell (its rows hold every cell of a bucket in an array)."""
    return (f"(SELECT clinic_no, grain, bucket, (z.i - 1)::int AS cell, z.n AS people FROM {qualified}, "
            f"unnest(people) WITH ORDINALITY AS z(n, i))")


def _diff_sql(schema: str, table: str) -> str:
    if table == "fin_counts":
        cols = ["attached", "active", "insured"]
        return _DIFF_SQL.format(schema=schema, table=table, l_source="public.fin_counts",
                                r_source=f'"{schema}".fin_counts', cols="x.attached, x.active, x.insured",
                                nonzero="(x.attached, x.active, x.insured) <> (0, 0, 0)", keys_out="NULL::int AS cell,",
                                l_cols=", ".join(f"l.{c}" for c in cols), r_cols=", ".join(f"r.{c}" for c in cols),
                                using="", order="")
    return _DIFF_SQL.format(schema=schema, table=table, l_source=_cells_of("public.fin_cells"),
                            r_source=_cells_of(f'"{schema}".fin_cells'), cols="x.cell, x.people", nonzero="x.people <> 0",
                            keys_out="cell,", l_cols="l.people", r_cols="r.people", using=", cell", order=", cell")


async def _fresh_schema(settings: Settings, schema: str) -> None:
    conn = await asyncpg.connect(settings.database_dsn(SERVICE))
    try:
        async with conn.transaction():
            await conn.execute(f'CREATE SCHEMA "{schema}"')
            await conn.execute(f'SET LOCAL search_path TO "{schema}"')
            for table in store.PROJECTION_TABLES:  # the live tables' layout, as the migrations left it
                await conn.execute(f'CREATE TABLE "{table}" (LIKE public."{table}" INCLUDING ALL)')
    finally:
        await conn.close()


async def rebuild(settings: Settings | None = None, *, schema: str | None = None, batch: int | None = None,
                  keep: bool = False, compare: bool = True) -> RebuildReport:
    settings = settings or get_settings()
    batch = batch or settings.consumer_batch
    schema = schema or f"rebuild_{time.strftime('%Y%m%d_%H%M%S')}"
    report = RebuildReport(schema=schema, compared=compare)
    await _fresh_schema(settings, schema)
    pool = await asyncpg.create_pool(settings.database_dsn(SERVICE), min_size=1, max_size=2,
                                     server_settings={"search_path": schema}, command_timeout=600)
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                isolation_level="read_committed", max_partition_fetch_bytes=8 * 1024 * 1024,
                                fetch_max_bytes=64 * 1024 * 1024)
    try:
        await consumer.start()
        # No subscription, so the consumer holds no metadata of its own: ask the cluster.
        cluster = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(settings.topic(t), p) for t in TOPICS
               for p in sorted(cluster.partitions_for_topic(settings.topic(t)) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        report.end_offsets = {(settings.unprefixed(tp.topic), tp.partition): ends[tp] for tp in tps}
        pending = {tp for tp in tps if ends[tp] > 0}
        started = time.perf_counter()
        while pending:
            got = await consumer.getmany(*pending, timeout_ms=1000, max_records=batch)
            with collector_paused():   # as the live consumer applies a batch
                events: list[Event] = []
                for tp, messages in got.items():
                    topic = settings.unprefixed(tp.topic)
                    for m in messages:
                        if m.offset >= ends[tp]:
                            continue
                        try:
                            data = read_event(m.value, topic)
                        except Exception:
                            report.malformed += 1   # the live consumer keeps them in dead_letters
                            continue
                        events.append(Event(topic, tp.partition, m.offset, None, data))
                if events:
                    async with pool.acquire() as conn, conn.transaction():
                        await store.apply_events(conn, events, closed_months=False)
                    report.events += len(events)
                del events, got    # freed before collections resume
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        report.seconds = time.perf_counter() - started
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT topic, partition, next_offset FROM public.consumer_offsets "
                                    "WHERE group_id = $1", settings.group(CONSUMER.group))
            report.live_offsets = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
            for table in ("fin_counts", "fin_cells") if compare else ():
                report.differences += [dict(r) for r in await conn.fetch(_diff_sql(schema, table))]
    finally:
        await consumer.stop()
        if not keep:
            async with pool.acquire() as conn:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await pool.close()
    return report


def _print(report: RebuildReport, show: int) -> None:
    print(f"rebuilt {report.events} events in {report.seconds:.1f} s: {report.rate:,.0f} events/s "
          f"(schema {report.schema}, {report.malformed} malformed skipped)")
    behind = {k: (report.live_offsets.get(k, 0), v) for k, v in report.end_offsets.items()
              if report.live_offsets.get(k, 0) != v}
    if behind:
        print("live consumer is not at the rebuilt offsets (live, rebuilt): "
              + ", ".join(f"{t}/{p}: {a}/{b}" for (t, p), (a, b) in sorted(behind.items())))
    print(f"{len(report.differences)} calendar rows differ" if report.compared else "not compared with the live projection")
    for d in report.differences[:show]:
        print(f"  {d['calendar']} clinic={d['clinic_id']} grain={d['grain']} bucket={d['bucket']} "
              f"cell={d['cell']} live={d['live']} rebuilt={d['rebuilt']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the rebuilt schema")
    parser.add_argument("--batch", type=int, help="events a transaction (default: OSMS_CONSUMER_BATCH)")
    parser.add_argument("--show", type=int, default=20, help="differences to print")
    parser.add_argument("--no-compare", action="store_true",
                        help="only rebuild and time it (a live projection bulk-loaded by a benchmark is not on the topics)")
    args = parser.parse_args(argv)
    report = asyncio.run(rebuild(batch=args.batch, keep=args.keep, compare=not args.no_compare))
    _print(report, args.show)
    if report.differences:
        return 1
    return 0 if report.live_at_same_offsets or not report.compared else 2


def rebuild_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    rebuild_main()
