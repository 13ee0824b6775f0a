"""Benchmark scenarios, one per module; see :mod:`benchmarks.registry`."""
