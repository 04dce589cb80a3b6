"""The agent-facing docs page: how to connect, with every tool's schema."""

from __future__ import annotations

import pytest

from dashboard.mcp.tools import TOOLS

pytestmark = pytest.mark.django_db


def test_staff_see_how_to_connect_and_every_tool(staff_client):
    response = staff_client.get("/agents/connect/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/api/v1/token" in page and "/mcp" in page and "mcp_server" in page
    for name in TOOLS:
        assert name in page
    assert "input_schema" in page and "parameters" in page
