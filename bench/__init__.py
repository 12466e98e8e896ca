"""Benchmarks and load drivers (not tests)."""
