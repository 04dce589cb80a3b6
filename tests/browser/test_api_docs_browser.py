"""The interactive API docs work offline: Swagger UI loads from our own static files."""

from __future__ import annotations

import pytest


@pytest.mark.django_db(transaction=True)
def test_the_api_docs_render_with_local_assets_only(page, live_server):
    outside: list[str] = []
    page.on(
        "request", lambda r: None if r.url.startswith(live_server.url) else outside.append(r.url)
    )
    page.goto(f"{live_server.url}/api/v1/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert "Switchboard agent API" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector('[data-path="/api/v1/contacts"]', timeout=15_000)
    assert outside == []
