"""Segment count at 1,000,000 contacts: a three-condition rule (tag + phone country + number).

The rule is compiled by ``contacts.segments.rules`` exactly as the segment list and builder
use it, and counted with one query. The query plan is printed so index use is visible.
"""

from __future__ import annotations

import os

from django.db import connection

from contacts.models import Contact
from contacts.segments.rules import compile_rules
from tests.benchmarks.common import BenchContext, Result, latency_results, time_calls
from tests.benchmarks.dataset import ensure_contacts

N = 1_000_000
QUICK_N = 20_000
REPEAT = 15
TARGET_MS = {"postgresql": 300, "sqlite": 1000}


def run(ctx: BenchContext) -> list[Result]:
    n = QUICK_N if ctx.quick else N
    data = ensure_contacts(n)
    rules = {
        "all": [
            {"field": "tag", "op": "has", "value": data.tag_ids["VIP"]},
            {"field": "phone_country", "op": "equals", "value": "GB"},
            {"field": f"custom:{data.field_ids['lead_score']}", "op": "gt", "value": 50},
        ]
    }
    members = Contact.objects.filter(compile_rules(rules))
    print(f"segments: rule {rules}")
    print(f"segments: SQL {members.values('pk').query}")
    analyze = {"analyze": True} if connection.vendor == "postgresql" else {}
    print("segments: plan\n" + members.values("pk").explain(**analyze))

    counted = members.count()
    time_calls(members.count, 2)  # warm the cache: the figure is for a page viewed twice
    samples = time_calls(members.count, 3 if ctx.quick else REPEAT)
    results = latency_results(
        "segment count, tag + phone country + lead_score", samples, TARGET_MS[ctx.vendor]
    )

    # What the builder's preview does on each edit: the count plus the first ten members.
    first = members.order_by("-updated_at", "-id")
    preview = time_calls(lambda: list(first[:10]), 3 if ctx.quick else REPEAT)
    results += latency_results("segment preview, first 10 members", preview)
    # Two cores shared with other work make timings noisy; the load says how noisy.
    load = os.getloadavg()[0]
    for result in results:
        result.note = f"{n:,} contacts, {counted:,} match, load avg {load:.1f}"
    return results
