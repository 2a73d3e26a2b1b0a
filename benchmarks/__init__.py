"""Benchmarks run by `make bench`; each prints JSON figures next to a plain baseline."""
