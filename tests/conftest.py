"""Personas and helpers shared by the whole suite."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.test.client import FakePayload

from dashboard.actors import Actor


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Tests render pages without running collectstatic first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _local_webhook_receivers(settings):
    # The suite's webhook receivers listen on 127.0.0.1; tests of the refusal turn this off.
    settings.WEBHOOK_ALLOW_PRIVATE = True


def _user(django_user_model, username: str, *groups: str):
    user = django_user_model.objects.create_user(
        username, f"{username}@example.com", "correct horse battery"
    )
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


@pytest.fixture
def admin_user(django_user_model):
    return _user(django_user_model, "ada", settings.STAFF_GROUP, settings.ADMIN_GROUP)


@pytest.fixture
def staff_user(django_user_model):
    return _user(django_user_model, "sam", settings.STAFF_GROUP)


@pytest.fixture
def outsider_user(django_user_model):
    """Logged in, but not in the operations team."""
    return _user(django_user_model, "olly")


@pytest.fixture
def staff_client(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def outsider_client(outsider_user) -> Client:
    client = Client()
    client.force_login(outsider_user)
    return client


@pytest.fixture
def htmx_client(staff_user) -> Client:
    """A staff client whose requests look like htmx's."""
    client = Client(headers={"HX-Request": "true"})
    client.force_login(staff_user)
    return client


@pytest.fixture
def staff_actor(staff_user) -> Actor:
    return Actor.staff(staff_user)


@pytest.fixture
def system_actor() -> Actor:
    return Actor.system("tests")


@pytest.fixture
def body_read(monkeypatch) -> list[int]:
    """Bytes of request bodies the server read (the test client's stand-in for the socket)."""
    read: list[int] = []
    original = FakePayload.read

    def counting(self, size=-1, /):
        data = original(self, size)
        read.append(len(data))
        return data

    monkeypatch.setattr(FakePayload, "read", counting)
    return read
