"""The agent pipeline: idempotent retries, dry runs, activity records and prompt versions."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from contacts.models import Contact, ContactList
from dashboard.actors import Actor
from dashboard.agents.models import AgentAction
from dashboard.agents.pipeline import perform
from dashboard.agents.services import save_prompt_version
from dashboard.models import AuditEntry
from tests.agents.personas import client_for

pytestmark = pytest.mark.django_db


def test_the_same_idempotency_key_and_body_replays_the_first_answer(agent_client):
    headers = {"Idempotency-Key": "k-1"}
    first = agent_client.post(
        "/api/v1/contacts",
        {"email": "a@example.com"},
        content_type="application/json",
        headers=headers,
    )
    again = agent_client.post(
        "/api/v1/contacts",
        {"email": "a@example.com"},
        content_type="application/json",
        headers=headers,
    )
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Contact.objects.count() == 1
    assert AgentAction.objects.count() == 1


def test_the_same_key_with_another_body_is_a_406(agent_client):
    headers = {"Idempotency-Key": "k-2"}
    agent_client.post(
        "/api/v1/contacts",
        {"email": "a@example.com"},
        content_type="application/json",
        headers=headers,
    )
    other = agent_client.post(
        "/api/v1/contacts",
        {"email": "b@example.com"},
        content_type="application/json",
        headers=headers,
    )
    assert other.status_code == 406
    assert other.json()["code"] == "idempotency_key_reused"
    assert not Contact.objects.filter(email="b@example.com").exists()


def test_a_key_can_be_used_again_after_24_hours(autonomous_agent):
    perform(autonomous_agent, "create_list", {"name": "One"}, idempotency_key="daily")
    AgentAction.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    outcome = perform(autonomous_agent, "create_list", {"name": "Two"}, idempotency_key="daily")
    assert outcome.status == 201 and outcome.body["name"] == "Two"


def test_a_failed_request_is_replayed_as_the_same_failure(agent_client):
    headers = {"Idempotency-Key": "k-3"}
    first = agent_client.post(
        "/api/v1/contacts", {"email": "bad"}, content_type="application/json", headers=headers
    )
    again = agent_client.post(
        "/api/v1/contacts", {"email": "bad"}, content_type="application/json", headers=headers
    )
    assert first.status_code == again.status_code == 406
    assert first.json() == again.json()


def test_an_idempotency_key_too_long_to_store_is_refused_not_cut_short(agent_client):
    # Cut to its first 200 characters, the second key would replay the first key's answer.
    stem = "k" * 200
    first = agent_client.post(
        "/api/v1/contacts", {"email": "a@example.com"}, content_type="application/json",
        headers={"Idempotency-Key": stem + "1"},
    )  # fmt: skip
    second = agent_client.post(
        "/api/v1/contacts", {"email": "b@example.com"}, content_type="application/json",
        headers={"Idempotency-Key": stem + "2"},
    )  # fmt: skip
    assert first.status_code == second.status_code == 400
    assert "Idempotency-Key" in first.json()["message"]
    assert not Contact.objects.exists() and not AgentAction.objects.exists()


def test_the_pipeline_refuses_an_idempotency_key_it_cannot_store(autonomous_agent):
    outcome = perform(autonomous_agent, "create_list", {"name": "One"}, idempotency_key="k" * 201)
    assert outcome.status == 400
    assert outcome.body["code"] == "invalid_idempotency_key"
    assert "at most 200 characters" in outcome.body["message"]
    assert not AgentAction.objects.exists()
    kept = perform(autonomous_agent, "create_list", {"name": "Two"}, idempotency_key="k" * 200)
    assert kept.status == 201


def test_a_dry_run_leaves_its_idempotency_key_to_the_real_request(autonomous_agent):
    # Preview, then do it with the same key: the key was refused as "used with a different
    # request" because the preview had claimed it.
    payload = {"name": "Leads"}
    preview = perform(autonomous_agent, "create_list", payload, idempotency_key="k", dry_run=True)
    assert preview.status == 201 and preview.body["dry_run"] is True
    real = perform(autonomous_agent, "create_list", payload, idempotency_key="k")
    assert real.status == 201 and "dry_run" not in real.body
    again = perform(autonomous_agent, "create_list", payload, idempotency_key="k")
    assert again.body == real.body and again.headers == {"Idempotent-Replayed": "true"}
    # A preview after the real request previews again; it neither replays nor is refused.
    later = perform(autonomous_agent, "create_list", payload, idempotency_key="k", dry_run=True)
    assert later.body["dry_run"] is True and not later.headers
    assert ContactList.objects.count() == 1


def test_a_dry_run_tags_nothing_but_says_what_would_happen(agent_client):
    contact = agent_client.post(
        "/api/v1/contacts", {"email": "a@example.com"}, content_type="application/json"
    ).json()
    response = agent_client.post(
        "/api/v1/tags/VIP/contacts",
        {"contact_ids": [contact["id"], "nope"], "dry_run": True},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert [r["result"] for r in response.json()["results"]] == ["tagged", "error"]
    assert not Contact.objects.get(pk=contact["id"]).tags.exists()
    assert AgentAction.objects.filter(outcome="dry_run").count() == 1


def test_every_write_is_recorded_with_the_mode_outcome_and_prompt_version(make_agent):
    agent = make_agent("watched", mode="monitored", prompt="Hello")
    client = client_for(agent)
    client.post("/api/v1/contacts", {"email": "a@example.com"}, content_type="application/json")
    client.post("/api/v1/contacts", {"email": "a@example.com"}, content_type="application/json")
    done, failed = AgentAction.objects.order_by("id")
    assert (done.mode, done.outcome, done.response_status) == ("monitored", "done", 201)
    assert (failed.outcome, failed.response_body["code"]) == ("failed", "duplicate_email")
    version = agent.prompt_versions.get()
    assert done.prompt_version == version
    assert AuditEntry.objects.get(action="contact.create").prompt_version_id == version.pk


def test_a_new_prompt_version_is_recorded_on_later_actions(make_agent):
    agent = make_agent("tuned", prompt="v1")
    perform(agent, "create_list", {"name": "A"})
    v2 = save_prompt_version(actor=Actor.system("tests"), agent=agent, text="v2")
    perform(agent, "create_list", {"name": "B"})
    assert [a.prompt_version.number for a in AgentAction.objects.order_by("id")] == [1, v2.number]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs concurrent writers")
def test_two_requests_at_once_with_one_key_act_once(autonomous_agent):
    barrier = threading.Barrier(2)
    answers: list[tuple[int, dict, dict]] = []

    def ask() -> None:
        try:
            barrier.wait()
            outcome = perform(
                autonomous_agent, "upsert_contact",
                {"email": "race@example.com", "first_name": "Ray", "upsert": True},
                idempotency_key="same-key",
            )  # fmt: skip
            answers.append((outcome.status, outcome.body, outcome.headers))
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Contact.objects.count() == 1
    assert AgentAction.objects.count() == 1
    assert AuditEntry.objects.filter(action__startswith="contact.").count() == 1
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [201, 201], answers
    assert answers[0][1] == answers[1][1]
