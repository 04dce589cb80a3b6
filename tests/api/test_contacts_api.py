"""Agents keep contacts through the API: create/upsert, search, change, tag, list, events."""

from __future__ import annotations

import pytest
from django.db import connection

from contacts.models import Contact, ContactList, Interaction
from contacts.services.contacts import create_contact
from contacts.services.fields import create_field
from contacts.services.lists import create_list
from dashboard.actors import Actor
from dashboard.models import AuditEntry
from tests.agents.personas import client_for

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


def post(client, url, data, **headers):
    return client.post(url, data, content_type="application/json", headers=headers)


def test_the_three_call_flow_upserts_tags_vip_and_adds_to_a_list(agent_client, autonomous_agent):
    customers = create_list(actor=SYSTEM, name="Customers")

    created = post(
        agent_client,
        "/api/v1/contacts",
        {"email": "Ann@Example.com", "first_name": "Ann", "upsert": True},
    )
    assert created.status_code == 201
    contact_id = created.json()["id"]
    tagged = post(agent_client, "/api/v1/tags/VIP/contacts", {"contact_ids": [contact_id]})
    assert tagged.status_code == 200
    assert tagged.json()["results"][0]["result"] == "tagged"
    listed = post(
        agent_client, f"/api/v1/lists/{customers.pk}/contacts", {"contact_ids": [contact_id]}
    )
    assert listed.status_code == 200
    assert listed.json()["results"][0]["result"] == "added"

    contact = Contact.objects.get(pk=contact_id)
    assert contact.email == "ann@example.com"
    assert [t.name for t in contact.tags.all()] == ["VIP"]
    assert list(contact.lists.all()) == [customers]
    # Every change is the agent's, with its name on the audit trail.
    actors = set(
        AuditEntry.objects.filter(contact_id=contact.pk).values_list("actor_label", flat=True)
    )
    assert actors == {autonomous_agent.name}
    assert autonomous_agent.actions.filter(outcome="done").count() == 3


def test_upsert_updates_the_contact_with_that_email_and_answers_200(agent_client):
    post(
        agent_client,
        "/api/v1/contacts",
        {"email": "bo@example.com", "metadata": {"plan": "free", "src": "web"}},
    )
    response = post(
        agent_client,
        "/api/v1/contacts",
        {
            "email": "BO@example.com",
            "last_name": "Berg",
            "metadata": {"plan": "pro", "src": None},
            "upsert": True,
        },
    )
    assert response.status_code == 200
    contact = Contact.objects.get(email="bo@example.com")
    assert contact.last_name == "Berg"
    assert contact.metadata == {"plan": "pro"}


def test_creating_a_second_contact_with_the_same_email_is_a_406(agent_client):
    post(agent_client, "/api/v1/contacts", {"email": "cy@example.com"})
    response = post(agent_client, "/api/v1/contacts", {"email": "CY@example.com"})
    assert response.status_code == 406
    assert response.json()["code"] == "duplicate_email"
    assert Contact.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"email": "not-an-email"}, "invalid_email"),
        ({"email": "di@example.com", "phone": "12"}, "invalid_phone"),
        ({"email": "di@example.com", "fields": {"Nope": 1}}, "unknown_field"),
        ({"email": "di@example.com", "list_ids": [999]}, "unknown_list"),
    ],
)
def test_bad_values_are_refused_with_their_code_and_nothing_is_saved(agent_client, body, code):
    response = post(agent_client, "/api/v1/contacts", body)
    assert response.status_code in (404, 406)
    assert response.json()["code"] == code
    assert response.json()["message"]
    assert not Contact.objects.exists()


def test_custom_fields_are_set_by_name(agent_client):
    create_field(actor=SYSTEM, name="Orders", type="number")
    response = post(
        agent_client, "/api/v1/contacts", {"email": "ed@example.com", "fields": {"orders": "3"}}
    )
    assert response.status_code == 201
    assert response.json()["fields"] == {"Orders": 3}


def test_a_full_list_refuses_the_contact_with_list_full(agent_client):
    small = create_list(actor=SYSTEM, name="Small", limit=1)
    ids = [
        post(agent_client, "/api/v1/contacts", {"email": f"p{i}@example.com"}).json()["id"]
        for i in range(2)
    ]
    response = post(agent_client, f"/api/v1/lists/{small.pk}/contacts", {"contact_ids": ids})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["result"] for r in results] == ["added", "error"]
    assert results[1]["code"] == "list_full"
    assert small.memberships.count() == 1


def test_search_filters_by_query_tag_list_metadata_and_pages_with_a_cursor(agent_client):
    vip = create_list(actor=SYSTEM, name="VIPs")
    for i in range(5):
        post(agent_client, "/api/v1/contacts", {
            "email": f"zed{i}@example.com", "first_name": f"Zed{i}",
            "metadata": {"plan": "pro" if i % 2 else "free", "shop": {"city": "Oslo"}},
            "tags": ["even"] if i % 2 == 0 else [], "list_ids": [vip.pk] if i < 2 else [],
        })  # fmt: skip
    post(agent_client, "/api/v1/contacts", {"email": "other@example.com"})

    def emails(query: str) -> list[str]:
        response = agent_client.get("/api/v1/contacts" + query)
        assert response.status_code == 200, response.json()
        return sorted(c["email"] for c in response.json()["items"])

    assert len(emails("?q=zed")) == 5
    assert emails("?tag=even") == ["zed0@example.com", "zed2@example.com", "zed4@example.com"]
    assert emails(f"?list_id={vip.pk}") == ["zed0@example.com", "zed1@example.com"]
    assert emails("?metadata.plan=pro") == ["zed1@example.com", "zed3@example.com"]
    assert len(emails("?metadata.shop.city=Oslo")) == 5
    assert emails("?email=OTHER@example.com") == ["other@example.com"]

    seen, cursor = [], ""
    for _ in range(4):
        page = agent_client.get(f"/api/v1/contacts?limit=2{cursor}").json()
        seen += [c["email"] for c in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert len(seen) == len(set(seen)) == 6


def test_metadata_is_merged_by_top_level_key_as_the_api_documents(agent_client):
    created = post(
        agent_client,
        "/api/v1/contacts",
        {
            "email": "mo@example.com",
            "metadata": {"plan": "pro", "shop": {"city": "Oslo", "zip": "1"}},
        },
    ).json()

    response = agent_client.patch(
        f"/api/v1/contacts/{created['id']}",
        {"metadata": {"plan": None, "shop": {"zip": "2"}}},
        content_type="application/json",
    )

    assert response.status_code == 200, response.json()
    assert Contact.objects.get().metadata == {"shop": {"zip": "2"}}
    schemas = agent_client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    described = schemas["ContactPatch"]["properties"]["metadata"]["description"]
    assert "top-level key set to null is removed" in described
    assert "nested object is not merged" in described


def test_event_params_past_the_limit_are_a_406_and_nothing_is_recorded(agent_client):
    contact = create_contact(actor=SYSTEM, email="ev@example.com")

    response = post(
        agent_client,
        f"/api/v1/contacts/{contact.pk}/events",
        {"name": "page_viewed", "params": {"html": "x" * 2_000_000}},
    )

    assert response.status_code == 406
    assert response.json()["code"] == "invalid_event"
    assert "limited to 64 KB" in response.json()["message"]
    assert not Interaction.objects.filter(kind="event").exists()


def test_an_agent_cannot_undo_a_permanent_unsubscribe(agent_client):
    contact = create_contact(actor=SYSTEM, email="gone@example.com")
    url = f"/api/v1/contacts/{contact.pk}"
    unsubscribed = agent_client.patch(url, {"unsubscribed": True}, content_type="application/json")
    assert unsubscribed.status_code == 200

    # An agent writing back what it read earlier, "unsubscribed": false included.
    response = agent_client.patch(
        url, {"first_name": "Gina", "unsubscribed": False}, content_type="application/json"
    )

    assert response.status_code == 406
    assert (response.json()["code"], response.json()["field"]) == ("unsubscribed", "unsubscribed")
    contact.refresh_from_db()
    assert contact.is_unsubscribed and contact.first_name == ""
    # Saying false for someone who never unsubscribed changes nothing and is fine.
    other = create_contact(actor=SYSTEM, email="here@example.com")
    fine = agent_client.patch(
        f"/api/v1/contacts/{other.pk}", {"unsubscribed": False}, content_type="application/json"
    )
    assert fine.status_code == 200


def test_the_email_filter_finds_an_address_however_its_domain_is_spelled(agent_client):
    post(agent_client, "/api/v1/contacts", {"email": "ana@ex\u00e4mple.com"})

    for spelled in ["ANA@EXA\u0308MPLE.COM", "ana@ex\u00e4mple.com\u200b", "ana@bad\u2028.com"]:
        response = agent_client.get("/api/v1/contacts", {"email": spelled})
        assert response.status_code == 200, response.json()
        found = [c["email"] for c in response.json()["items"]]
        assert found == ([] if "bad" in spelled else ["ana@ex\u00e4mple.com"])


def test_an_email_longer_than_an_address_can_be_is_a_406_not_a_500(agent_client):
    email = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".com"

    response = post(agent_client, "/api/v1/contacts", {"email": email})

    assert response.status_code == 406
    assert response.json()["code"] == "invalid_email"
    assert not Contact.objects.exists()


def test_the_tag_filter_names_a_tag_as_tags_are_made(agent_client):
    post(agent_client, "/api/v1/contacts", {"email": "bo@example.com", "tags": ["Big Spender"]})
    post(agent_client, "/api/v1/contacts", {"email": "cy@example.com"})

    def emails(tag: str) -> list[str]:
        response = agent_client.get("/api/v1/contacts", {"tag": tag})
        assert response.status_code == 200, response.json()
        return [c["email"] for c in response.json()["items"]]

    assert emails("  big   SPENDER ") == ["bo@example.com"]
    assert emails("no such tag") == []


@pytest.mark.parametrize(
    "query", ["phone=%2B447400123456", "tags=VIP", "metadata.bad key=x", "metadata=x"]
)
def test_a_filter_the_search_does_not_take_is_a_400_not_every_contact(agent_client, query):
    post(agent_client, "/api/v1/contacts", {"email": "ann@example.com"})
    response = agent_client.get(f"/api/v1/contacts?{query}")
    assert response.status_code == 400
    body = response.json()
    name = query.split("=")[0]
    assert body["code"] == "invalid_request" and body["errors"][0]["path"] == f"query.{name}"
    assert "not a parameter of this search" in body["message"]


def test_a_cursor_from_another_search_is_a_400_not_a_page_of_this_one(agent_client):
    for n in range(3):
        post(agent_client, "/api/v1/contacts", {"email": f"v{n}@example.com", "tags": ["VIP"]})
        post(agent_client, "/api/v1/contacts", {"email": f"o{n}@example.com", "tags": ["Other"]})
    vip = agent_client.get("/api/v1/contacts", {"tag": "VIP", "limit": 1}).json()["next_cursor"]
    # Taken to another search, it would page on from where the first one stopped.
    other = agent_client.get("/api/v1/contacts", {"tag": "Other", "limit": 1, "cursor": vip})
    assert other.status_code == 400 and other.json()["code"] == "invalid_cursor"
    assert "another search" in other.json()["message"]
    # The same search pages on, whatever the page size.
    more = agent_client.get("/api/v1/contacts", {"tag": "VIP", "limit": 5, "cursor": vip})
    assert more.status_code == 200 and len(more.json()["items"]) == 2


def test_a_forged_cursor_is_a_400(agent_client):
    response = agent_client.get("/api/v1/contacts?cursor=bm9wZQ")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


def test_patch_changes_only_what_is_given_and_checks_the_version(agent_client):
    contact = post(
        agent_client, "/api/v1/contacts", {"email": "fi@example.com", "first_name": "Fi"}
    ).json()
    url = f"/api/v1/contacts/{contact['id']}"
    response = agent_client.patch(
        url, {"last_name": "Fox", "expected_version": 1}, content_type="application/json"
    )
    assert response.status_code == 200
    assert (response.json()["first_name"], response.json()["last_name"]) == ("Fi", "Fox")
    stale = agent_client.patch(
        url, {"last_name": "Fry", "expected_version": 1}, content_type="application/json"
    )
    assert stale.status_code == 406
    assert stale.json()["code"] == "edit_conflict"
    assert Contact.objects.get(pk=contact["id"]).last_name == "Fox"


def test_unknown_ids_are_404(agent_client):
    missing = "00000000-0000-0000-0000-000000000000"
    assert agent_client.get(f"/api/v1/contacts/{missing}").status_code == 404
    assert agent_client.get("/api/v1/contacts/not-a-uuid").json()["code"] == "unknown_contact"
    response = agent_client.patch(
        f"/api/v1/contacts/{missing}", {"first_name": "X"}, content_type="application/json"
    )
    assert response.status_code == 404
    assert (
        post(agent_client, "/api/v1/lists/99/contacts", {"contact_ids": [missing]}).status_code
        == 404
    )


def test_untag_and_remove_from_list(agent_client):
    customers = create_list(actor=SYSTEM, name="Customers")
    contact = post(
        agent_client,
        "/api/v1/contacts",
        {"email": "gu@example.com", "tags": ["VIP"], "list_ids": [customers.pk]},
    ).json()
    untag = agent_client.delete(f"/api/v1/tags/vip/contacts/{contact['id']}")
    assert untag.status_code == 200 and untag.json()["removed"] is True
    unlist = agent_client.delete(f"/api/v1/lists/{customers.pk}/contacts/{contact['id']}")
    assert unlist.status_code == 200 and unlist.json()["removed"] is True
    fresh = agent_client.get(f"/api/v1/contacts/{contact['id']}").json()
    assert (fresh["tags"], fresh["list_ids"]) == ([], [])
    assert (
        agent_client.delete(f"/api/v1/tags/nope/contacts/{contact['id']}").json()["code"]
        == "unknown_tag"
    )


def test_a_tag_with_a_slash_in_its_name_can_be_applied_and_removed(agent_client):
    contact = post(agent_client, "/api/v1/contacts", {"email": "sl@example.com"}).json()
    tagged = post(
        agent_client, "/api/v1/tags/Sales%2FEMEA/contacts", {"contact_ids": [contact["id"]]}
    )
    assert tagged.status_code == 200, tagged.json()
    assert tagged.json()["tag"] == "Sales/EMEA"
    assert agent_client.get(f"/api/v1/contacts/{contact['id']}").json()["tags"] == ["Sales/EMEA"]
    untag = agent_client.delete(f"/api/v1/tags/sales%2Femea/contacts/{contact['id']}")
    assert untag.status_code == 200 and untag.json()["removed"] is True
    assert agent_client.get(f"/api/v1/contacts/{contact['id']}").json()["tags"] == []


def test_events_land_in_the_contacts_history(agent_client):
    contact = post(agent_client, "/api/v1/contacts", {"email": "hu@example.com"}).json()
    response = post(
        agent_client,
        f"/api/v1/contacts/{contact['id']}/events",
        {
            "name": "email_opened",
            "params": {"campaign": "Spring Sale"},
            "occurred_at": "2026-01-02T10:00:00",
        },
    )
    assert response.status_code == 201
    event = Interaction.objects.get(kind="event")
    assert (event.name, event.data) == ("email_opened", {"campaign": "Spring Sale"})
    history = agent_client.get(f"/api/v1/contacts/{contact['id']}/interactions").json()
    assert "email_opened" in [row["name"] for row in history]


def test_a_long_history_is_read_a_page_at_a_time(agent_client):
    contact = post(agent_client, "/api/v1/contacts", {"email": "long@example.com"}).json()
    base = f"/api/v1/contacts/{contact['id']}"
    url = f"{base}/interactions"
    at = "2026-01-02T10:00:00"  # three events at one instant: the id breaks the tie
    for n in range(3):
        post(agent_client, f"{base}/events", {"name": f"e{n}", "occurred_at": at})
    everything = [row["id"] for row in agent_client.get(url).json()]
    assert len(everything) == 4  # the three events and the creation

    first = agent_client.get(url, {"limit": 2}).json()
    rest = agent_client.get(url, {"limit": 2, "before": first[-1]["id"]}).json()
    assert [row["id"] for row in first + rest] == everything

    unknown = agent_client.get(url, {"before": 2**40})
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_interaction"


@pytest.mark.parametrize("query", ["kind=event", "name=email_opened", "cursor=abc"])
def test_a_filter_a_history_does_not_take_is_a_400_not_every_entry(agent_client, query):
    contact = post(agent_client, "/api/v1/contacts", {"email": "hist@example.com"}).json()
    response = agent_client.get(f"/api/v1/contacts/{contact['id']}/interactions?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_request"
    assert body["errors"][0]["path"] == f"query.{query.split('=')[0]}"
    assert "limit, before" in body["message"]


def test_lists_and_fields_can_be_read_and_created(agent_client):
    assert post(agent_client, "/api/v1/lists", {"name": "Leads", "limit": 10}).status_code == 201
    assert agent_client.get("/api/v1/lists").json()[0] | {"id": 0} == {
        "id": 0, "name": "Leads", "description": "", "limit": 10, "members": 0
    }  # fmt: skip
    assert (
        post(agent_client, "/api/v1/fields", {"name": "Birthday", "type": "date"}).status_code
        == 201
    )
    duplicate = post(agent_client, "/api/v1/fields", {"name": "birthday", "type": "text"})
    assert duplicate.status_code == 406 and duplicate.json()["code"] == "duplicate_field"
    assert [f["name"] for f in agent_client.get("/api/v1/fields").json()] == ["Birthday"]
    assert ContactList.objects.count() == 1


def test_batch_upserts_each_item_on_its_own(agent_client):
    post(agent_client, "/api/v1/contacts", {"email": "old@example.com"})
    response = post(agent_client, "/api/v1/contacts/batch", {"contacts": [
        {"email": "new@example.com"}, {"email": "old@example.com", "first_name": "Olga"},
        {"email": "broken"},
    ]})  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["updated"], body["error"]) == (1, 1, 1)
    assert body["results"][2]["code"] == "invalid_email"
    assert Contact.objects.get(email="old@example.com").first_name == "Olga"


def test_a_batch_item_that_says_upsert_false_is_not_merged_into_an_existing_contact(
    agent_client,
):
    post(agent_client, "/api/v1/contacts", {"email": "old@example.com", "first_name": "Olga"})

    response = post(agent_client, "/api/v1/contacts/batch", {"contacts": [
        {"email": "old@example.com", "first_name": "Oleg", "upsert": False},
        {"email": "new@example.com", "upsert": False},
        {"email": "old@example.com", "last_name": "Ivanova"},
    ]})  # fmt: skip

    assert response.status_code == 200
    body = response.json()
    assert [r["result"] for r in body["results"]] == ["error", "created", "updated"]
    assert body["results"][0]["code"] == "duplicate_email"
    old = Contact.objects.get(email="old@example.com")
    assert (old.first_name, old.last_name) == ("Olga", "Ivanova")
    schemas = agent_client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert schemas["BatchItemIn"]["properties"]["upsert"]["default"] is True


def test_a_batch_dry_run_reports_what_would_happen_and_writes_nothing(agent_client):
    response = post(agent_client, "/api/v1/contacts/batch", {"dry_run": True, "contacts": [
        {"email": "a@example.com"}, {"email": "a@example.com"}, {"email": "x"},
    ]})  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True
    assert [r["result"] for r in body["results"]] == ["created", "updated", "error"]
    assert not Contact.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="contact.").exists()


def test_the_list_of_contacts_costs_a_fixed_number_of_queries(
    agent_client, django_assert_max_num_queries
):
    for i in range(30):
        post(
            agent_client,
            "/api/v1/contacts",
            {"email": f"q{i}@example.com", "tags": ["a", "b"], "list_ids": []},
        )
    with django_assert_max_num_queries(12):
        response = agent_client.get("/api/v1/contacts?limit=30")
    assert len(response.json()["items"]) == 30


def test_an_upsert_costs_a_fixed_number_of_queries(make_agent, django_assert_max_num_queries):
    # The agent API's hot path (issue #7): token, action record, contact, tags, audit trail
    # and history, limits, answer. On PostgreSQL each query counted here is a round trip
    # (a batch of statements, BEGIN and savepoints riding along); SQLite runs them one by one.
    client = client_for(make_agent("counted", rate_limit_per_minute=1000))
    post(client, "/api/v1/contacts", {"email": "warm@example.com", "tags": ["vip"]})

    def upsert(round_: int):
        body = {"email": "pin@example.com", "first_name": f"Pin{round_}", "tags": ["vip"],
                "metadata": {"round": round_}, "upsert": True}  # fmt: skip
        return post(client, "/api/v1/contacts", body)

    postgresql = connection.vendor == "postgresql"
    with django_assert_max_num_queries(5 if postgresql else 18):
        assert upsert(0).status_code == 201
    with django_assert_max_num_queries(5 if postgresql else 17):
        assert upsert(1).status_code == 200
    contact = Contact.objects.get(email="pin@example.com")
    assert (contact.first_name, contact.metadata) == ("Pin1", {"round": 1})
    assert [t.name for t in contact.tags.all()] == ["vip"]
    assert list(
        AuditEntry.objects.filter(contact_id=contact.pk)
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["contact.create", "contact.tag", "contact.update"]
    assert list(
        Interaction.objects.filter(contact=contact).order_by("id").values_list("kind", flat=True)
    ) == ["created", "tagged", "updated"]


def test_a_metadata_key_named_like_a_lookup_is_just_a_key(agent_client):
    post(
        agent_client,
        "/api/v1/contacts",
        {"email": "k@example.com", "metadata": {"contains": "x", "n": 5}},
    )
    assert len(agent_client.get("/api/v1/contacts?metadata.contains=x").json()["items"]) == 1
    assert len(agent_client.get("/api/v1/contacts?metadata.n=5").json()["items"]) == 1
    assert agent_client.get("/api/v1/contacts?metadata.n=6").json()["items"] == []


@pytest.mark.parametrize(
    ("method", "url", "body", "path"),
    [
        ("post", "/api/v1/contacts", {"email": "ann@example.com", "firstname": "Ann"}, "firstname"),
        ("patch", None, {"first_name": "Ann", "version": 1}, "version"),
        ("post", "/api/v1/contacts/batch",
         {"contacts": [{"email": "a@example.com", "tag": "vip"}]}, "contacts.0.tag"),
        ("post", "/api/v1/lists", {"name": "Leads", "size": 10}, "size"),
        ("post", "/api/v1/sms", {"to": "+447400123456", "text": "Hi"}, "text"),
    ],
)  # fmt: skip
def test_a_field_the_endpoint_does_not_take_is_a_400_naming_it(
    agent_client, method, url, body, path
):
    contact = create_contact(actor=Actor.system("tests"), email="bea@example.com")
    url = url or f"/api/v1/contacts/{contact.pk}"
    before = Contact.objects.count(), ContactList.objects.count()
    response = getattr(agent_client, method)(url, body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()
    unknown = [e for e in error["errors"] if e["path"] == f"body.{path}"]
    assert unknown and "not a field of this request" in unknown[0]["message"]
    # Nothing half-done: the misspelt field was not quietly dropped from an applied change.
    assert (Contact.objects.count(), ContactList.objects.count()) == before
    contact.refresh_from_db()
    assert contact.first_name == ""


def test_the_openapi_document_says_bodies_take_no_other_keys(client):
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert schemas["ContactIn"]["additionalProperties"] is False
    assert schemas["SmsIn"]["additionalProperties"] is False


def test_a_list_limit_past_what_the_column_holds_is_a_400_in_the_schema(agent_client):
    response = agent_client.post(
        "/api/v1/lists", {"name": "Huge", "limit": 2**31}, content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "body.limit"
    assert not ContactList.objects.exists()


@pytest.mark.parametrize("since", ["2020", "1700000000", "1.5e9", "yesterday"])
def test_updated_since_that_is_not_an_iso_date_is_a_400_with_an_example(agent_client, since):
    # Read as seconds since 1970, "2020" matched every contact and looked like it worked.
    response = agent_client.get("/api/v1/contacts", {"updated_since": since})
    assert response.status_code == 400
    body = response.json()
    assert body["errors"][0]["path"] == "query.updated_since"
    assert "ISO 8601" in body["message"] and "2026-11-27T12:00:00+01:00" in body["message"]


def test_updated_since_a_date_means_its_midnight_utc(agent_client):
    old = create_contact(actor=Actor.system("tests"), email="old@example.com")
    new = create_contact(actor=Actor.system("tests"), email="new@example.com")
    Contact.objects.filter(pk=old.pk).update(updated_at="2025-12-31T23:59:59Z")
    Contact.objects.filter(pk=new.pk).update(updated_at="2026-01-01T00:00:00Z")
    for since in ("2026-01-01", "2026-01-01t00:00:00z", "2026-01-01T01:00:00+01:00"):
        response = agent_client.get("/api/v1/contacts", {"updated_since": since})
        assert response.status_code == 200
        assert [c["email"] for c in response.json()["items"]] == ["new@example.com"]


@pytest.mark.parametrize("occurred_at", [2020, 1.5e9, True, "2020"])
def test_an_event_time_that_is_a_bare_number_is_a_400(agent_client, occurred_at):
    contact = create_contact(actor=Actor.system("tests"), email="ev@example.com")
    response = post(
        agent_client,
        f"/api/v1/contacts/{contact.pk}/events",
        {"name": "email_opened", "occurred_at": occurred_at},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "body.occurred_at"
    assert "ISO 8601" in response.json()["message"]
    assert not Interaction.objects.filter(name="email_opened").exists()


def test_an_event_dated_by_day_happened_at_its_midnight_utc(agent_client):
    contact = create_contact(actor=Actor.system("tests"), email="ev@example.com")
    response = post(
        agent_client,
        f"/api/v1/contacts/{contact.pk}/events",
        {"name": "email_opened", "occurred_at": "2024-05-01"},
    )
    assert response.status_code == 201
    assert response.json()["occurred_at"] == "2024-05-01T00:00:00+00:00"


def test_a_bad_tag_in_a_contact_names_its_place_in_tags(agent_client):
    response = post(agent_client, "/api/v1/contacts", {"email": "t@example.com",
                                                       "tags": ["VIP", "lead", "   "]})  # fmt: skip
    assert response.status_code == 406
    assert (response.json()["code"], response.json()["field"]) == ("invalid_tag", "tags[2]")
    assert not Contact.objects.exists()


def test_a_bad_tag_in_the_path_is_named_tag_name(agent_client):
    contact = create_contact(actor=SYSTEM, email="t@example.com")
    response = post(
        agent_client, "/api/v1/tags/%20%20/contacts", {"contact_ids": [str(contact.pk)]}
    )
    assert response.status_code == 406
    assert (response.json()["code"], response.json()["field"]) == ("invalid_tag", "tag_name")
