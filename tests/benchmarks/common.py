"""What a benchmark module returns, and small measuring helpers."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Result:
    name: str  # "search p95, email prefix"
    value: float
    unit: str  # "ms", "rows/s", "msg/s", "MB", "ratio", "s"
    target: str = ""  # "<= 50", ">= 30000", "" when informational
    db: str = ""  # "sqlite" / "postgresql"; filled in by the runner
    note: str = ""

    @property
    def ok(self) -> bool | None:
        if not self.target:
            return None
        op, _, bound = self.target.partition(" ")
        limit = float(bound)
        return self.value <= limit if op == "<=" else self.value >= limit

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


@dataclass
class BenchContext:
    vendor: str  # django connection.vendor of the benchmark database
    quick: bool  # --quick: smaller data, for a smoke run of the harness itself


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def time_calls(fn: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds per call of ``fn`` over ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def latency_results(
    label: str, samples: list[float], target_p95: float | None = None
) -> list[Result]:
    return [
        Result(f"{label} p50", statistics.median(samples), "ms"),
        Result(
            f"{label} p95", percentile(samples, 95), "ms", f"<= {target_p95}" if target_p95 else ""
        ),
    ]


class CpuMeter:
    """CPU time (user + system) spent by groups of processes between two readings (Linux):
    ``processes`` maps a group's name to a test on a process's pid and command name.

    On a shared two-core machine throughput swings with whatever else runs; the CPU each
    request costs the server, the database and the load generator moves far less, and says
    where the time goes.
    """

    def __init__(self, processes: dict[str, Callable[[int, str], bool]]):
        self.processes = processes
        self.tick = os.sysconf("SC_CLK_TCK")
        self.start = self._read()

    def _read(self) -> dict[str, float]:
        spent = dict.fromkeys(self.processes, 0.0)
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:  # the process ended meanwhile
                continue
            name, _, rest = text.partition(" (")[2].rpartition(") ")
            fields = rest.split()
            for group, belongs in self.processes.items():
                if belongs(int(stat.parent.name), name):
                    spent[group] += (int(fields[11]) + int(fields[12])) / self.tick
                    break
        return spent

    def per_call_ms(self, calls: int) -> dict[str, float]:
        """Milliseconds of CPU per call, by group, since the meter was made."""
        end = self._read()
        return {group: (end[group] - self.start[group]) / calls * 1000 for group in end}
