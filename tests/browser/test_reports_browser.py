"""A manager's view: change a report's period and see the chart change; embed it elsewhere."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dashboard.reports import embeds
from dashboard.reports.models import EmbedLink
from sms.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


def _message(days_ago: int, n: int) -> None:
    created = timezone.now() - dt.timedelta(days=days_ago)
    Message.objects.create(
        idempotency_key=f"b{n}", to="+447700900001", country="GB", text="hi", kind="transactional",
        encoding="GSM-7", segments=1, price=Decimal("0.05"), status="delivered", gateway="sandbox",
        created_at=created, updated_at=created, sent_at=created, actor_kind="staff", actor_label="sam",
    )  # fmt: skip


def test_changing_the_period_redraws_the_chart(staff_page):
    _message(2, 1)
    _message(20, 2)
    _message(21, 3)
    page = staff_page
    page.goto("/reports/sms/?days=7&grouping=day")
    assert page.locator("svg.chart").first.get_attribute("data-total") == "1"
    page.select_option("#id_days", "30")
    # (expect() polls from outside the page: the CSP forbids eval, so no wait_for_function.)
    expect(page.locator("svg.chart").first).to_have_attribute("data-total", "3")
    assert "days=30" in page.url


class _Page(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def _serve(html: str) -> tuple[http.server.HTTPServer, str]:
    handler = type("Handler", (_Page,), {"body": html.encode()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_an_embed_link_loads_in_an_iframe_on_an_allowed_origin_only(page, live_server, settings):
    _message(1, 1)
    link = EmbedLink.objects.create(
        report="sms",
        days=30,
        grouping="day",
        label="wiki",
        expires_at=timezone.now() + dt.timedelta(days=1),
    )
    frame_html = f'<h1>Ops wiki</h1><iframe src="{live_server.url}/embed/{embeds.token_for(link)}/" width="900" height="600"></iframe>'
    allowed, allowed_origin = _serve(frame_html)
    other, other_origin = _serve(frame_html)
    settings.EMBED_FRAME_ANCESTORS = [allowed_origin]
    try:
        page.goto(allowed_origin)
        frame = page.frame_locator("iframe")
        assert frame.locator("svg.chart").get_attribute("data-total") == "1"
        assert frame.locator("h1").inner_text() == "SMS sent, delivered and failed"

        page.goto(other_origin)
        page.wait_for_timeout(1000)
        # The browser refuses to render Switchboard inside a page from another origin.
        assert page.frame_locator("iframe").locator("svg.chart").count() == 0
    finally:
        allowed.shutdown()
        other.shutdown()
