"""Fixtures for the tests of the database layer."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection


@pytest.fixture
def sent(monkeypatch) -> list[str]:
    """The queries the PostgreSQL server receives, one per round trip (each ``execute`` of
    psycopg's cursor), from the moment the fixture is set up."""
    connection.ensure_connection()  # a new connection sets its time zone first
    queries: list[str] = []
    execute = psycopg.ClientCursor.execute

    def recording(self, query, params=None, **kwargs):
        queries.append(query if isinstance(query, str) else repr(query))
        return execute(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.ClientCursor, "execute", recording)
    return queries
