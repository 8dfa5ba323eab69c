"""Benchmarks: the HTTP table (`python -m bench.run`), storage figures and the soak run."""
