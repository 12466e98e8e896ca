"""The failover test's measure of a pause: the longest time after a kill without an accepted write."""
from __future__ import annotations

from tests.chaos_ha.failover import longest_gap, ports


def test_a_pause_is_counted_from_the_kill_to_the_next_write():
    writes = [0.5, 1.0, 1.2, 4.7, 4.9, 5.3]
    assert longest_gap(writes, start=1.5, end=6.0) == 4.7 - 1.5


def test_writes_before_the_kill_or_after_the_window_do_not_count():
    assert longest_gap([0.0, 1.0, 2.0, 9.0], start=1.5, end=3.0) == 1.0


def test_no_write_until_the_window_ends_is_a_pause_as_long_as_the_window():
    assert longest_gap([0.0, 1.0], start=1.5, end=11.5) == 10.0


def test_the_ports_file_names_every_part_once_and_away_from_the_single_node_ports():
    numbers = [int(p) for value in ports().values() for p in value.replace(",", " ").replace(":", " ").split()
               if p.isdigit()]
    assert len(numbers) == len(set(numbers)) == 3 * 6 + 4 + 8 + 2
    assert not {55432, 19092, 19093, 8001, 8002, 8003, 8004} & set(numbers)
    assert all(p < 32768 for p in numbers)   # below the ephemeral range tests bind in
