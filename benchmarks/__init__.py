"""Runnable performance measurements. `python -m benchmarks [name ...]`; results in benchmarks/README.md."""
