"""Benchmarks behind `make bench`.

Run: ``python -m tests.benchmarks [--db sqlite] [--db postgresql] [--only search,segments]
[--quick]`` (``make bench BENCH_ARGS="--only search"``). For each database (SQLite, and
PostgreSQL when it answers; a skipped database is reported) the runner migrates the benchmark
database, then runs every ``bench_*.py`` module of this package in a fresh process with
``DATABASE_URL`` pointing at it, and prints one table (benchmark, database, value, unit, target,
ok) that it also writes to ``bench-results/latest.json``. Missed targets show as MISSED; the exit
status is non-zero only when something crashed.

Benchmark databases: ``var/bench.sqlite3`` and ``postgres://postgres@127.0.0.1:5432/
switchboard_bench`` (``BENCH_PG_URL`` overrides it); ``--quick`` uses ``var/bench-quick.sqlite3``
and ``switchboard_bench_quick`` so a smoke run never wipes the big data set.

Writing a benchmark: add ``tests/benchmarks/bench_<name>.py`` (discovered automatically) with

    DATABASES = ("postgresql",)          # optional; default: both

    def run(ctx: BenchContext) -> list[Result]:
        ...

``ctx.vendor`` is the database vendor, ``ctx.quick`` asks for small data. Django is set up
before ``run`` is called (DEBUG off, plain static storage, "testserver" allowed for the test
client); print freely, results travel separately. ``common.py`` has ``Result``,
``latency_results``, ``time_calls`` and ``percentile``.

Shared data: ``dataset.ensure_contacts(n)`` gives n synthetic contacts with tags, lists and the
``lead_score``/``company`` field values, loaded once and reused by every module (see its
docstring). A module that writes contacts must delete what it added, or the next run reloads
the whole data set. ``dataset.bulk_insert`` and ``dataset.without_secondary_indexes`` are the raw
COPY / executemany helpers used for that load.
"""
