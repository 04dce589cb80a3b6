"""Benchmarks behind `make bench`.

Each ``bench_*.py`` module in this package exposes ``run(ctx: BenchContext) -> list[Result]``.
The runner (``python -m tests.benchmarks``) runs every module once per database (SQLite, and
PostgreSQL when reachable) in a fresh process with ``DATABASE_URL`` pointing at a dedicated
benchmark database, then prints one table of every figure with its target.
"""
