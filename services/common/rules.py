"""Rule tables the Fund's administrators publish: versioned data in each service's own database.

A rule table (МЗП, rates, visit kinds, the working-day calendar...) is a list of versions, each in
force from its `effective_from` until the next one, with its legal basis and who published it. A
version is never edited (the database refuses it): a correction is a new version. The store keeps
a snapshot of every version in memory and hands the version in force to the pure domain rules,
which never read the database or the clock.

A table with `span="year"` publishes values for one calendar year at a time (МЗП, the average
wage, the calendar): past the end of the last published year its latest version is carried
forward and marked provisional, so intake never stops for want of next year's figures.
"""
from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

import asyncpg
from fastapi import APIRouter, Depends, Path as PathParam, Query, Request
from prometheus_client import Gauge
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from services.common import clock
from services.common.auth import Auth, allow
from services.common.inputs import Day
from services.common.logs import get_logger
from services.common.problems import conflict, conflicts, invalid, not_found

log = get_logger(__name__)

EARLIEST = date(2020, 1, 1)      # the services take records from 2020 on
FAR_AHEAD_MONTHS = 24            # a date further ahead than this is refused, not carried
HORIZON_WARNING_DAYS = 60
CACHE_SECONDS = 2.0              # another instance's publication is seen within this long

HORIZON = Gauge("osms_rules_horizon_days", "Days until the last published period of a rule table ends",
                ["table"], multiprocess_mode="max")

# --- value types for rule tables ----------------------------------------------------------------

_DECIMAL_RE = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def _decimal_string(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if not isinstance(value, str) or not _DECIMAL_RE.fullmatch(value) or len(value) > 30:
        raise ValueError('a decimal as a string of ASCII digits, such as "0.02" or "85000.00"')
    return Decimal(value)


Dec = Annotated[Decimal, BeforeValidator(_decimal_string)]
Rate = Annotated[Decimal, BeforeValidator(_decimal_string), Field(ge=0, lt=1)]


class Values(BaseModel):
    """Base of every table's values: unknown fields are refused, so a typo is not silently ignored."""
    model_config = ConfigDict(extra="forbid", frozen=True)


V = TypeVar("V", bound=Values)


class LegalBasis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    act: str = Field(min_length=3, max_length=500, description="the act: law, order, decree")
    number: str = Field(min_length=1, max_length=100, description="its number")
    date: Day = Field(description="its date")
    url: str = Field(pattern=r"^https?://[^\s]{3,500}$", description="where to read it")


class RulesUsed(BaseModel):
    """The fields of an answer computed from rules (their values: rules_fields)."""
    rules_version: str = Field(description="the rule versions the answer was computed from, table@effective_from")
    rules_provisional: bool = Field(description="true when a value was carried past the last published year")
    rules_carried_from: int | None = Field(default=None, description="the year carried values were published for")


class PublishIn(BaseModel):
    effective_from: Day
    values: dict[str, Any]
    legal_basis: LegalBasis
    note: str = Field(default="", max_length=4000,
                      description="why this version; where the law is unclear, the project's decision")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "effective_from": "2027-01-01", "values": {"amount": "85000.00"}, "note": "МЗП for 2027",
        "legal_basis": {"act": "Закон РК «О республиканском бюджете на 2027–2029 годы»", "number": "…",
                        "date": "2026-12-05", "url": "https://adilet.zan.kz/rus/docs/Z2600000001"}}]})


@dataclass(frozen=True)
class RuleTable(Generic[V]):
    name: str
    description: str
    model: type[V]
    span: Literal["year"] | None = None
    # False: a version never applies to another year than its own (a calendar): past the published
    # years nothing is in force, and the domain decides what to do without data.
    carry: bool = True
    # Cross-field checks of a whole version: (values, effective_from) -> errors [{"loc", "msg"}].
    check: Callable[[V, date], list[dict[str, Any]]] | None = None


@dataclass(frozen=True)
class RuleVersion(Generic[V]):
    table: str
    effective_from: date
    values: V
    legal_basis: dict[str, Any]
    note: str
    published_by: str
    published_at: datetime

    @property
    def version(self) -> str:
        return version_id(self.table, self.effective_from)

    def summary(self) -> dict[str, Any]:
        return {"version": self.version, "effective_from": self.effective_from, "legal_basis": self.legal_basis,
                "note": self.note, "published_by": self.published_by, "published_at": self.published_at}


def version_id(table: str, effective_from: date) -> str:
    return f"{table}@{effective_from.isoformat()}"


@dataclass(frozen=True)
class InForce(Generic[V]):
    """The version in force on a date; `provisional` when the date is past the last published year
    and the values were carried from `carried_from`."""
    version: RuleVersion[V]
    provisional: bool = False
    carried_from: int | None = None

    @property
    def values(self) -> V:
        return self.version.values


def rules_fields(*used: InForce) -> dict[str, Any]:
    """What an answer computed from these versions says of them."""
    carried = [u.carried_from for u in used if u.provisional]
    out: dict[str, Any] = {"rules_version": "+".join(u.version.version for u in used),
                           "rules_provisional": bool(carried)}
    if carried:
        out["rules_carried_from"] = min(carried)
    return out


def year_end(d: date) -> date:
    return date(d.year, 12, 31)


@dataclass(frozen=True)
class RuleSnapshot:
    tables: dict[str, RuleTable]
    versions: dict[str, tuple[RuleVersion, ...]]  # by table, in effective_from order
    seq: int = 0

    def all(self, table: str) -> tuple[RuleVersion, ...]:
        return self.versions.get(table, ())

    def in_force(self, table: str, on: date) -> InForce | None:
        """The version in force on `on`, or None before the table's first version."""
        chosen = None
        for v in self.all(table):
            if v.effective_from <= on:
                chosen = v
            else:
                break
        if chosen is None:
            return None
        if not self.tables[table].carry and chosen.effective_from.year != on.year:
            return None
        last = self.published_until(table)
        if last is not None and on > last:
            return InForce(chosen, provisional=True, carried_from=chosen.effective_from.year)
        return InForce(chosen)

    def published_until(self, table: str) -> date | None:
        """The last day the table's published values are for (None: in force until replaced)."""
        versions = self.all(table)
        if not versions or self.tables[table].span != "year":
            return None
        return year_end(versions[-1].effective_from)


def months_between(earlier: date, later: date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def too_far_ahead(on: date, today: date) -> bool:
    """Rules are carried forward at most FAR_AHEAD_MONTHS past today; further is refused."""
    return months_between(today, on) > FAR_AHEAD_MONTHS


def refuse_far_ahead(on: date, today: date, loc: list) -> None:
    if too_far_ahead(on, today):
        raise invalid(f"{on} is more than {FAR_AHEAD_MONTHS} months ahead: no rules are carried that far",
                      errors=[{"loc": loc, "msg": f"more than {FAR_AHEAD_MONTHS} months after today"}])


# --- the store -----------------------------------------------------------------------------------

CountRecords = Callable[[asyncpg.Connection, str, date], Awaitable[int]]


def _parse_row(tables: dict[str, RuleTable], row) -> RuleVersion | None:
    table = tables.get(row["rule_table"])
    if table is None:  # a table this code no longer knows: kept in the database, not used
        return None
    return RuleVersion(table.name, row["effective_from"], table.model.model_validate(row["vals"]),
                       row["legal_basis"], row["note"], row["published_by"], row["published_at"])


async def load_snapshot(conn: asyncpg.Connection, tables: dict[str, RuleTable]) -> RuleSnapshot:
    rows = await conn.fetch("SELECT seq, rule_table, effective_from, vals, legal_basis, note, published_by, "
                            "published_at FROM rule_versions ORDER BY rule_table, effective_from")
    by_table: dict[str, list[RuleVersion]] = {name: [] for name in tables}
    for row in rows:
        v = _parse_row(tables, row)
        if v is not None:
            by_table[v.table].append(v)
    seq = max((r["seq"] for r in rows), default=0)
    return RuleSnapshot(tables, {k: tuple(v) for k, v in by_table.items()}, seq)


@dataclass
class RuleStore:
    pool: asyncpg.Pool
    tables: dict[str, RuleTable]
    count_records: CountRecords | None = None
    _snapshot: RuleSnapshot | None = None
    _checked: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def snapshot(self) -> RuleSnapshot:
        """Every version of this service's tables; re-read when another process published one."""
        now = time.monotonic()
        snap = self._snapshot
        if snap is not None and now - self._checked < CACHE_SECONDS:
            return snap
        async with self._lock:
            if self._snapshot is not None and time.monotonic() - self._checked < CACHE_SECONDS:
                return self._snapshot
            async with self.pool.acquire() as conn:
                seq = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM rule_versions")
                if self._snapshot is None or seq != self._snapshot.seq:
                    self._snapshot = await load_snapshot(conn, self.tables)
            self._checked = time.monotonic()
            return self._snapshot

    async def publish(self, table: RuleTable, body: PublishIn, published_by: str) -> tuple[RuleVersion, int]:
        values = validate_version(table, body)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                try:
                    row = await conn.fetchrow(
                        "INSERT INTO rule_versions (rule_table, effective_from, vals, legal_basis, note, published_by) "
                        "VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq, rule_table, effective_from, vals, legal_basis, "
                        "note, published_by, published_at",
                        table.name, body.effective_from, values.model_dump(mode="json"),
                        body.legal_basis.model_dump(mode="json"), body.note, published_by)
                except asyncpg.UniqueViolationError:
                    raise conflict("rule_version_exists",
                                   f"{table.name} already has a version effective from {body.effective_from}: "
                                   "versions are never edited; publish a correction with a later effective date"
                                   ) from None
                records = await self.count_records(conn, table.name, body.effective_from) \
                    if self.count_records else 0
        self._checked = 0.0  # the next read sees it
        version = _parse_row(self.tables, row)
        assert version is not None
        log.info("rule version published", table=table.name, version=version.version, by=published_by)
        update_horizon(await self.snapshot(), clock.today())
        return version, records


def validate_version(table: RuleTable, body: PublishIn) -> Values:
    """The whole version checked before anything is written: 422 naming every problem."""
    errors: list[dict[str, Any]] = []
    if body.effective_from < EARLIEST:
        errors.append({"loc": ["body", "effective_from"], "msg": f"versions take effect from {EARLIEST} on"})
    values = None
    try:
        values = table.model.model_validate(body.values)
    except ValidationError as exc:
        errors += [{"loc": ["body", "values", *e["loc"]], "msg": e["msg"]} for e in exc.errors()]
    if values is not None and table.check is not None:
        errors += [{**e, "loc": ["body", "values", *e["loc"]]} for e in table.check(values, body.effective_from)]
    if errors or values is None:
        raise invalid(f"the {table.name} version is rejected; nothing was written", errors=errors)
    return values


def update_horizon(snap: RuleSnapshot, today: date) -> list[tuple[str, int]]:
    """Sets the horizon gauge per year-span table; returns the tables under the warning threshold."""
    short = []
    for name in snap.tables:
        until = snap.published_until(name)
        if until is None:
            continue
        days = (until - today).days
        HORIZON.labels(name).set(days)
        if days < HORIZON_WARNING_DAYS:
            short.append((name, days))
    return short


async def check_horizon(store: RuleStore) -> bool:
    """The gauge, and a warning per table whose published values end within HORIZON_WARNING_DAYS."""
    try:
        for name, days in update_horizon(await store.snapshot(), clock.today()):
            log.warning("rule table's published values end soon: publish the next period",
                        table=name, horizon_days=days)
        return True
    except Exception as exc:  # the database is down: the service goes on, the check is retried
        log.warning("rules horizon not checked", error=repr(exc))
        return False


async def watch_horizon(store: RuleStore) -> None:
    """After the start-up check: daily (an hour after a failed check)."""
    pause = 24 * 3600
    while True:
        await asyncio.sleep(pause)
        pause = 24 * 3600 if await check_horizon(store) else 3600


# --- the admin API -------------------------------------------------------------------------------

class VersionOut(BaseModel):
    table: str
    version: str
    effective_from: date
    values: dict[str, Any]
    legal_basis: dict[str, Any]
    note: str
    published_by: str
    published_at: datetime
    rules_provisional: bool = False
    rules_carried_from: int | None = None
    records_on_or_after: int | None = None


class VersionSummary(BaseModel):
    version: str
    effective_from: date
    legal_basis: dict[str, Any]
    note: str
    published_by: str
    published_at: datetime


class TableOut(BaseModel):
    table: str
    description: str
    span: str | None
    published_until: date | None
    versions: list[VersionSummary]


class TablesOut(BaseModel):
    tables: list[TableOut]


def _store(request: Request) -> RuleStore:
    return request.app.state.ctx.rules


async def rule_snapshot(request: Request) -> RuleSnapshot:
    """A route dependency: the service's rule versions as they stand now."""
    return await request.app.state.ctx.rules.snapshot()


Rules = Annotated[RuleSnapshot, Depends(rule_snapshot)]


def _table(store: RuleStore, name: str) -> RuleTable:
    table = store.tables.get(name)
    if table is None:
        raise not_found("rule table", f"no rule table {name!r} here; tables: {', '.join(sorted(store.tables))}")
    return table


def _version_out(v: RuleVersion, **extra: Any) -> dict[str, Any]:
    return {"table": v.table, "version": v.version, "effective_from": v.effective_from,
            "values": v.values.model_dump(mode="json"), "legal_basis": v.legal_basis, "note": v.note,
            "published_by": v.published_by, "published_at": v.published_at, **extra}


TableName = Annotated[str, PathParam(pattern=r"^[a-z][a-z_]{1,40}$", description="a rule table of this service")]


def rules_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["rules"])

    @router.get("/rules", response_model=TablesOut, summary="Rule tables and their versions")
    async def list_rule_tables(request: Request) -> dict:
        """Every rule table of this service with its versions and legal bases (values: one table at a time)."""
        store = _store(request)
        snap = await store.snapshot()
        return {"tables": [{"table": t.name, "description": t.description, "span": t.span,
                            "published_until": snap.published_until(t.name),
                            "versions": [v.summary() for v in snap.all(t.name)]}
                           for t in store.tables.values()]}

    @router.get("/rules/{table}", response_model=VersionOut, summary="The version of a rule table in force",
                responses={404: {"description": "unknown table, or no version in force on that date"}})
    async def get_rule_version(request: Request, table: TableName,
                        on: Annotated[Day | None, Query(description="YYYY-MM-DD; defaults to today")] = None
                        ) -> dict:
        """The version in force on a date, with its values; provisional past the last published year."""
        store = _store(request)
        t = _table(store, table)
        on = on or clock.today()
        found = (await store.snapshot()).in_force(t.name, on)
        if found is None:
            raise not_found("rule version", f"no {t.name} version is in force on {on}")
        return _version_out(found.version, rules_provisional=found.provisional,
                            rules_carried_from=found.carried_from)

    @router.post("/rules/{table}", response_model=VersionOut, status_code=201, dependencies=[allow("admin")],
                 summary="Publish a new version of a rule table (admin)",
                 responses={404: {"description": "unknown table"},
                            **conflicts("rule_version_exists", description="a version with this effective date exists")})
    async def publish_rule_version(request: Request, table: TableName, body: PublishIn, principal: Auth) -> dict:
        """Validated whole before anything is written. The answer says how many records already
        accepted fall on or after the effective date: they keep the amounts they were given."""
        store = _store(request)
        t = _table(store, table)
        version, records = await store.publish(t, body, f"key {principal.key_id} ({principal.role})")
        return _version_out(version, records_on_or_after=records)

    return router


__all__ = ["Dec", "EARLIEST", "InForce", "Rate", "RuleSnapshot", "RuleStore", "RuleTable",
           "RuleVersion", "Rules", "RulesUsed", "Values", "refuse_far_ahead", "rules_fields", "rules_router", "too_far_ahead",
           "watch_horizon"]
