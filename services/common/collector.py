"""Python's garbage collector tuned for osms, in one place: thresholds and a frozen start-up for
every process, and a pause while a consumer's batch is applied."""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def tune_gc() -> None:
    """Called once a process has started: what is loaded by then lives as long as the process, so the
    collector stops rescanning it (freeze), and young objects are collected less often: a consumer
    batch or a 1,000-visit request allocates hundreds of thousands of short-lived objects, and the
    default threshold spent a large share of their time in collections (docs/performance.md).
    Garbage that is not a cycle is freed at once whatever the threshold."""
    gc.collect()    # garbage of the start-up is not frozen with the rest
    gc.freeze()
    gc.set_threshold(200_000, 20, 100)


_gc_pauses = 0
_gc_was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a batch is decoded and applied. A batch's hundreds of
    thousands of objects (messages, events, rows read back) stay alive until it ends, and reference
    counting frees them then; a collection in between only walks them again and again. Collections
    run as before between batches, and catch any cycle a batch left. Counted, so that consumers sharing a process pause it together."""
    global _gc_pauses, _gc_was_enabled
    if _gc_pauses == 0:
        _gc_was_enabled = gc.isenabled()
        gc.disable()
    _gc_pauses += 1
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0 and _gc_was_enabled:
            gc.enable()
