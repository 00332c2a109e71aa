"""Benchmarks: `make bench` (python -m bench.run_all) writes bench/results/*.json and *.png."""
