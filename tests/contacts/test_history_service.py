"""contacts.services.history: events from other systems in a contact's history."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from contacts.models import Interaction
from contacts.services.history import record_event
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError

pytestmark = pytest.mark.django_db


def test_it_records_an_event_with_its_params_and_actor(make_contact):
    contact = make_contact()
    agent = Actor.agent(5, "Mailer")
    when = timezone.now() - dt.timedelta(days=2)

    event = record_event(
        actor=agent,
        contact=contact,
        name=" email_opened ",
        params={"campaign": "Spring Sale"},
        occurred_at=when,
    )

    event.refresh_from_db()
    assert (event.kind, event.name, event.data) == (
        "event",
        "email_opened",
        {"campaign": "Spring Sale"},
    )
    assert event.occurred_at == when
    assert (event.actor_kind, event.actor_ref, event.actor_label) == ("agent", "5", "Mailer")


@pytest.mark.parametrize(
    ("attrs", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"params": ["a"]}, "params"),
        ({"params": {"blob": "x" * 70_000}}, "params"),
        ({"occurred_at": timezone.now() + dt.timedelta(days=1)}, "occurred_at"),
    ],
)
def test_it_refuses_a_malformed_event(make_contact, system_actor, attrs, field):
    contact = make_contact()
    attrs = {"name": "clicked", **attrs}

    with pytest.raises(SwitchboardError) as caught:
        record_event(actor=system_actor, contact=contact, **attrs)

    assert (caught.value.code, caught.value.field) == ("invalid_event", field)
    assert not Interaction.objects.filter(kind="event").exists()
