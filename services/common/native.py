"""The native core (native/, Rust via pyo3): the hot paths by concept (calendar arithmetic, person
histories, calendar deltas, SQL array literals, the Kafka partitioner, UUIDs, outbox packing, event
decoding, the visits body, the IIN check). Import it from here: in a checkout, a build older than its sources is refused."""
from __future__ import annotations

from pathlib import Path

import osms_native


def refuse_a_stale_build(module, root: Path = Path(__file__).resolve().parents[2] / "native") -> None:
    """In a checkout, the module must have been built from the sources beside it (native/build.rs
    stamps the same hash): a stale build would compute yesterday's rules without a word."""
    if not (root / "src").is_dir():
        return      # an installed package without the sources: nothing to compare
    names = sorted(["Cargo.toml", "build.rs"] + [f"src/{f.name}" for f in (root / "src").glob("*.rs")])
    h = 0xCBF29CE484222325
    for name in names:
        for b in name.encode() + b"\0" + (root / name).read_bytes():
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    if f"{h:016x}" != module.SOURCE_HASH:
        raise ImportError("osms_native was built from other sources than native/ holds: run `make install`")


refuse_a_stale_build(osms_native)

__all__ = ["osms_native", "refuse_a_stale_build"]
