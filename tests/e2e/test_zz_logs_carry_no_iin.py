"""Runs last in the end-to-end suite (by its name): every log the services wrote during this run
is searched for a full IIN. None may be there: IINs are masked as 9001********."""
from __future__ import annotations

import os
import re

from services.common.ids import is_valid_iin
from bench.processes import LOGS

TWELVE_DIGITS = re.compile(rb"(?<!\d)\d{12}(?!\d)")


def test_no_log_line_of_this_run_carries_a_full_iin():
    prefix = os.environ["OSMS_TOPIC_PREFIX"]
    logs = sorted(p for p in LOGS.glob(f"{prefix}*.log"))
    assert logs, "the end-to-end tests wrote no service log to search"
    found = []
    lines = 0
    for path in logs:
        for line in path.read_bytes().splitlines():
            lines += 1
            found += [(path.name, m.decode()) for m in TWELVE_DIGITS.findall(line) if is_valid_iin(m.decode())]
    assert lines > 50, "too little was logged for this check to mean anything"
    assert not found, f"full IINs in logs: {found[:5]}"
    # And the masked form is there: the services did log about people.
    assert any(b"********" in p.read_bytes() for p in logs)
