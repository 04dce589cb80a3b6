"""Hostile tool arguments come back as tool errors naming the argument, never as an exception:
what the JSON API refuses at its door (NUL, unpaired surrogates, NaN) the tools refuse too."""

from __future__ import annotations

import math

import pytest

from contacts.models import Contact
from contacts.services.contacts import create_contact
from dashboard.actors import Actor
from dashboard.agents.models import AgentAction
from dashboard.mcp import tools

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "arguments", "path"),
    [
        ("upsert_contact", {"email": "a\x00@example.com"}, "email"),
        ("upsert_contact", {"email": "a@example.com", "first_name": "\ud800"}, "first_name"),
        (
            "upsert_contact",
            {"email": "a@example.com", "fields": {"score": math.nan}},
            "fields.score",
        ),
        ("upsert_contact", {"email": "a@example.com", "metadata": {"x": math.inf}}, "metadata.x"),
        ("upsert_contact", {"email": "a@example.com", "metadata": {"k\x00": 1}}, "metadata"),
        ("upsert_contact", {"email": "a@example.com", "tags": ["ok", "b\x00d"]}, "tags.1"),
        (
            "upsert_contact",
            {"email": "a@example.com", "idempotency_key": "k\x00"},
            "idempotency_key",
        ),
        ("search_contacts", {"q": "a\x00"}, "q"),
        ("tag_contact", {"contact_id": "\ud800", "tag": "VIP"}, "contact_id"),
        ("send_sms", {"to": "+447400123456", "message": "hi", "reason": "r\x00"}, "reason"),
        ("check_verification", {"to": "+447400123456", "code": "12\x0034"}, "code"),
    ],
)
def test_unstorable_arguments_are_an_invalid_arguments_error(make_agent, name, arguments, path):
    agent = make_agent("mcp-fuzzed")
    outcome = tools.call(agent, name, arguments)
    assert outcome.status == 400
    assert outcome.body["code"] == "invalid_arguments"
    assert outcome.body["message"].startswith(f"{path}: ")
    assert not Contact.objects.exists()
    assert not AgentAction.objects.exists()


def test_an_argument_the_tool_does_not_take_is_named_as_such(make_agent):
    outcome = tools.call(
        make_agent("mcp-guesser"), "upsert_contact", {"email": "a@example.com", "firstname": "A"}
    )
    assert outcome.status == 400 and outcome.body["code"] == "invalid_arguments"
    assert outcome.body["message"] == (
        "firstname: not an argument of upsert_contact; check its name in the tool's input schema"
    )
    assert not Contact.objects.exists()


def test_a_bad_tag_names_the_tools_tag_argument(make_agent):
    agent = make_agent()
    contact = create_contact(actor=Actor.system("tests"), email="t@example.com")
    outcome = tools.call(agent, "tag_contact", {"contact_id": str(contact.pk), "tag": "   "})
    assert outcome.status == 406
    assert (outcome.body["code"], outcome.body["field"]) == ("invalid_tag", "tag")
    upsert = tools.call(agent, "upsert_contact", {"email": "u@example.com", "tags": ["a", " "]})
    assert (upsert.body["code"], upsert.body["field"]) == ("invalid_tag", "tags[1]")
