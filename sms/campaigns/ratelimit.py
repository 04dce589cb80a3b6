"""A per-gateway send rate shared by every worker process, through the database.

Time is cut into slots of ``1/rate`` seconds. A worker about to send ``n`` messages takes the
next ``n`` slots with one UPDATE (``next_slot = max(next_slot, now) + n/rate``), which the
database serialises per row, then sends each message at its slot. However many workers share
the gateway, no two get the same slot, so over any minute the provider sees at most
``rate × 60`` messages (plus the few already in flight when the rate changes).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Value, When

from sms.campaigns.models import RateBucket


def rate_for(gateway: str) -> float | None:
    rate = settings.SMS_RATE_LIMITS.get(gateway)
    return rate if rate and rate > 0 else None


def take_slots(gateway: str, count: int, *, rate: float | None = None) -> list[float]:
    """Unix times at which each of ``count`` messages may go (empty: no limit)."""
    rate = rate or rate_for(gateway)
    if rate is None or count <= 0:
        return []
    step = 1.0 / rate
    span = count * step
    RateBucket.objects.get_or_create(gateway=gateway)
    with transaction.atomic():
        now = time.time()
        RateBucket.objects.filter(gateway=gateway).update(
            next_slot=Case(
                When(next_slot__lt=now, then=Value(now + span)), default=F("next_slot") + span
            )
        )
        end = RateBucket.objects.filter(gateway=gateway).values_list("next_slot", flat=True)[0]
    start = end - span
    return [start + i * step for i in range(count)]


def push_back(gateway: str, seconds: float) -> None:
    """The provider said "too busy" (429): nobody sends to it for ``seconds``."""
    RateBucket.objects.get_or_create(gateway=gateway)
    later = time.time() + seconds
    RateBucket.objects.filter(gateway=gateway, next_slot__lt=later).update(next_slot=later)
