"""The suppression list: salted hashes of emails and phones that must not come back.

Hashing uses HMAC-SHA256 keyed with ``SUPPRESSION_SALT``, so the table alone does not reveal who
is in it, while the same address always gives the same hash for look-ups.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction

from contacts.models import Suppression, SuppressionKind


def suppression_hash(kind: SuppressionKind, value: str) -> str:
    """Hash of an already-normalised value (lower-case email, E.164 phone)."""
    key = settings.SUPPRESSION_SALT.encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


@transaction.atomic
def suppress(*, email: str = "", phone: str = "", reason: str) -> None:
    """Add normalised email and/or E.164 phone to the list (idempotent)."""
    for kind, value in ((SuppressionKind.EMAIL, email), (SuppressionKind.PHONE, phone)):
        if value:
            Suppression.objects.get_or_create(
                kind=kind, value_hash=suppression_hash(kind, value), defaults={"reason": reason}
            )


def suppression_reason(*, email: str = "", phone: str = "") -> str | None:
    """Why this normalised email or phone is suppressed, or None."""
    hashes = [
        (kind, suppression_hash(kind, value))
        for kind, value in ((SuppressionKind.EMAIL, email), (SuppressionKind.PHONE, phone))
        if value
    ]
    for kind, value_hash in hashes:
        row = Suppression.objects.filter(kind=kind, value_hash=value_hash).only("reason").first()
        if row:
            return row.reason
    return None


def suppressed_hashes(kind: SuppressionKind, values: Iterable[str]) -> set[str]:
    """The subset of ``values`` (normalised) that are suppressed: one query for a whole batch."""
    by_hash = {suppression_hash(kind, value): value for value in values if value}
    if not by_hash:
        return set()
    if connection.vendor == "postgresql":
        # One array parameter instead of thousands of placeholders: building and parsing an
        # IN list of 5,000 values costs more than the look-up itself.
        table = connection.ops.quote_name(Suppression._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT value_hash FROM {table} WHERE kind = %s AND value_hash = ANY(%s)",  # noqa: S608
                [str(kind), list(by_hash)],
            )
            found = [row[0] for row in cursor.fetchall()]
    else:
        found = Suppression.objects.filter(kind=kind, value_hash__in=list(by_hash)).values_list(
            "value_hash", flat=True
        )
    return {by_hash[h] for h in found}
