"""Benchmarks run against the in-process fakes (``python -m bench.<name>``)."""
