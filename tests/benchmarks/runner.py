"""Run every benchmark module against each database and print one table.

The parent process never touches a database itself: for each database it migrates the
benchmark database (``manage.py migrate``), then runs each ``bench_*.py`` module in a fresh
child process (``--child``) with ``DATABASE_URL`` pointing there. The child writes its results
as JSON to a file the parent names, so modules are free to print (query plans, progress).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(__file__).resolve().parent
RESULTS = ROOT / "bench-results" / "latest.json"
VENDORS = ("sqlite", "postgresql")
PG_BASE = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/switchboard_bench")


def database_url(vendor: str, *, quick: bool) -> str:
    """The benchmark databases. --quick uses separate ones so it never wipes the big data set."""
    suffix = "_quick" if quick else ""
    if vendor == "sqlite":
        return f"sqlite:///var/bench{suffix.replace('_', '-')}.sqlite3"
    return PG_BASE + suffix


def discover(only: set[str] | None) -> list[str]:
    names = sorted(p.stem.removeprefix("bench_") for p in PACKAGE.glob("bench_*.py"))
    if only:
        unknown = only - set(names)
        if unknown:
            raise SystemExit(
                f"No benchmark named {', '.join(sorted(unknown))}; have: {', '.join(names)}"
            )
        names = [n for n in names if n in only]
    return names


def postgres_reachable(url: str) -> str | None:
    """None when the server answers (creating the benchmark database if needed), else why not."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        return "psycopg is not installed"
    base, _, name = url.rpartition("/")
    try:
        with psycopg.connect(base + "/postgres", connect_timeout=3, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {base}: {str(exc).strip().splitlines()[0]}"
    return None


def child_env(url: str) -> dict[str, str]:
    # DEBUG off: with it on Django keeps every query in memory and times would include that.
    # LOG_LEVEL: keep the login and request chatter of other apps out of the table.
    return {**os.environ, "DATABASE_URL": url, "DEBUG": "false", "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING")}  # fmt: skip


def run_module(name: str, url: str, vendor: str, *, quick: bool) -> tuple[list[dict], str]:
    """(results, problem) for one module on one database; problem is "" when it finished."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    try:
        command = [sys.executable, "-m", "tests.benchmarks.runner", "--child", name]
        command += ["--out", str(out)] + (["--quick"] if quick else [])
        completed = subprocess.run(command, cwd=ROOT, env=child_env(url), check=False)  # noqa: S603
        payload = json.loads(out.read_text() or "null")
    finally:
        out.unlink(missing_ok=True)
    if completed.returncode != 0 or payload is None:
        return [], f"crashed (exit {completed.returncode})"
    for row in payload["results"]:
        row["db"] = vendor
    return payload["results"], payload.get("skipped", "")


def child(name: str, out: Path, *, quick: bool) -> int:
    """Inside the fresh process: set Django up, run one module, write its results."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django
    from django.conf import settings

    django.setup()
    # Pages are rendered without collectstatic, and the test client's host must be allowed.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    import importlib

    from django.db import connection

    from tests.benchmarks.common import BenchContext

    module = importlib.import_module(f"tests.benchmarks.bench_{name}")
    allowed = getattr(module, "DATABASES", VENDORS)
    if connection.vendor not in allowed:
        out.write_text(json.dumps({"results": [], "skipped": f"runs on {', '.join(allowed)} only"}))
        return 0
    results = module.run(BenchContext(vendor=connection.vendor, quick=quick))
    out.write_text(json.dumps({"results": [r.as_dict() for r in results]}))
    return 0


def format_value(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: list[dict]) -> str:
    headers = ["benchmark", "database", "value", "unit", "target", "ok"]
    lines = [
        [
            row["name"],
            row["db"],
            format_value(row["value"]),
            row["unit"],
            row["target"],
            {True: "yes", False: "MISSED", None: ""}[row["ok"]],
            row.get("note", ""),
        ]
        for row in rows
    ]
    widths = [max([len(h)] + [len(line[i]) for line in lines]) for i, h in enumerate(headers)]
    right = {2}  # numbers right-aligned

    def fmt(cells: list[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        ]
        note = cells[6] if len(cells) > 6 and cells[6] else ""
        return ("  ".join(parts) + (f"  {note}" if note else "")).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(headers), rule, *(fmt(line) for line in lines)])


def cpu_probe() -> float:
    """Seconds this machine takes for a fixed piece of pure Python (best of three). Virtual
    machines slow down and speed up by half or more within minutes; printed beside each
    benchmark, it tells a slow code path from a slow spell."""
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        sum(i * i for i in range(2_000_000))
        best = min(best, time.perf_counter() - start)
    return best


def migrate(url: str) -> bool:
    command = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
    return subprocess.run(command, cwd=ROOT, env=child_env(url), check=False).returncode == 0  # noqa: S603


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__)
    parser.add_argument("--db", action="append", choices=VENDORS, help="repeatable; default both")
    parser.add_argument("--only", help="comma-separated benchmark names, e.g. search,segments")
    parser.add_argument("--quick", action="store_true", help="small data: a smoke run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.out, quick=args.quick)

    names = discover({n.strip() for n in args.only.split(",") if n.strip()} if args.only else None)
    started = dt.datetime.now(dt.UTC)
    rows: list[dict] = []
    notes: list[str] = []
    probes: list[dict] = []
    crashed = False
    for vendor in args.db or VENDORS:
        url = database_url(vendor, quick=args.quick)
        if vendor == "postgresql" and (why := postgres_reachable(url)):
            notes.append(f"postgresql skipped: {why}")
            print(f"== {notes[-1]}", flush=True)
            continue
        print(f"== {vendor}: migrating {url}", flush=True)
        if not migrate(url):
            notes.append(f"{vendor}: migrate failed, benchmarks not run")
            crashed = True
            continue
        for name in names:
            probe = cpu_probe()
            probes.append({"db": vendor, "benchmark": name, "seconds": round(probe, 3)})
            print(f"== {vendor}: {name} (cpu probe {probe:.3f} s)", flush=True)
            start = time.perf_counter()
            try:
                results, problem = run_module(name, url, vendor, quick=args.quick)
            except Exception:  # the harness itself failing is a crash too
                traceback.print_exc()
                results, problem = [], "crashed in the runner"
            rows += results
            if problem:
                notes.append(f"{name} on {vendor}: {problem}")
                crashed = crashed or problem.startswith("crashed")
            print(f"== {vendor}: {name} done in {time.perf_counter() - start:.0f}s", flush=True)

    print()
    print(table(rows) if rows else "No results.")
    for note in notes:
        print(f"note: {note}")
    if probes:
        spread = [p["seconds"] for p in probes]
        print(
            f"cpu probe (the same pure Python before each benchmark; lower is faster): "
            f"{min(spread):.3f}-{max(spread):.3f} s"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "started_at": started.isoformat(),
                "finished_at": dt.datetime.now(dt.UTC).isoformat(),
                "quick": args.quick,
                "notes": notes,
                "cpu_probes": probes,
                "results": rows,
            },
            indent=2,
        )
    )
    print(f"Results written to {RESULTS.relative_to(ROOT)}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
