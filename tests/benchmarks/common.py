"""What a benchmark module returns, and small measuring helpers."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


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
