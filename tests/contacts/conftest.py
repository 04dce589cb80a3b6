"""Helpers for the contacts tests: a quick way to make contacts and read their records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from contacts.models import Contact
from contacts.services import contacts as contact_service
from dashboard.actors import Actor


@pytest.fixture
def make_contact(system_actor: Actor) -> Callable[..., Contact]:
    """Create a contact through the service (so it has its audit row and history)."""
    counter = iter(range(1, 10_000))

    def make(**attrs: Any) -> Contact:
        attrs.setdefault("email", f"person{next(counter)}@example.com")
        return contact_service.create_contact(actor=attrs.pop("actor", system_actor), **attrs)

    return make
