"""The signed "import finished" webhook, received by a real HTTP server on localhost."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from contacts.imports import webhooks
from contacts.imports.models import ImportJob, WebhookAttempt
from contacts.services import imports
from dashboard import outbound

pytestmark = pytest.mark.django_db


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/import"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_a_finished_import_posts_a_signed_summary(
    run, receiver, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_WEBHOOK_SECRET = "s3cret"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = run("email\nann@example.com\nbad\n", webhook_url=receiver.url)
    assert len(callbacks) >= 1  # the delivery task is queued when the job ends

    attempt = webhooks.deliver(job_id=job.pk, attempt=1)

    assert attempt.ok and attempt.status_code == 200
    headers, body = receiver.requests[0]
    assert headers["Content-Type"] == "application/json"
    assert webhooks.verify_signature(headers[webhooks.HEADER], body, secret="s3cret")
    assert not webhooks.verify_signature(headers[webhooks.HEADER], body, secret="other")
    assert not webhooks.verify_signature(headers[webhooks.HEADER], body + b" ", secret="s3cret")
    # A mangled header is a mismatch, not a TypeError in the receiver's code.
    mangled = headers[webhooks.HEADER].replace("v1=", "v1=é")
    assert not webhooks.verify_signature(mangled, body, secret="s3cret")
    summary = json.loads(body)
    assert summary | {"finished_at": None} == {
        "event": "import.finished", "job_id": job.pk, "status": "done", "dry_run": False,
        "file_name": "leads.csv", "rows": 2, "imported": 1, "updated": 0, "skipped": 0,
        "invalid": 1, "finished_at": None,
    }  # fmt: skip


def test_a_failed_delivery_is_recorded_and_retried_later(run, receiver, settings):
    settings.IMPORT_WEBHOOK_ATTEMPTS = 3
    receiver.status = 503
    job = run("email\nann@example.com\n", webhook_url=receiver.url)

    webhooks.deliver(job_id=job.pk, attempt=1)
    webhooks.deliver(job_id=job.pk, attempt=2)
    webhooks.deliver(job_id=job.pk, attempt=3)

    assert list(WebhookAttempt.objects.values_list("attempt", "ok", "error")) == [
        (1, False, "HTTP 503"), (2, False, "HTTP 503"), (3, False, "HTTP 503"),
    ]  # fmt: skip
    retries = DBTaskResult.objects.filter(task_path__endswith="deliver_import_webhook")
    # Attempts 2 and 3 were queued with a growing delay; after the 3rd it gives up.
    assert sorted(r.args_kwargs["args"][1] for r in retries) == [2, 3]
    delays = sorted(r.run_after - r.enqueued_at for r in retries)
    assert delays[0] < delays[1]


def test_an_unreachable_receiver_is_an_attempt_with_the_reason(run, settings):
    settings.IMPORT_WEBHOOK_ATTEMPTS = 1
    job = run("email\nann@example.com\n", webhook_url="http://127.0.0.1:9/nothing-here")
    attempt = webhooks.deliver(job_id=job.pk, attempt=1)
    assert not attempt.ok and "ConnectError" in attempt.error


def test_a_webhook_url_must_be_http(start):
    with pytest.raises(imports.SwitchboardError) as error:
        start("email\nann@example.com\n", webhook_url="ftp://example.com/x")
    assert error.value.code == "invalid_webhook_url"


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook\x01",
        "http://example.com/\x7fhook",
        "http://example.com/" + "a" * 500,
    ],
    ids=["control-character", "delete", "too-long"],
)
def test_a_webhook_url_no_http_client_could_call_is_refused(start, url):
    # They were accepted, and each delivery then crashed without a recorded attempt (or, too
    # long for the column, the request failed on PostgreSQL).
    with pytest.raises(imports.SwitchboardError) as error:
        start("email\nann@example.com\n", webhook_url=url)
    assert (error.value.code, error.value.field) == (
        "invalid_webhook_url",
        "webhook_url",
    )
    assert "\x01" not in error.value.message and "\x7f" not in error.value.message


def test_a_stored_url_the_http_client_refuses_is_a_failed_attempt_and_retried(run, settings):
    settings.IMPORT_WEBHOOK_ATTEMPTS = 2
    job = run("email\nann@example.com\n", webhook_url="http://example.com/hook")
    ImportJob.objects.filter(pk=job.pk).update(webhook_url="http://example.com/\x01")

    attempt = webhooks.deliver(job_id=job.pk, attempt=1)

    assert not attempt.ok and attempt.error.startswith("InvalidURL: ")
    assert DBTaskResult.objects.filter(task_path__endswith="deliver_import_webhook").exists()


def test_an_import_cancelled_before_it_ran_still_calls_the_webhook(
    start, receiver, staff_actor, django_capture_on_commit_callbacks
):
    job = start("email\nann@example.com\n", webhook_url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        imports.cancel_import(actor=staff_actor, job=job)
    queued = DBTaskResult.objects.get(task_path__endswith="deliver_import_webhook")
    assert queued.args_kwargs["args"] == [job.pk, 1]
    webhooks.deliver(job_id=job.pk, attempt=1)
    assert json.loads(receiver.requests[0][1])["status"] == "cancelled"


def test_the_job_page_follows_the_deliveries_until_one_succeeds(htmx_client, run, receiver):
    receiver.status = 503
    job = run("email\nann@example.com\n", webhook_url=receiver.url)
    url = reverse("imports:detail", args=[job.pk])
    assert 'hx-trigger="every 5s"' in htmx_client.get(url).content.decode()  # none yet

    webhooks.deliver(job_id=job.pk, attempt=1)
    page = htmx_client.get(url).content.decode()
    assert "HTTP 503" in page and 'hx-trigger="every 5s"' in page  # a retry is coming

    receiver.status = 200
    webhooks.deliver(job_id=job.pk, attempt=2)
    page = htmx_client.get(url).content.decode()
    assert "HTTP 200" in page and "hx-trigger" not in page


def test_a_resumed_import_that_ends_again_is_followed_until_its_own_callback_lands(
    htmx_client, start, receiver, staff_actor
):
    job = imports.cancel_import(
        actor=staff_actor, job=start("email\nann@example.com\n", webhook_url=receiver.url)
    )
    webhooks.deliver(job_id=job.pk, attempt=1)  # "cancelled", delivered
    job = imports.run_import(imports.resume_import(actor=staff_actor, job=job).pk)
    assert job.status == "done"

    url = reverse("imports:detail", args=[job.pk])
    page = htmx_client.get(url).content.decode()
    # The earlier success was for the cancellation: the "done" callback is still to come.
    assert 'hx-trigger="every 5s"' in page
    webhooks.deliver(job_id=job.pk, attempt=1)
    assert list(WebhookAttempt.objects.values_list("reported", "ok")) == [
        ("cancelled", True), ("done", True),
    ]  # fmt: skip
    page = htmx_client.get(url).content.decode()
    assert "hx-trigger" not in page and "cancelled" in page


# --- Private addresses (SSRF) ----------------------------------------------------------------


@pytest.fixture
def dns(monkeypatch) -> dict[str, str]:
    """Names that resolve to the address given here; every other name does not resolve."""
    answers: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        if host.replace(".", "").isdigit() or ":" in host:
            return real(host, port, *args, **kwargs)  # a literal address: no lookup
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/admin",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://internal.example.com/hook",  # a public-looking name for a private address
    ],
)
def test_a_webhook_into_a_private_network_is_refused(start, settings, dns, url):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    dns["localhost"] = "127.0.0.1"
    dns["internal.example.com"] = "192.168.1.20"
    with pytest.raises(imports.SwitchboardError) as error:
        start("email\nann@example.com\n", webhook_url=url)
    assert (error.value.code, error.value.field) == ("private_webhook_url", "webhook_url")
    assert "public" in error.value.message
    assert not ImportJob.objects.exists()


def test_a_webhook_to_a_public_address_is_accepted(start, settings, dns):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    dns["hooks.example.com"] = "93.184.215.14"
    job = start("email\nann@example.com\n", webhook_url="https://hooks.example.com/import")
    assert job.webhook_url == "https://hooks.example.com/import"
    # A name that does not resolve yet is checked again when it is called.
    start("email\nann@example.com\n", webhook_url="https://later.example.org/import")


def test_a_name_that_turns_private_after_it_was_accepted_is_not_called(
    run, receiver, settings, dns
):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    settings.IMPORT_WEBHOOK_ATTEMPTS = 1
    port = receiver.server.server_address[1]
    dns["hooks.example.com"] = "93.184.215.14"
    job = run("email\nann@example.com\n", webhook_url=f"http://hooks.example.com:{port}/hook")
    dns["hooks.example.com"] = "127.0.0.1"  # DNS rebinding

    attempt = webhooks.deliver(job_id=job.pk, attempt=1)

    assert not attempt.ok and "127.0.0.1" in attempt.error and "private" in attempt.error
    assert receiver.requests == []


def test_a_webhook_goes_to_the_address_that_was_checked(run, receiver, settings, dns, monkeypatch):
    # As if 127.0.0.1 were a public address: the name is resolved once, checked, and the
    # request sent to that very address, with the name in its Host header.
    settings.WEBHOOK_ALLOW_PRIVATE = False
    port = receiver.server.server_address[1]
    dns["hooks.example.com"] = "93.184.215.14"
    job = run("email\nann@example.com\n", webhook_url=f"http://hooks.example.com:{port}/hook")
    dns["hooks.example.com"] = "127.0.0.1"
    monkeypatch.setattr(outbound, "is_public", lambda address: True)

    attempt = webhooks.deliver(job_id=job.pk, attempt=1)

    assert attempt.ok, attempt.error
    headers, _ = receiver.requests[0]
    assert headers["Host"] == f"hooks.example.com:{port}"


def test_a_name_that_no_longer_resolves_is_a_failed_attempt(run, settings, dns):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    settings.IMPORT_WEBHOOK_ATTEMPTS = 1
    dns["hooks.example.com"] = "93.184.215.14"
    job = run("email\nann@example.com\n", webhook_url="http://hooks.example.com/hook")
    del dns["hooks.example.com"]
    attempt = webhooks.deliver(job_id=job.pk, attempt=1)
    assert not attempt.ok and attempt.error == "hooks.example.com does not resolve."
