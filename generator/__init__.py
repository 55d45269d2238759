"""Synthetic Sparkify data for the demo, tests and benchmarks (not part of the load path)."""
