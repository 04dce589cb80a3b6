"""Credits: prices per segment per country, the ledger, and a balance that never goes negative.

The balance lives in one row. A reservation is a single conditional UPDATE
(``balance = balance - x WHERE balance >= x``), which the database serialises per row, so however
many workers reserve at once none can take the balance below zero; each reservation writes a
ledger entry in the same transaction, so the ledger always sums to the balance.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

import phonenumbers
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from dashboard import audit
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from sms.models import CreditAccount, CreditEntry, EntryKind, Message, Price

# Credits per segment. One credit is one unit of account (say, one euro); "*" is every other
# country. The data migration seeds these; admins edit them on the Credits page.
DEFAULT_PRICES = {
    "GB": "0.0400", "IE": "0.0700", "US": "0.0100", "CA": "0.0100", "FR": "0.0750",
    "DE": "0.0850", "ES": "0.0650", "IT": "0.0700", "NL": "0.0900", "BE": "0.0800",
    "PT": "0.0400", "PL": "0.0350", "SE": "0.0600", "AU": "0.0550", "IN": "0.0100",
    "*": "0.1000",
}  # fmt: skip
MAX_TOP_UP = Decimal("1000000")
ACCOUNT_ID = 1


def _actor_fields(actor: Actor) -> dict:
    return {
        "actor_kind": actor.kind,
        "actor_user_id": actor.user_id,
        "actor_ref": actor.ref,
        "actor_label": actor.label,
    }


def ensure_account() -> None:
    CreditAccount.objects.get_or_create(pk=ACCOUNT_ID)


def ensure_default_prices() -> None:
    for country, price in DEFAULT_PRICES.items():
        Price.objects.get_or_create(country=country, defaults={"per_segment": Decimal(price)})


def get_balance() -> Decimal:
    row = CreditAccount.objects.filter(pk=ACCOUNT_ID).values_list("balance", flat=True).first()
    return row if row is not None else Decimal("0")


def price_per_segment(country: str) -> Decimal:
    prices = dict(
        Price.objects.filter(country__in=[country.upper(), "*"]).values_list(
            "country", "per_segment"
        )
    )
    price = prices.get(country.upper(), prices.get("*"))
    if price is None:
        raise SwitchboardError(
            "no_price",
            f"There is no SMS price for {country or 'this country'}; an admin can add one on the "
            "Credits page.",
        )
    return price


def prices_for(countries: Iterable[str]) -> dict[str, Decimal]:
    """Per-segment price for each country, in one query (campaigns price many at once)."""
    wanted = {c.upper() for c in countries}
    rows = dict(
        Price.objects.filter(country__in=[*wanted, "*"]).values_list("country", "per_segment")
    )
    return {c: rows[c] if c in rows else rows.get("*") for c in wanted}  # type: ignore[misc]


def shortfall(*, needed: Decimal, balance: Decimal) -> SwitchboardError:
    """The ``insufficient_credits`` error: for a send refused now, or warned of in a preview."""
    return SwitchboardError(
        "insufficient_credits",
        f"Not enough credits: this needs {needed.normalize():f}, the balance is "
        f"{balance.normalize():f}. An admin can top up on the Credits page.",
        needed=str(needed),
        balance=str(balance),
    )


def reserve(*, messages: list[Message], actor: Actor) -> None:
    """Charge these just-created messages in the caller's transaction, or refuse them all.

    One conditional UPDATE for the total; one ledger entry per message.
    """
    total = sum((m.price for m in messages), Decimal("0"))
    if total <= 0:
        return
    ensure_account()
    taken = CreditAccount.objects.filter(pk=ACCOUNT_ID, balance__gte=total).update(
        balance=F("balance") - total
    )
    if not taken:
        raise shortfall(needed=total, balance=get_balance())
    now = timezone.now()
    CreditEntry.objects.bulk_create(
        [
            CreditEntry(
                kind=EntryKind.CHARGE, amount=-m.price, message=m, created_at=now,
                note=f"{m.segments} segment(s) to {m.country or '?'}", **_actor_fields(actor),
            )
            for m in messages
            if m.price
        ]
    )  # fmt: skip


def refund(*, messages: list[Message], actor: Actor, note: str) -> int:
    """Give back what these messages were charged, once each; returns how many were refunded.

    Safe to call twice for the same message: the unique refund-per-message constraint turns a
    second refund into a no-op.
    """
    done = 0
    for message in messages:
        if not message.price:
            continue
        try:
            with transaction.atomic():
                CreditEntry.objects.create(
                    kind=EntryKind.REFUND, amount=message.price, message=message,
                    note=note[:200], **_actor_fields(actor),
                )  # fmt: skip
                CreditAccount.objects.filter(pk=ACCOUNT_ID).update(
                    balance=F("balance") + message.price
                )
        except IntegrityError:
            continue  # already refunded
        done += 1
    return done


def parse_amount(raw: object, *, field: str = "amount") -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise SwitchboardError(
            "invalid_amount", "Enter a number, e.g. 25 or 12.50.", field=field
        ) from None
    if not value.is_finite() or value <= 0:
        raise SwitchboardError("invalid_amount", "The amount must be more than zero.", field=field)
    if value != value.quantize(Decimal("0.0001")):
        raise SwitchboardError("invalid_amount", "Use at most four decimal places.", field=field)
    return value


@transaction.atomic
def top_up(
    *, actor: Actor, amount: Decimal, note: str = "", idempotency_key: str | None = None
) -> CreditEntry:
    """Add credits (admins). The view checks who may; this checks the amount. The same
    ``idempotency_key`` twice (a second click on the form) adds once and returns the first."""
    amount = parse_amount(amount)
    if amount > MAX_TOP_UP:
        raise SwitchboardError(
            "invalid_amount", f"Top up at most {MAX_TOP_UP:,} credits at a time.", field="amount"
        )
    key = (idempotency_key or "").strip()[:64] or None
    if key and (done := CreditEntry.objects.filter(idempotency_key=key).first()):
        return done
    ensure_account()
    try:
        with transaction.atomic():
            entry = CreditEntry.objects.create(
                kind=EntryKind.TOPUP, amount=amount, note=note.strip()[:200] or "Top-up",
                idempotency_key=key, **_actor_fields(actor),
            )  # fmt: skip
    except IntegrityError:  # the other click got there first (it waited on the unique index)
        return CreditEntry.objects.get(idempotency_key=key)
    CreditAccount.objects.filter(pk=ACCOUNT_ID).update(balance=F("balance") + amount)
    audit.record(
        actor=actor, action="sms.top_up", obj=entry, changes={"amount": [None, str(amount)]}
    )
    return entry


@transaction.atomic
def set_price(*, actor: Actor, country: str, per_segment: Decimal) -> Price:
    country = (country or "").strip().upper()
    if not (country == "*" or (len(country) == 2 and country.isalpha())):
        raise SwitchboardError(
            "invalid_country", "Use a two-letter country code (GB, FR…) or * for the rest.",
            field="country",
        )  # fmt: skip
    if country != "*" and country not in phonenumbers.SUPPORTED_REGIONS:
        # A text is priced by its number's region: a price under any other code never applies.
        hint = " (the United Kingdom's is GB)" if country == "UK" else ""
        raise SwitchboardError(
            "invalid_country",
            f"{country} is not the country code of any phone number{hint}; use one such as GB "
            "or FR, or * for the rest.",
            field="country",
        )
    per_segment = parse_amount(per_segment, field="per_segment")
    price, created = Price.objects.get_or_create(
        country=country, defaults={"per_segment": per_segment}
    )
    before = None if created else str(price.per_segment)
    if not created:
        price.per_segment = per_segment
        price.updated_at = timezone.now()
        price.save(update_fields=["per_segment", "updated_at"])
    audit.record(
        actor=actor, action="sms.price_set", obj=price,
        changes={"per_segment": [before, str(per_segment)]},
    )  # fmt: skip
    return price


def ledger_total() -> Decimal:
    return CreditEntry.objects.aggregate(total=Sum("amount"))["total"] or Decimal("0")
