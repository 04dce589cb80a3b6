from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from dashboard.models import WorkerHeartbeat
from dashboard.operations import heartbeat

pytestmark = pytest.mark.django_db


def test_it_is_healthy_when_the_database_answers_and_a_worker_beat_recently(client):
    heartbeat.beat("w1")
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["worker"]["live_workers"] == 1


def test_it_is_unhealthy_without_a_live_worker(client):
    WorkerHeartbeat.objects.create(
        worker_id="old", hostname="h", pid=1, last_seen=timezone.now() - dt.timedelta(minutes=5)
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == {
        "ok": False,
        "live_workers": 0,
        "last_seen_seconds_ago": None,
    }


def test_a_stopped_worker_does_not_count(client):
    heartbeat.beat("w1")
    heartbeat.stop("w1")
    assert client.get("/healthz").status_code == 503


def test_it_needs_no_login_and_reveals_no_personal_data(client, django_user_model):
    django_user_model.objects.create_user("secret-person", "secret@example.com", "pw")
    heartbeat.beat("w1")
    text = client.get("/healthz").content.decode()
    assert "secret" not in text


def test_it_reports_the_database_down_as_503(client, monkeypatch):
    from django.db import DatabaseError

    from dashboard.views import operations

    class Broken:
        def __enter__(self):
            raise DatabaseError("down")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(operations.connection, "cursor", lambda: Broken())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"ok": False, "error": "DatabaseError"}
