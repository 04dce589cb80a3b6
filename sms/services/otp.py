"""One-time codes by SMS: start a verification, then check the code the person types.

The code comes from ``secrets``, is stored only as a keyed hash, expires after ten minutes,
allows five attempts, and is never logged: the message row holds a ``{code}`` placeholder and
the code itself only until the gateway has it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import unicodedata

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac

from contacts.phones import normalise_phone
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from sms.models import MessageKind, OtpChallenge
from sms.services.messages import send_sms

CODE_TTL = dt.timedelta(minutes=10)
RESEND_AFTER = dt.timedelta(seconds=30)
MAX_PER_HOUR = 5
MAX_ATTEMPTS = 5
TEXT = "Your verification code is {code}. It expires in 10 minutes. Never share it."


def _hash(phone: str, code: str) -> str:
    return salted_hmac("sms.otp", f"{phone}:{code}", algorithm="sha256").hexdigest()


def _phone(raw: str) -> str:
    phone = normalise_phone(raw)
    if phone is None:
        raise SwitchboardError("invalid_phone", "Enter a phone number.", field="phone")
    return phone.e164


def _lock_number(e164: str) -> None:
    """Hold starts for this number until the transaction ends. PostgreSQL: an advisory lock
    keyed by the number (no row may exist yet to lock). SQLite: its IMMEDIATE transactions
    already hold the database's write lock."""
    if connection.vendor == "postgresql":
        digest = hashlib.sha256(f"sms.otp:{e164}".encode()).digest()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)]
            )


def _throttle(e164: str, now: dt.datetime) -> None:
    recent = OtpChallenge.objects.filter(phone=e164, created_at__gte=now - dt.timedelta(hours=1))
    last = recent.order_by("-created_at").first()
    if last is not None and now - last.created_at < RESEND_AFTER:
        wait = int((RESEND_AFTER - (now - last.created_at)).total_seconds()) + 1
        raise SwitchboardError("otp_throttled", f"A code was just sent; ask again in {wait} s.",
                               retry_after=wait)  # fmt: skip
    if recent.count() >= MAX_PER_HOUR:
        raise SwitchboardError(
            "otp_throttled", "Too many codes for this number this hour; try again later.",
            retry_after=3600,
        )  # fmt: skip


def start_verification(*, actor: Actor, phone: str) -> OtpChallenge:
    """Text a fresh code to ``phone``. Asking again within 30 seconds, or more than five times
    an hour, is refused (``otp_throttled``); a new code replaces the previous one."""
    e164 = _phone(phone)
    with transaction.atomic():
        # Checked under the number's lock, in the transaction that stores the code: two starts
        # at once would otherwise both pass the checks and text two live codes.
        _lock_number(e164)
        now = timezone.now()
        _throttle(e164, now)
        code = f"{secrets.randbelow(10**6):06d}"
        # Only the newest code counts.
        OtpChallenge.objects.filter(
            phone=e164, verified_at__isnull=True, expires_at__gt=now
        ).update(expires_at=now)
        outcome = send_sms(actor=actor, to=e164, text=TEXT, kind=MessageKind.TRANSACTIONAL,
                           secret=code, allow_non_mobile=False)  # fmt: skip
        challenge = OtpChallenge.objects.create(
            phone=e164, code_hash=_hash(e164, code), created_at=now, expires_at=now + CODE_TTL,
            message=outcome.message,
        )  # fmt: skip
    return challenge


def check_verification(*, phone: str, code: str) -> bool:
    """True when ``code`` is the current code for ``phone``; each wrong try uses an attempt."""
    e164 = _phone(phone)
    now = timezone.now()
    # The newest code, used or not: only it counts (a new one expires those before it).
    challenge = OtpChallenge.objects.filter(phone=e164).order_by("-created_at", "-pk").first()
    if challenge is None:
        raise SwitchboardError("otp_not_found", "No code was sent to this number; start again.")
    if challenge.verified_at is not None:
        raise SwitchboardError(
            "otp_not_found", "This number's code was already used; ask for a new one."
        )
    if challenge.expires_at <= now:
        raise SwitchboardError("otp_expired", "This code has expired; ask for a new one.")
    # Count the attempt before comparing, with a conditional UPDATE: parallel guesses cannot
    # get more than MAX_ATTEMPTS tries between them.
    if not OtpChallenge.objects.filter(pk=challenge.pk, attempts__lt=MAX_ATTEMPTS).update(
        attempts=F("attempts") + 1
    ):
        raise SwitchboardError("otp_too_many_attempts", "Too many wrong codes; ask for a new one.")
    # Spaces and dashes go; digits typed on a full-width, Arabic or Persian keyboard are the
    # same digits ("١٢٣" is 123).
    given = "".join(str(unicodedata.decimal(ch)) for ch in str(code) if ch.isdecimal())
    if not hmac.compare_digest(_hash(e164, given), challenge.code_hash):
        return False
    return bool(
        OtpChallenge.objects.filter(pk=challenge.pk, verified_at__isnull=True).update(
            verified_at=now
        )
    )
