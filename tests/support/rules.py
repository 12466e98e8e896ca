"""Rule snapshots built from a test's own values, for unit tests of pure rules (no database)."""
from __future__ import annotations

from datetime import date, datetime, timezone

from services.common.rules import RuleSnapshot, RuleTable, RuleVersion

PUBLISHED_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)


def snapshot_of(tables: dict[str, RuleTable], versions: dict[str, list[tuple[str | date, dict]]]) -> RuleSnapshot:
    """`versions`: table -> [(effective_from, values), ...]; every value is validated by its table's model."""
    built = {}
    for name, rows in versions.items():
        model = tables[name].model
        days = sorted(((d if isinstance(d, date) else date.fromisoformat(d)), values) for d, values in rows)
        built[name] = tuple(RuleVersion(name, eff, model.model_validate(values), {}, "", "test", PUBLISHED_AT)
                            for eff, values in days)
    return RuleSnapshot(tables, {name: built.get(name, ()) for name in tables})
