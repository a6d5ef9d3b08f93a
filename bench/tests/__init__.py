"""Tests of the benchmarks' own helpers (CPU accounting, layouts, the rate, the portal server)."""
