"""Inputs deep fuzzing found answering 500: each is now a 400 or a 406 the agent can act on,
on SQLite and PostgreSQL alike, and nothing is written."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from contacts.imports.models import ImportJob
from contacts.models import Contact, ContactList, Interaction, Tag
from contacts.services.contacts import create_contact
from dashboard.actors import Actor
from dashboard.agents.models import AgentAction

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def _sandbox(settings, tmp_path):
    settings.SMS_GATEWAY = "sandbox"
    settings.IMPORT_DIR = tmp_path / "imports"


def post(client, url, raw: str, **headers):
    return client.post(url, raw, content_type="application/json", headers=headers)


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-14:00",  # after 9999 in UTC
    ],
)
def test_a_date_time_that_leaves_the_calendar_in_utc_is_a_400(agent_client, moment):
    contact = create_contact(actor=SYSTEM, email="ann@example.com")

    listed = agent_client.get("/api/v1/contacts", {"updated_since": moment})
    event = post(
        agent_client,
        f"/api/v1/contacts/{contact.pk}/events",
        f'{{"name": "email_opened", "occurred_at": "{moment}"}}',
    )

    for response, path in ((listed, "query.updated_since"), (event, "body.occurred_at")):
        assert response.status_code == 400, response.content
        assert response.json()["errors"][0]["path"] == path
        assert "Out of range once moved to UTC" in response.json()["message"]
        assert "Value error" not in response.json()["message"]
    assert not Interaction.objects.filter(name="email_opened").exists()


def test_an_offset_postgresql_cannot_store_is_read_as_utc(agent_client):
    # PostgreSQL refuses a displacement beyond ±15:59 ("+19:53"); the API moves it to UTC first.
    create_contact(actor=SYSTEM, email="ann@example.com")
    response = agent_client.get("/api/v1/contacts", {"updated_since": "0748-11-03T05:18:14+19:53"})
    assert response.status_code == 200
    assert [c["email"] for c in response.json()["items"]] == ["ann@example.com"]


def test_a_naive_date_time_means_utc(agent_client):
    contact = create_contact(actor=SYSTEM, email="ann@example.com")
    response = post(
        agent_client,
        f"/api/v1/contacts/{contact.pk}/events",
        '{"name": "email_opened", "occurred_at": "2024-05-01T12:00:00"}',
    )
    assert response.status_code == 201
    assert response.json()["occurred_at"] == "2024-05-01T12:00:00+00:00"


@pytest.mark.parametrize(
    "stamp",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2024-05-01T12:00:00"],
)
def test_a_forged_cursor_is_an_invalid_cursor(agent_client, stamp):
    contact = create_contact(actor=SYSTEM, email="ann@example.com")
    cursor = base64.urlsafe_b64encode(f"{stamp}|{contact.pk}".encode()).decode()
    response = agent_client.get("/api/v1/contacts", {"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "body: this endpoint takes a JSON body; none was sent"),
        ('[{"email": "ann@example.com"}]', "body: Input should be a valid dictionary"),
    ],
)
def test_a_missing_body_or_one_that_is_no_object_is_named_as_the_body(agent_client, body, message):
    # Was "body.body: …": Ninja's parameter name read as a field the agent never sent.
    response = post(agent_client, "/api/v1/contacts", body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)
    assert response.json()["errors"][0]["path"] == "body"
    assert not AgentAction.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        '{"email": "ann@example.com", "fields": {"score": Infinity}}',
        '{"email": "ann@example.com", "metadata": {"score": NaN}}',
        '{"email": "ann@example.com", "metadata": {"score": -Infinity}}',
        '{"email": "ann@example.com", "metadata": {"score": 1e400}}',
    ],
)
def test_numbers_json_does_not_allow_are_a_400(agent_client, body):
    response = post(agent_client, "/api/v1/contacts", body)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_request"
    assert "finite number" in response.json()["message"]
    assert not Contact.objects.exists()
    assert not AgentAction.objects.exists()


def test_a_nul_in_a_json_body_is_a_400_naming_where_it_sits(agent_client):
    response = post(
        agent_client, "/api/v1/contacts", '{"email": "a@example.com", "first_name": "A\\u0000"}'
    )
    assert response.status_code == 400
    assert "body.first_name" in response.json()["message"]
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/contacts", '{"email": "a@example.com", "metadata": %s}'),
        (
            "/api/v1/contacts/01a250ff-b8ed-76c9-95c6-b2a864c100f0/events",
            '{"name": "x", "params": %s}',
        ),
    ],
)
@pytest.mark.parametrize("levels", [100, 300])
def test_json_nested_past_the_limit_is_a_400_not_a_500(agent_client, url, body, levels):
    nested = '{"a": ' * levels + "1" + "}" * levels

    response = post(agent_client, url, body % nested)

    assert response.status_code == 400, response.content
    assert "nested more than 64 levels deep" in response.json()["message"]
    assert not Contact.objects.exists()


def test_json_nested_within_the_limit_is_stored(agent_client):
    nested = '{"a": ' * 60 + "1" + "}" * 60
    response = post(
        agent_client, "/api/v1/contacts", '{"email": "a@example.com", "metadata": ' + nested + "}"
    )

    assert response.status_code == 201, response.content


def test_text_that_merely_spells_an_escape_is_stored(agent_client):
    # A backslash, a "u" and four zeros are plain text, not a NUL character.
    response = post(
        agent_client,
        "/api/v1/contacts",
        '{"email": "a@example.com", "metadata": {"pattern": "\\\\u0000"}}',
    )
    assert response.status_code == 201, response.content
    assert Contact.objects.get().metadata == {"pattern": "\\u0000"}


def test_a_nul_in_a_header_is_a_400(agent_client):
    response = post(
        agent_client, "/api/v1/lists", '{"name": "Leads"}', **{"Idempotency-Key": "k\x00ey"}
    )
    assert response.status_code == 400
    assert "NUL" in response.json()["message"]
    assert not ContactList.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe" + "email\n\x00a@example.com\n".encode("utf-16-le"),  # NUL once decoded
        b"email\n" + b"a@example.com\n" * 10_000 + b"b\x00@example.com\n",  # past the sample
    ],
)
def test_an_upload_holding_nul_characters_is_refused_as_binary(agent_client, data):
    upload = SimpleUploadedFile("leads.csv", data, content_type="text/csv")
    response = agent_client.post("/api/v1/imports", {"file": upload})
    assert response.status_code == 406, response.content
    assert response.json()["code"] == "binary_file"
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("schedule", "code"),
    [
        ({"schedule": "local", "send_at": "0001-01-01T00:00"}, "schedule_in_past"),
        ({"schedule": "local", "send_at": "9999-12-31T23:00"}, "schedule_too_far"),
        (
            {"schedule": "at", "send_at": "0001-01-01T00:00", "time_zone": "Etc/GMT-14"},
            "schedule_in_past",
        ),
        (
            {"schedule": "at", "send_at": "9999-12-31T23:00", "time_zone": "Etc/GMT+12"},
            "schedule_too_far",
        ),
    ],
)
def test_a_campaign_date_at_the_calendar_end_is_in_the_past_or_too_far_ahead(
    agent_client, schedule, code
):
    create_contact(actor=SYSTEM, email="ann@example.com", phone="+447400123456", tags=["VIP"])
    body = {
        "message": "Hi",
        "audience_kind": "tag",
        "audience_id": Tag.objects.get(name="VIP").pk,
        "dry_run": True,
        **schedule,
    }
    response = agent_client.post("/api/v1/campaigns", body, content_type="application/json")
    assert response.status_code == 406, response.content
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ('{"email": "\\ud800@example.com"}', "body.email"),
        ('{"email": "ann@example.com", "metadata": {"\\udfff": 1}}', "body.metadata"),
        ('{"email": "ann@example.com", "tags": ["ok", "\\ud800"]}', "body.tags.1"),
    ],
)
def test_an_unpaired_surrogate_is_a_400_naming_where_it_is(agent_client, body, path):
    # "\ud800" alone is no UTF-8 text: PostgreSQL refused it in the action's jsonb payload.
    response = post(agent_client, "/api/v1/contacts", body)
    assert response.status_code == 400, response.content
    assert f"{path}: unpaired UTF-16 surrogates" in response.json()["message"]
    assert not Contact.objects.exists()
    assert not AgentAction.objects.exists()


def test_an_unpaired_surrogate_in_segment_rules_is_a_400(agent_client):
    rules = '{"all": [{"field": "email", "op": "starts_with", "value": "\\ud800"}]}'
    response = post(agent_client, "/api/v1/segments", f'{{"name": "Odd", "rules": {rules}}}')
    assert response.status_code == 400
    assert "body.rules.all.0.value" in response.json()["message"]


def test_a_surrogate_pair_is_ordinary_text(agent_client):
    response = post(
        agent_client,
        "/api/v1/contacts",
        '{"email": "a@example.com", "first_name": "\\ud83d\\ude00"}',
    )
    assert response.status_code == 201
    assert Contact.objects.get().first_name == "\U0001f600"


@pytest.mark.parametrize("url", ["/api/v1/lists", "/api/v1/contacts", "/api/v1/segments"])
@pytest.mark.parametrize("encoding", ["multipart", "urlencoded"])
def test_a_form_sent_where_json_is_taken_is_a_400_saying_so(agent_client, url, encoding):
    data = {"name": "Leads", "email": "a@example.com"}
    if encoding == "multipart":
        response = agent_client.post(url, data)
    else:
        response = agent_client.post(
            url, urlencode(data), content_type="application/x-www-form-urlencoded"
        )
    assert response.status_code == 400
    assert "Content-Type: application/json" in response.json()["message"]
    assert not ContactList.objects.exists() and not Contact.objects.exists()


def test_a_json_body_over_the_size_limit_is_a_413_in_json(agent_client, settings):
    # Django's bare HTML "Bad Request (400)" page came back: no code, no limit, no advice.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    items = [{"email": f"p{n}@example.com"} for n in range(500)]
    response = post(agent_client, "/api/v1/contacts/batch", json.dumps({"items": items}))
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "request_too_large"
    assert body["max_bytes"] == 10_000
    assert "fewer" in body["message"]
    assert not Contact.objects.exists()


def test_a_token_request_over_the_size_limit_is_a_413_in_json(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = client.post(
        "/api/v1/token",
        "grant_type=client_credentials&client_id=x&client_secret=" + "a" * 20_000,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


def test_a_form_with_too_many_fields_is_a_400_in_json(client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    response = client.post(
        "/api/v1/token",
        "&".join(f"f{n}=1" for n in range(20)),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
