"""Erasing a contact removes their number and texts from the SMS tables."""

from __future__ import annotations

import pytest

from contacts.services.erasure import erase_contact
from dashboard.errors import SwitchboardError
from sms.models import InboundMessage, Message, OptOut
from sms.services.messages import send_sms
from sms.services.optouts import add_opt_out

from .conftest import MOBILE

pytestmark = pytest.mark.django_db


def test_erasure_blanks_their_messages_and_forgets_their_number(
    funded, contact, staff_actor, admin_user
):
    from dashboard.actors import Actor

    send_sms(actor=staff_actor, contact=contact, text="Hi Alice, your code is ready")
    InboundMessage.objects.create(gateway="sandbox", sender=MOBILE, text="Thanks!", contact=contact)
    add_opt_out(actor=staff_actor, phone=MOBILE, reason="asked")
    erase_contact(actor=Actor.staff(admin_user), contact=contact)
    message = Message.objects.get()
    assert (message.to, message.text, message.contact) == ("", "[erased]", None)
    assert not InboundMessage.objects.exists()
    assert not OptOut.objects.exists()
    # The number stays blocked through the erasure's salted hash.
    with pytest.raises(SwitchboardError) as caught:
        send_sms(actor=staff_actor, to=MOBILE, text="Hello again")
    assert caught.value.code == "suppressed"


def test_the_history_says_a_text_went_to_an_erased_contact(
    staff_client, funded, contact, staff_actor, admin_user
):
    from dashboard.actors import Actor

    send_sms(actor=staff_actor, contact=contact, text="Hi Alice")
    erase_contact(actor=Actor.staff(admin_user), contact=contact)
    page = staff_client.get("/sms/").content.decode()
    assert "erased contact" in page  # not an empty "To" cell
