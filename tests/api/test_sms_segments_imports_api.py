"""The rest of the agent API: segments, imports, SMS status and credits, verification, lookup."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from contacts.imports import uploads
from contacts.imports.models import ImportJob
from contacts.services.contacts import create_contact
from contacts.services.imports import run_import
from contacts.services.lists import create_list
from contacts.services.segments import create_segment
from dashboard.actors import Actor
from dashboard.agents.models import AgentAction, ApprovalRequest
from dashboard.agents.pipeline import approve
from dashboard.models import AuditEntry
from sms.gateways import sandbox
from sms.models import Message, OtpChallenge
from sms.services import credits, otp
from tests.agents.personas import client_for

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")
MOBILE = "+447400123456"


@pytest.fixture(autouse=True)
def _sandbox(settings, tmp_path):
    settings.SMS_GATEWAY = "sandbox"
    settings.SMS_QUIET_HOURS = "00:00-00:00"
    settings.IMPORT_DIR = tmp_path / "imports"
    sandbox.OUTBOX.clear()


@pytest.fixture
def funded(db):
    credits.ensure_default_prices()
    credits.ensure_account()
    credits.top_up(actor=SYSTEM, amount=Decimal("10"), note="test credit")


def post(client, url, data):
    return client.post(url, data, content_type="application/json")


def test_segments_can_be_created_listed_and_read(agent_client):
    create_contact(
        actor=SYSTEM, email="ann@example.com", first_name="Ann", metadata={"plan": "pro"}
    )
    create_contact(actor=SYSTEM, email="bob@example.com", first_name="Bob")
    rules = {"all": [{"field": "email", "op": "starts_with", "value": "ann"}]}
    created = post(agent_client, "/api/v1/segments", {"name": "Anns", "rules": rules})
    assert created.status_code == 201, created.json()
    segment_id = created.json()["id"]
    assert [s["name"] for s in agent_client.get("/api/v1/segments").json()] == ["Anns"]
    members = agent_client.get(f"/api/v1/segments/{segment_id}/contacts").json()["items"]
    assert [c["email"] for c in members] == ["ann@example.com"]
    filtered = agent_client.get(f"/api/v1/contacts?segment_id={segment_id}").json()["items"]
    assert [c["email"] for c in filtered] == ["ann@example.com"]
    assert agent_client.get("/api/v1/segments/999/contacts").status_code == 404


@pytest.mark.parametrize("query", ["email=bob%40example.com", "q=bob", "tag=VIP"])
def test_a_filter_a_segments_page_does_not_take_is_a_400_not_every_member(agent_client, query):
    # Ignored, the guessed filter answered every member as if each had matched it.
    create_contact(actor=SYSTEM, email="ann@example.com")
    create_contact(actor=SYSTEM, email="bob@example.com")
    rules = {"all": [{"field": "email", "op": "ends_with", "value": "example.com"}]}
    segment_id = post(agent_client, "/api/v1/segments", {"name": "All", "rules": rules}).json()[
        "id"
    ]
    response = agent_client.get(f"/api/v1/segments/{segment_id}/contacts?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_request"
    assert body["errors"][0]["path"] == f"query.{query.split('=')[0]}"
    assert "cursor, limit" in body["message"]
    assert agent_client.get(f"/api/v1/segments/{segment_id}/contacts?limit=1").status_code == 200


def test_broken_segment_rules_are_a_406(agent_client):
    response = post(
        agent_client, "/api/v1/segments", {"name": "Bad", "rules": {"all": [{"field": "nope"}]}}
    )
    assert response.status_code == 406
    assert response.json()["message"]


def test_an_import_is_queued_and_its_counts_can_be_polled(agent_client, autonomous_agent):
    leads = create_list(actor=SYSTEM, name="Leads")
    data = b"email,first name\nann@example.com,Ann\nnot-an-email,Bob\n"
    response = agent_client.post(
        "/api/v1/imports", {"file": _upload(data), "list_id": leads.pk, "default_region": "GB"}
    )
    assert response.status_code == 202, response.json()
    job_id = response.json()["import_job_id"]
    run_import(job_id)
    status = agent_client.get(f"/api/v1/imports/{job_id}").json()
    assert (status["status"], status["imported"], status["invalid"]) == ("done", 1, 1)
    assert (status["rows_done"], status["error"], status["file_name"]) == (2, None, "leads.csv")
    # Which rows were not imported as given, and why, as on the job page.
    assert status["issues_total"] == 1
    assert status["issues"] == [
        {
            "row": 3,
            "column": "email",
            "outcome": "invalid",
            "code": "invalid_email",
            "reason": "“not-an-email” is not a valid email address.",
        }
    ]
    assert leads.memberships.count() == 1
    assert ImportJob.objects.get().actor_label == autonomous_agent.name


def test_a_failed_import_reads_back_with_the_reason_it_stopped(agent_client):
    data = b"email\nann@example.com\n"
    job_id = agent_client.post("/api/v1/imports", {"file": _upload(data)}).json()["import_job_id"]
    Path(ImportJob.objects.get(pk=job_id).file_path).unlink()  # e.g. the import disk was wiped
    run_import(job_id)
    status = agent_client.get(f"/api/v1/imports/{job_id}").json()
    assert (status["status"], status["rows_done"]) == ("failed", 0)
    assert "No such file" in status["error"]


def test_an_import_of_a_file_with_a_header_but_no_rows_is_refused(agent_client):
    response = agent_client.post("/api/v1/imports", {"file": _upload(b"email,first name\n")})
    assert response.status_code == 406
    assert response.json()["code"] == "no_data_rows"
    assert "This file has a header row but no data rows" in response.json()["message"]
    assert not ImportJob.objects.exists()


def test_an_import_whose_file_lost_its_rows_ends_saying_so(agent_client):
    data = b"email\nann@example.com\n"
    job_id = agent_client.post("/api/v1/imports", {"file": _upload(data)}).json()["import_job_id"]
    Path(ImportJob.objects.get(pk=job_id).file_path).write_text("email\n")
    run_import(job_id)
    status = agent_client.get(f"/api/v1/imports/{job_id}").json()
    assert (status["status"], status["rows_done"], status["imported"]) == ("done", 0, 0)
    assert (
        status["error"] == "This file has a header row but no data rows, so nothing was imported."
    )


def test_an_oversized_import_is_refused_from_its_declared_size_unread(
    agent_client, settings, body_read
):
    settings.IMPORT_MAX_BYTES = 1024 * 1024
    data = b"email\n" + b"someone@example.com\n" * 110_000  # 2 MB
    response = agent_client.post("/api/v1/imports", {"file": _upload(data)})
    assert response.status_code == 413
    assert response.json() == {
        "code": "file_too_large",
        "message": "This file is larger than the 1 MB an import accepts. "
        "Split it into smaller files.",
        "field": "file",
        "max_bytes": 1024 * 1024,
    }
    assert sum(body_read) == 0
    assert not ImportJob.objects.exists()


def test_an_oversized_import_without_a_valid_token_is_a_401_unread(client, settings, body_read):
    # It was a 413: a caller with no token learnt the size limit, and one with an expired
    # token fixed its file first only to be told to log in.
    settings.IMPORT_MAX_BYTES = 1024 * 1024
    data = b"email\n" + b"someone@example.com\n" * 110_000  # 2 MB
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = client.post("/api/v1/imports", {"file": _upload(data)}, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_token"
    assert sum(body_read) == 0


def test_an_oversized_import_from_an_agent_without_the_scope_is_a_403(
    make_agent, settings, body_read
):
    settings.IMPORT_MAX_BYTES = 1024 * 1024
    client = client_for(make_agent("reader", scopes=["contacts:read"]))
    data = b"email\n" + b"someone@example.com\n" * 110_000  # 2 MB
    response = client.post("/api/v1/imports", {"file": _upload(data)})
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"
    assert sum(body_read) == 0


@pytest.mark.parametrize(
    ("limits", "code"),
    [({"monthly_request_cap": 0}, "monthly_cap_reached"),
     ({"rate_limit_per_minute": 1}, "rate_limited")],
)  # fmt: skip
def test_an_import_over_the_agents_limits_stores_nothing(
    make_agent, settings, body_read, limits, code
):
    # The file was stored (and the upload audited) before the limits were looked at.
    client = client_for(make_agent("eager", **limits))
    if "rate_limit_per_minute" in limits:
        assert client.get("/api/v1/contacts").status_code == 200  # the minute's one request
    body_read.clear()
    response = client.post("/api/v1/imports", {"file": _upload(b"email\na@example.com\n")})
    assert response.status_code == 429
    assert response.json()["code"] == code and response["Retry-After"]
    assert sum(body_read) == 0
    assert not ImportJob.objects.exists()
    assert not AuditEntry.objects.filter(action="import.upload").exists()
    assert not settings.IMPORT_DIR.exists() or not list(settings.IMPORT_DIR.iterdir())


def test_an_import_larger_than_its_declared_size_said_stops_being_read_at_the_limit(
    agent_client, settings, body_read, monkeypatch
):
    # As if the declared length had let it through: the file is read only up to the limit.
    monkeypatch.setattr(uploads, "ENVELOPE", 64 * 1024 * 1024)
    settings.IMPORT_MAX_BYTES = 100 * 1024
    data = b"email\n" + b"someone@example.com\n" * 100_000  # 2 MB
    response = agent_client.post("/api/v1/imports", {"file": _upload(data)})
    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"
    assert sum(body_read) < 300 * 1024
    assert not ImportJob.objects.exists()


def test_an_import_with_a_broken_mapping_leaves_no_job_behind(agent_client):
    response = agent_client.post(
        "/api/v1/imports",
        {"file": _upload(b"email\na@example.com\n"), "mapping": '{"Nope": "email"}'},
    )
    assert response.status_code == 406
    assert response.json()["code"] == "invalid_mapping"
    assert response.json()["errors"] == [
        {
            "field": "mapping",
            "code": "invalid_mapping",
            "message": "This file has no column “Nope”.",
        }
    ]
    assert not ImportJob.objects.exists()


def test_an_import_mapping_nested_past_the_recursion_limit_is_a_400(agent_client):
    response = agent_client.post(
        "/api/v1/imports",
        {"file": _upload(b"email\na@example.com\n"), "mapping": "[" * 5000 + "]" * 5000},
    )
    assert response.status_code == 400
    assert response.json()["message"] == "mapping: not valid JSON."
    assert not ImportJob.objects.exists()


def test_every_problem_with_an_imports_options_is_answered_at_once(agent_client):
    response = agent_client.post(
        "/api/v1/imports",
        {
            "file": _upload(b"Work,Name,Rank\na@example.com,Ann,1\n"),
            "mapping": '{"Name": "first_name", "Nope": "last_name", "Rank": "field:Height"}',
            "list_id": 424242,
            "default_region": "ZZ",
        },
    )
    assert response.status_code == 406
    body = response.json()
    assert body["code"] == "invalid_import"
    assert body["message"].startswith("5 problems with this import: ")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("mapping", "invalid_mapping"),
        ("mapping", "unknown_field"),
        ("mapping", "no_email_column"),
        ("list_id", "unknown_list"),
        ("default_region", "invalid_region"),
    ]
    assert body["errors"][3]["message"] == "There is no list with id 424242."
    assert not ImportJob.objects.exists()


def test_an_import_webhook_into_the_private_network_is_refused(agent_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = agent_client.post(
        "/api/v1/imports",
        {"file": _upload(b"email\na@example.com\n"), "webhook_url": "http://127.0.0.1:5432/"},
    )
    assert response.status_code == 406
    assert response.json()["code"] == "private_webhook_url"
    assert response.json()["field"] == "webhook_url"
    assert not ImportJob.objects.exists()
    assert not list(settings.IMPORT_DIR.iterdir())


def test_one_unknown_list_is_still_a_404_that_lists_itself(agent_client):
    response = agent_client.post(
        "/api/v1/imports", {"file": _upload(b"email\na@example.com\n"), "list_id": 424242}
    )
    assert response.status_code == 404
    assert response.json() == {
        "code": "unknown_list",
        "message": "There is no list with id 424242.",
        "field": "list_id",
        "errors": [
            {
                "field": "list_id",
                "code": "unknown_list",
                "message": "There is no list with id 424242.",
            }
        ],
    }


def test_other_agents_imports_are_not_visible(agent_client, make_agent):
    response = agent_client.post("/api/v1/imports", {"file": _upload(b"email\na@example.com\n")})
    other = client_for(make_agent("nosy"))
    assert other.get(f"/api/v1/imports/{response.json()['import_job_id']}").status_code == 404


def test_a_dry_run_import_leaves_its_idempotency_key_to_the_real_one(agent_client):
    data = b"email\na@example.com\n"
    headers = {"Idempotency-Key": "import-1"}
    preview = agent_client.post(
        "/api/v1/imports", {"file": _upload(data), "dry_run": "true"}, headers=headers
    )
    assert preview.status_code == 202 and preview.json()["dry_run"] is True
    real = agent_client.post("/api/v1/imports", {"file": _upload(data)}, headers=headers)
    assert real.status_code == 202, real.json()
    assert real.json()["dry_run"] is False
    again = agent_client.post("/api/v1/imports", {"file": _upload(data)}, headers=headers)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["import_job_id"] == real.json()["import_job_id"]
    assert ImportJob.objects.count() == 2


def _upload(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("leads.csv", data, content_type="text/csv")


def test_a_message_status_and_the_credits_can_be_read(agent_client, funded):
    sent = post(agent_client, "/api/v1/sms", {"to": MOBILE, "message": "Hello"}).json()
    status = agent_client.get(f"/api/v1/sms/{sent['id']}")
    assert status.status_code == 200 and status.json()["segments"] == 1
    balance = agent_client.get("/api/v1/sms/credits").json()
    assert Decimal(balance["balance"]) == Decimal("9.96")
    assert balance["agent_spent_this_month"] == "0.0400"  # as the balance: four places
    assert agent_client.get("/api/v1/sms/999").status_code == 404


def test_a_number_that_is_not_the_contacts_is_refused_rather_than_ignored(agent_client, funded):
    # The text went to the contact's phone and the number the agent gave was dropped unsaid.
    contact = create_contact(actor=SYSTEM, email="ann@example.com", phone=MOBILE)
    body = {"contact_id": str(contact.pk), "to": "+447400999888", "message": "Hi"}
    refused = post(agent_client, "/api/v1/sms", body)
    assert refused.status_code == 406
    assert refused.json()["code"] == "conflicting_recipient"
    assert refused.json()["field"] == "to"
    assert not Message.objects.exists()
    # The contact's own number, written any way, is no conflict.
    same = post(agent_client, "/api/v1/sms", {**body, "to": "07400 123456"})
    assert same.status_code == 201 and same.json()["to"] == MOBILE


def test_marketing_to_an_unsubscribed_contact_is_refused(agent_client, funded):
    contact = create_contact(
        actor=SYSTEM, email="u@example.com", phone=MOBILE, sms_consent="granted"
    )
    contact.unsubscribed_at = contact.created_at
    contact.save(update_fields=["unsubscribed_at"])
    response = post(
        agent_client,
        "/api/v1/sms",
        {"contact_id": str(contact.pk), "message": "Sale!", "kind": "marketing"},
    )
    assert response.status_code == 406
    assert response.json()["code"] == "unsubscribed"
    assert not Message.objects.exists()


def test_a_phone_can_be_verified_with_a_texted_code(agent_client, funded):
    started = post(agent_client, "/api/v1/verify/start", {"to": MOBILE})
    assert started.status_code == 201, started.json()
    assert OtpChallenge.objects.count() == 1
    wrong = post(agent_client, "/api/v1/verify/check", {"to": MOBILE, "code": "000000"})
    assert wrong.status_code == 200 and wrong.json()["verified"] in (False, True)
    throttled = post(agent_client, "/api/v1/verify/start", {"to": MOBILE})
    assert throttled.status_code == 406 and throttled.json()["code"] == "otp_throttled"


@pytest.mark.django_db(transaction=True)
def test_two_starts_at_once_for_one_number_text_one_code(autonomous_agent, funded, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL's concurrency")
    # Each start waits, just before it texts, for the other to get that far too: before the
    # number was locked both passed the 30 s check, and the person got two live codes.
    both_checked = threading.Barrier(2)
    real_send = otp.send_sms

    def send_once_both_checked(**kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):  # the other one is held
            both_checked.wait(timeout=2)
        return real_send(**kwargs)

    monkeypatch.setattr(otp, "send_sms", send_once_both_checked)
    clients = [client_for(autonomous_agent), client_for(autonomous_agent)]
    answers: list = []

    def start(client) -> None:
        try:
            answers.append(post(client, "/api/v1/verify/start", {"to": MOBILE}))
        finally:
            connection.close()

    threads = [threading.Thread(target=start, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(a.status_code for a in answers) == [201, 406]
    refused = next(a for a in answers if a.status_code == 406).json()
    assert refused["code"] == "otp_throttled" and "just sent" in refused["message"]
    assert OtpChallenge.objects.count() == 1
    assert Message.objects.filter(to=MOBILE).count() == 1


def test_a_verification_tool_call_retried_with_its_key_texts_one_code(agent_client, funded):
    # Without the key the retry of a call whose answer was lost is refused as otp_throttled,
    # and the agent cannot tell whether the person got a code.
    def start(headers=None, **arguments):
        return agent_client.post(
            "/api/v1/tools/start_verification", {"to": MOBILE, **arguments},
            content_type="application/json", headers=headers or {},
        )  # fmt: skip

    first = start({"Idempotency-Key": "otp-1"})
    again = start({"Idempotency-Key": "otp-1"})
    assert (first.status_code, again.status_code) == (201, 201), again.json()
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert start(idempotency_key="otp-1").json() == first.json()
    assert OtpChallenge.objects.count() == 1 and Message.objects.filter(to=MOBILE).count() == 1


def test_the_code_a_person_typed_is_not_kept_in_the_agents_action_log(agent_client, funded):
    post(agent_client, "/api/v1/verify/start", {"to": MOBILE})
    checked = post(agent_client, "/api/v1/verify/check", {"to": MOBILE, "code": "908172"})
    assert checked.status_code == 200
    record = AgentAction.objects.get(action="check_verification")
    assert record.payload == {"to": MOBILE, "code": "[hidden]"}
    assert "908172" not in str(record.payload) + str(record.response_body)


def test_a_number_can_be_looked_up(agent_client):
    info = agent_client.get("/api/v1/lookup/+447400123456").json()
    assert (info["region"], info["is_mobile"]) == ("GB", True)
    bad = agent_client.get("/api/v1/lookup/12")
    assert bad.status_code == 406 and bad.json()["code"] == "invalid_phone"


def test_a_number_that_opted_out_is_refused_as_suppressed(agent_client, funded):
    from sms.services.optouts import add_opt_out

    add_opt_out(actor=SYSTEM, phone=MOBILE, reason="STOP")
    response = post(agent_client, "/api/v1/sms", {"to": MOBILE, "message": "Hello"})
    assert response.status_code == 406
    assert response.json()["code"] == "suppressed"
    assert not Message.objects.exists()


def test_an_erased_person_cannot_be_added_again(agent_client):
    from contacts.services.erasure import erase_contact

    contact = create_contact(actor=SYSTEM, email="gone@example.com")
    erase_contact(actor=SYSTEM, contact=contact)
    response = post(agent_client, "/api/v1/contacts", {"email": "gone@example.com", "upsert": True})
    assert response.status_code == 406
    assert response.json()["code"] == "suppressed"


def test_erasing_again_says_the_contact_was_already_erased_not_that_it_never_existed(
    agent_client,
):
    # An agent retrying a DELETE whose answer it lost must learn the erasure happened.
    contact = create_contact(actor=SYSTEM, email="gone@example.com")
    assert agent_client.delete(f"/api/v1/contacts/{contact.pk}").status_code == 200

    again = agent_client.delete(f"/api/v1/contacts/{contact.pk}")

    assert again.status_code == 406
    assert again.json()["code"] == "already_erased"
    never = agent_client.delete("/api/v1/contacts/01a252e0-fa97-7811-b8ed-ae9654e7eeff")
    assert (never.status_code, never.json()["code"]) == (404, "unknown_contact")


def test_an_erasure_names_the_segments_whose_conditions_on_the_person_now_match_nobody(
    agent_client,
):
    contact = create_contact(actor=SYSTEM, email="gone@example.com")
    segment = create_segment(
        actor=SYSTEM,
        name="Gone",
        rules={"all": [{"field": "email", "op": "equals", "value": "gone@example.com"}]},
    )
    response = agent_client.delete(f"/api/v1/contacts/{contact.pk}")
    assert response.status_code == 200
    assert response.json()["segments_changed"] == [{"id": segment.pk, "name": "Gone"}]
    segment.refresh_from_db()
    assert segment.rules == {"all": [{"any": []}]}


def test_a_text_can_be_scheduled_and_reads_back_as_scheduled(agent_client, funded):
    when = (timezone.now() + dt.timedelta(hours=2)).replace(microsecond=0)
    preview = post(
        agent_client,
        "/api/v1/sms",
        {"to": MOBILE, "message": "Later", "schedule_at": when.isoformat(), "dry_run": True},
    )
    assert preview.status_code == 200
    assert preview.json()["send_after"] == when.isoformat()
    response = post(
        agent_client,
        "/api/v1/sms",
        {"to": MOBILE, "message": "Later", "schedule_at": when.isoformat()},
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["status"], response.json()["send_after"]) == (
        "scheduled", when.isoformat(),
    )  # fmt: skip
    assert agent_client.get(f"/api/v1/sms/{response.json()['id']}").json()["status"] == "scheduled"
    assert Message.objects.get().status == "scheduled"


def test_a_schedule_in_the_past_or_unreadable_is_a_406(agent_client, funded):
    for value, code in (("2020-01-01T09:00:00Z", "schedule_in_past"), ("soon", "invalid_schedule")):
        response = post(
            agent_client, "/api/v1/sms", {"to": MOBILE, "message": "Hi", "schedule_at": value}
        )
        assert response.status_code == 406
        assert response.json()["code"] == code
    assert not Message.objects.exists()


def test_a_gated_send_approved_after_its_time_goes_out_at_once(gated_client, funded, staff_user):
    when = timezone.now() + dt.timedelta(minutes=5)
    response = post(
        gated_client,
        "/api/v1/sms",
        {"to": MOBILE, "message": "Hi", "schedule_at": when.isoformat()},
    )
    assert response.status_code == 202
    request_id = response.json()["approval_id"]
    ApprovalRequest.objects.filter(pk=request_id).update(
        payload={**ApprovalRequest.objects.get(pk=request_id).payload,
                 "schedule_at": (timezone.now() - dt.timedelta(minutes=1)).isoformat()}
    )  # fmt: skip
    request = approve(request_id=request_id, user=staff_user)
    assert request.status == "executed", request.result
    message = Message.objects.get()
    assert (message.status, message.send_after) == ("pending", None)


@pytest.mark.parametrize(
    ("url", "extra"), [("/api/v1/sms", {"message": "Hi"}), ("/api/v1/verify/start", {})]
)
def test_a_landline_is_refused_without_asking_for_a_confirmation_the_api_has_no_way_to_give(
    agent_client, funded, url, extra
):
    response = post(agent_client, url, {"to": "+442079460000", **extra})
    assert response.status_code == 406
    body = response.json()
    assert body["code"] == "not_mobile" and body["number_type"] == "fixed line"
    assert body["message"] == (
        "+44 20 7946 0000 is a fixed line number, which may not receive texts. Nothing was sent."
    )
    assert not Message.objects.exists()


@pytest.mark.parametrize("schedule_at", ["2020", "1700000000", 1700000000])
def test_a_schedule_that_is_a_bare_number_is_refused_by_the_api_and_the_tool(
    agent_client, funded, schedule_at
):
    # Like updated_since and occurred_at: a number is not read as seconds since 1970.
    body = {"to": MOBILE, "message": "Hello", "schedule_at": schedule_at}
    for url in ("/api/v1/sms", "/api/v1/tools/send_sms"):
        response = post(agent_client, url, body)
        if isinstance(schedule_at, int):  # not even text: the schema refuses it, with the hint
            assert response.status_code == 400, response.content
            assert "schedule_at: Give an ISO 8601" in response.json()["message"]
        else:
            assert response.status_code == 406 and response.json()["code"] == "invalid_schedule"
            assert "ISO 8601" in response.json()["message"]
    assert not Message.objects.exists()
