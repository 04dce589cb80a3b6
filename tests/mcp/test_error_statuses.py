"""One refusal, one status: a business error answers the same status through the JSON API and
the MCP tools (the tools' status is what POST /api/v1/tools/<name> answers)."""

from __future__ import annotations

import pytest

from contacts.services.contacts import create_contact
from contacts.services.lists import add_to_list, create_list
from contacts.services.segments import create_segment
from dashboard.actors import Actor
from dashboard.agents import actions, reads
from dashboard.agents.pipeline import status_for
from dashboard.errors import SwitchboardError
from dashboard.mcp import tools

pytestmark = pytest.mark.django_db
MOBILE = "+447400123456"

# An unknown id; "unknown_…" codes that name part of the request, not a resource; a rule.
CODES = [("unknown_contact", 404), ("unknown_time_zone", 406),
         ("unknown_placeholder", 406), ("invalid_phone", 406)]  # fmt: skip


def _refusing(code: str):
    def refuse(*args, **kwargs):
        raise SwitchboardError(code, f"Refused with {code}.")

    return refuse


@pytest.mark.parametrize(("code", "status"), CODES)
def test_a_read_refused_answers_one_status_through_the_api_and_the_tool(
    monkeypatch, autonomous_agent, agent_client, code, status
):
    monkeypatch.setattr(reads, "lookup_number", _refusing(code))

    api = agent_client.get(f"/api/v1/lookup/{MOBILE}")
    tool = tools.call(autonomous_agent, "lookup_phone", {"phone": MOBILE})

    assert api.status_code == tool.status == status
    assert api.json()["code"] == tool.body["code"] == code


@pytest.mark.parametrize(("code", "status"), CODES)
def test_a_one_contact_tool_refused_answers_the_status_the_api_would(
    monkeypatch, autonomous_agent, code, status
):
    # tag_contact runs the bulk action for one contact and lifts its one item's error.
    contact = create_contact(actor=Actor.system("tests"), email="ann@example.com")
    monkeypatch.setattr(actions.tag_service, "tag_contact", _refusing(code))

    tool = tools.call(
        autonomous_agent, "tag_contact", {"contact_id": str(contact.pk), "tag": "VIP"}
    )

    assert tool.status == status == status_for(SwitchboardError(code, ""))
    assert tool.body["code"] == code


@pytest.mark.parametrize(("argument", "code"), [("list_id", "unknown_list"),
                                                ("segment_id", "unknown_segment")])  # fmt: skip
def test_searching_an_unknown_list_or_segment_is_a_404_naming_the_id_on_both_doors(
    autonomous_agent, agent_client, argument, code
):
    # An empty result read as "the list has no members"; the API and the tool now agree.
    create_contact(actor=Actor.system("tests"), email="ann@example.com")

    api = agent_client.get("/api/v1/contacts", {argument: 4242})
    tool = tools.call(autonomous_agent, "search_contacts", {argument: 4242})

    assert api.status_code == tool.status == 404
    assert api.json()["code"] == tool.body["code"] == code
    assert "4242" in api.json()["message"] and api.json()["message"] == tool.body["message"]


def test_searching_a_known_list_or_segment_finds_its_contacts_on_both_doors(
    autonomous_agent, agent_client
):
    system = Actor.system("tests")
    ann = create_contact(actor=system, email="ann@example.com")
    create_contact(actor=system, email="bob@example.com")
    leads = create_list(actor=system, name="Leads")
    add_to_list(actor=system, contact_list=leads, contact=ann)
    anns = create_segment(
        actor=system, name="Anns", rules={"all": [{"field": "email", "op": "starts_with",
                                                   "value": "ann"}]}
    )  # fmt: skip
    for filters in ({"list_id": leads.pk}, {"segment_id": anns.pk}):
        api = agent_client.get("/api/v1/contacts", filters).json()["items"]
        tool = tools.call(autonomous_agent, "search_contacts", filters).body["contacts"]
        assert [c["email"] for c in api] == [c["email"] for c in tool] == ["ann@example.com"]


@pytest.mark.parametrize(
    ("tool", "args"),
    [("get_contact", {}), ("tag_contact", {"tag": "VIP"}), ("add_to_list", {"list_id": 1}),
     ("untag_contact", {"tag": "VIP"}), ("remove_from_list", {"list_id": 1})],
)  # fmt: skip
def test_a_contact_id_too_long_to_be_one_is_refused_without_echoing_it(
    autonomous_agent, tool, args
):
    # An agent pasting a whole document as the id got all of it back in the error message.
    outcome = tools.call(autonomous_agent, tool, {"contact_id": "x" * 5000, **args})
    assert outcome.status == 400
    assert "contact_id" in outcome.body["message"]
    assert len(str(outcome.body)) < 1000


def test_search_results_past_the_limit_can_be_paged_through_with_the_tool(autonomous_agent):
    # Cut off at the limit with nothing said, an agent took the first page for every match.
    system = Actor.system("tests")
    for n in range(5):
        create_contact(actor=system, email=f"vip{n}@example.com")
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        args = {"q": "vip", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = tools.call(autonomous_agent, "search_contacts", args)
        assert page.status == 200, page.body
        seen += [c["email"] for c in page.body["contacts"]]
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"vip{n}@example.com" for n in range(5)]
