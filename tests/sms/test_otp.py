"""One-time codes: start, check, expiry, attempts, throttling; the code is never kept."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from django.utils import timezone

from dashboard.errors import SwitchboardError
from sms.gateways import sandbox
from sms.models import Message, OtpChallenge
from sms.services.messages import send_due_messages
from sms.services.otp import check_verification, start_verification

from .conftest import MOBILE

pytestmark = pytest.mark.django_db


def sent_code() -> str:
    send_due_messages()
    return re.search(r"\b(\d{6})\b", sandbox.OUTBOX[-1].text).group(1)


def test_the_right_code_verifies_once(funded, system_actor):
    start_verification(actor=system_actor, phone="07400 123456")
    code = sent_code()
    assert check_verification(phone=MOBILE, code=code) is True
    with pytest.raises(SwitchboardError) as caught:
        check_verification(phone=MOBILE, code=code)
    assert caught.value.code == "otp_not_found"
    assert "already used" in caught.value.message


def test_reusing_a_code_after_a_newer_one_was_used_says_it_was_used(funded, system_actor):
    # An agent retrying a verification that already succeeded is told so, not that no code
    # was ever sent or that it expired.
    start_verification(actor=system_actor, phone=MOBILE)
    OtpChallenge.objects.update(created_at=timezone.now() - dt.timedelta(minutes=1))
    start_verification(actor=system_actor, phone=MOBILE)
    code = sent_code()
    assert check_verification(phone=MOBILE, code=code) is True
    with pytest.raises(SwitchboardError) as caught:
        check_verification(phone=MOBILE, code=code)
    assert caught.value.code == "otp_not_found"
    assert "already used" in caught.value.message


@pytest.mark.parametrize(
    "digits", ["0123456789", "０１２３４５６７８９", "٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹"]
)
def test_a_code_typed_on_a_full_width_or_arabic_keyboard_verifies(digits, funded, system_actor):
    # Phones in Arabic, Persian or CJK locales type their own digits; the code is the same.
    start_verification(actor=system_actor, phone=MOBILE)
    code = sent_code()
    typed = "".join(digits[int(d)] for d in code)
    assert check_verification(phone=MOBILE, code=typed) is True


def test_the_code_is_stored_only_as_a_hash_and_never_logged(funded, system_actor, caplog):
    caplog.set_level(logging.DEBUG)
    challenge = start_verification(actor=system_actor, phone=MOBILE)
    code = sent_code()
    assert code not in challenge.code_hash
    message = Message.objects.get()
    assert code not in message.text and message.secret == ""
    assert code not in caplog.text


def test_a_wrong_code_uses_an_attempt_and_five_is_the_limit(funded, system_actor):
    start_verification(actor=system_actor, phone=MOBILE)
    code = sent_code()
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert [check_verification(phone=MOBILE, code=wrong) for _ in range(5)] == [False] * 5
    with pytest.raises(SwitchboardError) as caught:
        check_verification(phone=MOBILE, code=code)
    assert caught.value.code == "otp_too_many_attempts"


def test_an_expired_code_is_refused(funded, system_actor):
    start_verification(actor=system_actor, phone=MOBILE)
    code = sent_code()
    OtpChallenge.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(SwitchboardError) as caught:
        check_verification(phone=MOBILE, code=code)
    assert caught.value.code == "otp_expired"


def test_asking_again_at_once_is_throttled(funded, system_actor):
    start_verification(actor=system_actor, phone=MOBILE)
    with pytest.raises(SwitchboardError) as caught:
        start_verification(actor=system_actor, phone=MOBILE)
    assert caught.value.code == "otp_throttled"
    assert Message.objects.count() == 1


def test_a_new_code_replaces_the_old_one(funded, system_actor):
    start_verification(actor=system_actor, phone=MOBILE)
    old = sent_code()
    OtpChallenge.objects.update(created_at=timezone.now() - dt.timedelta(minutes=1))
    start_verification(actor=system_actor, phone=MOBILE)
    new = sent_code()
    if old != new:
        assert check_verification(phone=MOBILE, code=old) is False
    assert check_verification(phone=MOBILE, code=new) is True


def test_more_than_five_codes_an_hour_is_throttled(funded, system_actor):
    for _ in range(5):
        start_verification(actor=system_actor, phone=MOBILE)
        OtpChallenge.objects.update(created_at=timezone.now() - dt.timedelta(minutes=5))
    with pytest.raises(SwitchboardError) as caught:
        start_verification(actor=system_actor, phone=MOBILE)
    assert caught.value.code == "otp_throttled"


def test_checking_a_number_that_never_got_a_code(db):
    with pytest.raises(SwitchboardError) as caught:
        check_verification(phone=MOBILE, code="123456")
    assert caught.value.code == "otp_not_found"
