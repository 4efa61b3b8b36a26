"""Benchmarks: `pytest benchmarks/ --benchmark-only` (timings are measured, never asserted)."""
