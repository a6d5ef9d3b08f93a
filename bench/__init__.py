"""Benchmarks: each reports a ratio measured side by side in one run (machines here are noisy)."""
