"""Benchmarks: scripts that print their figures and RESULT lines (docs/performance.md)."""
