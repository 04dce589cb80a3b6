"""Tokens, scopes, rate limits, monthly caps and the error shapes an agent recovers from."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from urllib.parse import quote_plus

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from contacts.models import Contact
from dashboard.actors import Actor
from dashboard.agents import services
from dashboard.agents.models import AccessToken, UsageCounter
from dashboard.agents.services import issue_token, revoke, rotate_secret
from tests.agents.personas import client_for

pytestmark = pytest.mark.django_db


def test_client_credentials_are_exchanged_for_a_bearer_token(autonomous_agent):
    response = Client().post(
        "/api/v1/token",
        {"grant_type": "client_credentials", "client_id": autonomous_agent.client_id,
         "client_secret": autonomous_agent.client_secret},
    )  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    me = Client().get("/api/v1/agent", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["name"] == autonomous_agent.name


def test_a_wrong_secret_or_grant_gets_no_token(autonomous_agent):
    wrong = Client().post(
        "/api/v1/token",
        {
            "grant_type": "client_credentials",
            "client_id": autonomous_agent.client_id,
            "client_secret": "guess",
        },
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    grant = Client().post(
        "/api/v1/token",
        {
            "grant_type": "password",
            "client_id": autonomous_agent.client_id,
            "client_secret": autonomous_agent.client_secret,
        },
    )
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    missing = Client().post("/api/v1/token", {"grant_type": "client_credentials"})
    assert missing.status_code == 400
    assert not AccessToken.objects.exists()


def test_credentials_sent_as_json_are_told_the_token_endpoint_takes_a_form(autonomous_agent):
    # Parsed as a form, a JSON body has no fields at all: "grant_type: Field required" sent
    # people looking for a typo in names they had spelled right.
    credentials = {"grant_type": "client_credentials", "client_id": autonomous_agent.client_id,
                   "client_secret": autonomous_agent.client_secret}  # fmt: skip
    response = Client().post("/api/v1/token", credentials, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == body["error"] == "invalid_request"
    assert "form-encoded" in body["message"] and "application/json" in body["message"]
    assert "HTTP Basic" in body["message"]  # the other place credentials may go
    assert body["error_description"] == body["message"]
    assert not AccessToken.objects.exists()


def test_a_missing_field_on_the_token_endpoint_is_an_oauth_error(autonomous_agent):
    response = Client().post("/api/v1/token", {"grant_type": "client_credentials"})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["error_description"] == body["message"]
    assert "client_id and client_secret" in body["message"] and "Basic" in body["message"]
    no_grant = Client().post("/api/v1/token", {"client_id": autonomous_agent.client_id})
    assert no_grant.json()["message"] == "form.grant_type: Field required"


def _basic(client_id: str, client_secret: str) -> dict[str, str]:
    # RFC 6749 §2.3.1: each part form-urlencoded, then base64(id:secret).
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def test_client_credentials_sent_with_http_basic_get_a_token(autonomous_agent):
    response = Client().post(
        "/api/v1/token",
        {"grant_type": "client_credentials"},
        headers=_basic(autonomous_agent.client_id, autonomous_agent.client_secret),
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = Client().get("/api/v1/agent", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["name"] == autonomous_agent.name


def test_the_same_credentials_in_the_header_and_the_form_are_accepted(autonomous_agent):
    credentials = {"client_id": autonomous_agent.client_id,
                   "client_secret": autonomous_agent.client_secret}  # fmt: skip
    response = Client().post(
        "/api/v1/token",
        {"grant_type": "client_credentials", **credentials},
        headers=_basic(**credentials),
    )
    assert response.status_code == 200


def test_a_wrong_secret_sent_with_basic_is_401_with_a_basic_challenge(autonomous_agent):
    response = Client().post(
        "/api/v1/token",
        {"grant_type": "client_credentials"},
        headers=_basic(autonomous_agent.client_id, "guess"),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response["WWW-Authenticate"].startswith("Basic")
    # Credentials in the form get no challenge: the client did not use HTTP authentication.
    form = Client().post(
        "/api/v1/token",
        {"grant_type": "client_credentials", "client_id": autonomous_agent.client_id,
         "client_secret": "guess"},
    )  # fmt: skip
    assert form.status_code == 401 and "WWW-Authenticate" not in form
    assert not AccessToken.objects.exists()


def test_basic_credentials_that_disagree_with_the_form_are_refused(autonomous_agent):
    response = Client().post(
        "/api/v1/token",
        {"grant_type": "client_credentials", "client_id": "someone-else"},
        headers=_basic(autonomous_agent.client_id, autonomous_agent.client_secret),
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == body["code"] == "invalid_request"
    assert "client_id" in body["error_description"] and "one way" in body["error_description"]
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic not-base64!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":secret-without-id").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:secret").decode(),
        "Basic " + base64.b64encode(b"client%00:secret").decode(),
    ],
)
def test_a_malformed_basic_header_is_an_oauth_invalid_request(autonomous_agent, header):
    response = Client().post(
        "/api/v1/token",
        {"grant_type": "client_credentials", "client_id": autonomous_agent.client_id,
         "client_secret": autonomous_agent.client_secret},
        headers={"Authorization": header},
    )  # fmt: skip
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert "Authorization: Basic" in body["error_description"]
    assert not AccessToken.objects.exists()


def test_a_switched_off_agent_is_told_so_when_it_asks_for_a_token(make_agent):
    agent = make_agent("retired")
    revoke(actor=Actor.system("tests"), agent=agent)
    credentials = {"grant_type": "client_credentials", "client_id": agent.client_id}
    response = Client().post("/api/v1/token", {**credentials, "client_secret": agent.client_secret})
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client" and body["code"] == "agent_switched_off"
    assert "switched off" in body["message"] and "admin" in body["message"]
    # Without the right secret nobody learns that the client id exists or is switched off.
    guess = Client().post("/api/v1/token", {**credentials, "client_secret": "guess"})
    assert guess.json()["code"] == "invalid_client"
    assert "switched off" not in guess.json()["message"]
    assert not AccessToken.objects.filter(agent=agent, revoked_at__isnull=True).exists()


def test_calls_without_a_valid_token_are_401():
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = Client().get("/api/v1/contacts", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_token"


def test_an_expired_token_is_401(agent_client):
    AccessToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert agent_client.get("/api/v1/contacts").status_code == 401


def test_revoking_the_agent_or_rotating_its_secret_ends_its_tokens(make_agent):
    revoked, rotated = make_agent("rev"), make_agent("rot")
    revoked_client, rotated_client = client_for(revoked), client_for(rotated)
    revoke(actor=Actor.system("tests"), agent=revoked)
    new_secret = rotate_secret(actor=Actor.system("tests"), agent=rotated)
    assert revoked_client.get("/api/v1/contacts").status_code == 401
    assert rotated_client.get("/api/v1/contacts").status_code == 401
    with pytest.raises(Exception, match="switched off"):
        client_for(revoked)
    rotated.client_secret = new_secret
    assert client_for(rotated).get("/api/v1/contacts").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_token_exchanged_while_the_secret_is_rotated_does_not_outlive_the_rotation(
    make_agent, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL's row locks")
    agent = make_agent("leaky")
    checked, rotated = threading.Event(), threading.Event()
    real_token = services.secrets.token_urlsafe

    def token_after_the_check(size: int) -> str:
        # The exchange has checked the old secret; let the rotation run before it stores
        # the token (it cannot while the exchange holds the agent's row).
        if threading.current_thread().name == "exchange":
            checked.set()
            rotated.wait(timeout=1)
        return real_token(size)

    monkeypatch.setattr(services.secrets, "token_urlsafe", token_after_the_check)
    issued: list[str] = []

    def exchange() -> None:
        try:
            issued.append(
                issue_token(client_id=agent.client_id, client_secret=agent.client_secret)[0]
            )
        finally:
            connection.close()

    def rotate() -> None:
        try:
            checked.wait(timeout=5)
            rotate_secret(actor=Actor.system("tests"), agent=agent)
            rotated.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=exchange, name="exchange"), threading.Thread(target=rotate)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(issued) == 1
    assert services.authenticate(issued[0]) is None


def test_a_missing_scope_is_403_and_changes_nothing(make_agent):
    reader = client_for(make_agent("reader", scopes=["contacts:read"]))
    response = reader.post(
        "/api/v1/contacts", {"email": "a@example.com"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"
    assert reader.get("/api/v1/contacts").status_code == 200
    writer = client_for(make_agent("writer", scopes=["contacts:write"]))
    assert writer.get("/api/v1/contacts").status_code == 403
    assert not Contact.objects.exists()


def test_schema_errors_are_400_with_the_field_path(agent_client):
    response = agent_client.post(
        "/api/v1/contacts",
        {"email": "a@example.com", "tags": "VIP"},
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_request"
    assert body["errors"][0]["path"] == "body.tags"
    broken = agent_client.post("/api/v1/contacts", "{nope", content_type="application/json")
    assert broken.status_code == 400
    nul = agent_client.post(
        "/api/v1/contacts", {"email": "a\u0000@example.com"}, content_type="application/json"
    )
    assert nul.status_code == 400


def test_a_method_a_path_does_not_take_is_a_json_405_naming_the_ones_it_does(agent_client):
    response = agent_client.put("/api/v1/contacts", {}, content_type="application/json")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    assert response.json() == {
        "code": "method_not_allowed",
        "message": "PUT is not allowed on /api/v1/contacts; it takes GET, POST.",
    }
    assert Client().get("/api/v1/token").json()["code"] == "method_not_allowed"


def test_a_path_that_names_no_endpoint_is_a_json_404(agent_client):
    response = agent_client.get("/api/v1/contact")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "/api/v1/openapi.json" in response.json()["message"]
    slash = agent_client.get("/api/v1/contacts/")
    assert slash.status_code == 404 and "without a slash" in slash.json()["message"]
    assert Client().get("/api/v1/docs").status_code == 200


def test_the_api_root_answers_json_pointing_at_the_reference():
    # Where an engineer wiring an agent starts: not the web site's HTML 404.
    response = Client().get("/api/v1/")
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": "The API has no endpoint at its root /api/v1/; its endpoints are listed in "
        "/api/v1/openapi.json and documented, with a console to try them, at /api/v1/docs.",
    }


def test_over_the_rate_limit_is_429_with_retry_after(make_agent):
    client = client_for(make_agent("hasty", rate_limit_per_minute=3))
    statuses = [client.get("/api/v1/contacts").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get("/api/v1/contacts")
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_over_the_monthly_cap_is_429_until_next_month(make_agent):
    client = client_for(make_agent("thrifty", monthly_request_cap=2))
    assert (
        client.post(
            "/api/v1/contacts", {"email": "a@example.com"}, content_type="application/json"
        ).status_code
        == 201
    )
    assert client.get("/api/v1/contacts").status_code == 200
    refused = client.post(
        "/api/v1/contacts", {"email": "b@example.com"}, content_type="application/json"
    )
    assert refused.status_code == 429
    assert refused.json()["code"] == "monthly_cap_reached"
    assert int(refused["Retry-After"]) > 0
    # When it can go on, and what would let it go on sooner.
    first_of_next = (timezone.now().replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    assert f"starts again on 1 {first_of_next:%B}" in refused.json()["message"]
    assert "raise the agent's monthly cap" in refused.json()["message"]
    assert Contact.objects.count() == 1


def test_a_monthly_cap_of_zero_lets_no_request_through(make_agent):
    # The month's first request creates its counter row; a cap of 0 must refuse even that one.
    agent = make_agent("paused", monthly_request_cap=0)
    client = client_for(agent)
    read = client.get("/api/v1/contacts")
    write = client.post(
        "/api/v1/contacts", {"email": "a@example.com"}, content_type="application/json"
    )
    assert read.status_code == write.status_code == 429
    assert read.json()["code"] == write.json()["code"] == "monthly_cap_reached"
    assert not Contact.objects.exists()
    assert not UsageCounter.objects.filter(agent=agent).exists()


def _minute_counts(agent) -> dict[str, int]:
    return dict(
        UsageCounter.objects.filter(agent=agent).order_by("window").values_list("window", "count")
    )


def test_the_monthly_count_carries_on_into_a_new_minute(make_agent, monkeypatch):
    agent = make_agent("steady", monthly_request_cap=2)
    client = client_for(agent)
    assert client.get("/api/v1/contacts").status_code == 200
    later = timezone.now() + dt.timedelta(minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert client.get("/api/v1/contacts").status_code == 200
    # The new minute dropped the old minute's row, not the month's.
    month = "M:" + later.strftime("%Y-%m")
    assert _minute_counts(agent) == {month: 2, "m:" + later.strftime("%Y-%m-%dT%H:%M"): 1}
    refused = client.get("/api/v1/contacts")
    assert refused.status_code == 429
    assert refused.json()["code"] == "monthly_cap_reached"


def test_a_refused_request_counts_in_neither_window(make_agent):
    agent = make_agent("capped", rate_limit_per_minute=2, monthly_request_cap=10)
    client = client_for(agent)
    body = {"email": "r@example.com", "upsert": True}
    for _ in range(2):
        assert (
            client.post("/api/v1/contacts", body, content_type="application/json").status_code < 300
        )
    for _ in range(3):
        refused = client.post("/api/v1/contacts", body, content_type="application/json")
        assert refused.status_code == 429
        assert client.get("/api/v1/contacts").status_code == 429
    assert sorted(_minute_counts(agent).values()) == [2, 2]
    assert agent.actions.count() == 2


def test_agent_profile_lists_tool_schemas_for_its_scopes_only(make_agent):
    client = client_for(make_agent("narrow", scopes=["contacts:read"]))
    body = client.get("/api/v1/agent").json()
    names = {tool["name"] for tool in body["tools_anthropic"]}
    assert "get_contact" in names and "upsert_contact" not in names
    openai = {tool["function"]["name"] for tool in body["tools_openai"]}
    assert openai == names
    assert body["tools_anthropic"][0]["input_schema"]["type"] == "object"


def test_agent_profile_serves_the_active_system_prompt(make_agent):
    from dashboard.agents.services import save_prompt_version

    agent = make_agent("prompted", prompt="Be brief.")
    save_prompt_version(
        actor=Actor.system("tests"), agent=agent, text="Be brief and kind.", note="tone"
    )
    body = client_for(agent).get("/api/v1/agent").json()
    assert (body["system_prompt"], body["prompt_version"]) == ("Be brief and kind.", 2)


def test_openapi_document_and_offline_docs_are_served():
    document = Client().get("/api/v1/openapi.json").json()
    assert "/api/v1/contacts" in document["paths"]
    # The shared errors say what they mean and what to do, and 429 documents Retry-After.
    refusals = document["paths"]["/api/v1/contacts"]["get"]["responses"]
    assert "Retry-After" in refusals["429"]["headers"]
    assert "POST /api/v1/token" in refusals["401"]["description"]
    assert "scope" in refusals["403"]["description"]
    token = document["paths"]["/api/v1/token"]["post"]["responses"]
    assert "agent_switched_off" in token["401"]["description"]
    # Only a client authenticating with HTTP Basic is challenged, in that scheme.
    assert "Basic" in token["401"]["headers"]["WWW-Authenticate"]["description"]
    assert "client_secret_basic" in document["paths"]["/api/v1/token"]["post"]["description"]
    assert token["401"]["content"]["application/json"]["schema"]  # the body is still described
    docs = Client().get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()


def test_the_tools_the_profile_hands_out_run_by_name_as_the_model_called_them(make_agent):
    client = client_for(make_agent("caller", scopes=["contacts:read", "contacts:write"]))
    names = {t["name"] for t in client.get("/api/v1/agent").json()["tools_anthropic"]}
    assert {"upsert_contact", "tag_contact", "get_contact"} <= names

    def call(name: str, arguments: dict | None = None):
        return client.post(f"/api/v1/tools/{name}", arguments, content_type="application/json")

    created = call("upsert_contact", {"email": "Mia@Example.com"})
    assert created.status_code == 201
    contact_id = created.json()["id"]
    assert call("tag_contact", {"contact_id": contact_id, "tag": "VIP"}).status_code == 200
    assert call("get_contact", {"contact_id": contact_id}).json()["tags"] == ["VIP"]
    assert call("list_segments").json() == {"segments": []}
    assert call("send_sms", {"to": "+447400123456", "message": "hi"}).json()["code"] == (
        "missing_scope"
    )
    assert call("nope", {}).status_code == 404
    wrong = call("get_contact", {"id": contact_id})
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_arguments"


def test_a_tool_run_retried_with_its_idempotency_key_header_acts_once(make_agent):
    client = client_for(make_agent("retrier", scopes=["contacts:read", "contacts:write"]))

    def call(arguments: dict, key: str):
        return client.post(
            "/api/v1/tools/upsert_contact", arguments, content_type="application/json",
            headers={"Idempotency-Key": key},
        )  # fmt: skip

    first = call({"email": "mia@example.com", "first_name": "Mia"}, "k-1")
    again = call({"email": "mia@example.com", "first_name": "Mia"}, "k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Contact.objects.get().version == 1
    other = call({"email": "mia@example.com", "first_name": "Maya"}, "k-1")
    assert (other.status_code, other.json()["code"]) == (406, "idempotency_key_reused")
    both = call({"email": "mia@example.com", "idempotency_key": "k-2"}, "k-3")
    assert (both.status_code, both.json()["code"]) == (400, "invalid_arguments")
    assert Contact.objects.get().first_name == "Mia"


def test_a_tool_run_over_the_rate_limit_is_429_with_retry_after(make_agent):
    client = client_for(make_agent("tool-hasty", rate_limit_per_minute=1))
    json = "application/json"
    assert client.post("/api/v1/tools/list_segments", content_type=json).status_code == 200
    refused = client.post("/api/v1/tools/list_segments", content_type=json)
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
