"""The crash test in its short form (CI): each component killed once under load; nothing that was
answered 2xx is lost or counted twice, and financing equals a recomputation from the sources.
`make chaos` runs the long form (20 kill cycles)."""
from __future__ import annotations

import os

from tests.chaos.chaos import VICTIMS, run


async def test_every_component_killed_once_under_load_loses_and_doubles_nothing():
    cycles = int(os.environ.get("OSMS_CHAOS_CYCLES", len(VICTIMS)))
    report = await run(cycles)
    print("\ncrash test:", {k: v for k, v in report.items() if k != "kills"})
    assert {k["victim"] for k in report["kills"]} >= set(VICTIMS[:cycles])
    assert report["accepted"] > 100
    assert report["lost"] == 0
    assert report["duplicated"] == 0
    assert report["server_errors_500"] == 0
    assert report["person_mismatches"] == []
    assert report["clinic_mismatches"] == {}
    assert report["gave_up"] == 0
