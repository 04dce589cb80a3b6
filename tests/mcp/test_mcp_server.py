"""An MCP client (the SDK's own) talks to the Switchboard MCP server over HTTP and stdio."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
import uvicorn
from asgiref.sync import sync_to_async
from django.db import connection
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from contacts.models import Contact
from contacts.services.lists import create_list
from dashboard.actors import Actor
from dashboard.agents.prompts import activate_version
from dashboard.agents.services import issue_token, save_prompt_version

ROOT = Path(__file__).resolve().parents[2]
TOOLS = {
    "upsert_contact", "get_contact", "search_contacts", "tag_contact", "untag_contact",
    "add_to_list", "remove_from_list", "list_segments", "segment_contacts", "import_status",
    "send_sms", "sms_status", "credit_balance", "start_verification", "check_verification",
    "approval_status", "lookup_phone",
}  # fmt: skip


async def three_call_flow(client: Client, list_id: int) -> dict:
    """Upsert a contact, tag it VIP, add it to a list; answer the contact as read back."""
    created = await client.call_tool(
        "upsert_contact", {"email": "Mia@Example.com", "first_name": "Mia"}
    )
    assert not created.is_error, created.content
    contact_id = created.structured_content["id"]
    tagged = await client.call_tool("tag_contact", {"contact_id": contact_id, "tag": "VIP"})
    assert not tagged.is_error, tagged.content
    listed = await client.call_tool("add_to_list", {"contact_id": contact_id, "list_id": list_id})
    assert not listed.is_error, listed.content
    got = await client.call_tool("get_contact", {"contact_id": contact_id})
    return got.structured_content


@contextlib.contextmanager
def serving_mcp():
    """The ASGI app (Django + /mcp) under uvicorn on a free loopback port, in this process."""
    from dashboard.asgi import build_application

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(build_application(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def mcp_http_url(transactional_db):
    with serving_mcp() as url:
        yield url


def run_async(coroutine):
    """Run the client session in its own thread: a session-scoped Playwright browser (browser
    tests) may leave an event loop running in the main thread, where asyncio.run refuses."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def http_client(url: str, token: str) -> Client:
    return Client(
        streamable_http_client(
            url,
            http_client=httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {token}"}, timeout=30
            ),
        )
    )


@pytest.mark.django_db(transaction=True)
def test_an_agent_runs_the_three_call_flow_over_streamable_http(mcp_http_url, make_agent):
    agent = make_agent("http-hal", mode="autonomous")
    token, _ = issue_token(client_id=agent.client_id, client_secret=agent.client_secret)
    customers = create_list(actor=Actor.system("tests"), name="Customers")

    async def session() -> tuple[set[str], dict]:
        async with http_client(mcp_http_url, token) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            return names, await three_call_flow(client, customers.pk)

    names, contact = run_async(session())
    assert names >= TOOLS, names
    assert (contact["email"], contact["tags"], contact["list_ids"]) == (
        "mia@example.com",
        ["VIP"],
        [customers.pk],
    )
    assert Contact.objects.get().tags.get().name == "VIP"
    assert agent.actions.filter(outcome="done").count() == 3


@pytest.mark.django_db(transaction=True)
def test_an_agent_connecting_over_http_is_given_its_active_system_prompt(
    mcp_http_url, make_agent, staff_user
):
    # As GET /api/v1/agent and the stdio server do; and after a roll back, the version now
    # active, not the one active when the server started.
    agent = make_agent("http-prompted", prompt="Be polite.")
    save_prompt_version(actor=Actor.staff(staff_user), agent=agent, text="Be brief.", note="Tone")
    token, _ = issue_token(client_id=agent.client_id, client_secret=agent.client_secret)

    async def instructions() -> str | None:
        async with http_client(mcp_http_url, token) as client:
            return client.instructions

    assert run_async(instructions()) == "Be brief."
    activate_version(actor=Actor.staff(staff_user), agent=agent, number=1)
    assert run_async(instructions()) == "Be polite."
    # A client of the 2025 protocol meets the server with initialize instead.
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "older-client", "version": "1"},
    }}  # fmt: skip
    answer = httpx2.post(mcp_http_url, json=hello, timeout=30, headers={
        "Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
    })  # fmt: skip
    assert answer.json()["result"]["instructions"] == "Be polite."


@pytest.mark.django_db(transaction=True)
def test_business_errors_and_missing_scopes_come_back_as_tool_errors(mcp_http_url, make_agent):
    reader = make_agent("http-reader", scopes=["contacts:read"])
    token, _ = issue_token(client_id=reader.client_id, client_secret=reader.client_secret)

    async def session():
        async with http_client(mcp_http_url, token) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            refused = await client.call_tool("upsert_contact", {"email": "x@example.com"})
            missing = await client.call_tool("get_contact", {"contact_id": "nope"})
            return names, refused, missing

    names, refused, missing = run_async(session())
    assert "upsert_contact" not in names and "get_contact" in names
    assert refused.is_error and "contacts:write" in refused.content[0].text
    assert missing.is_error and missing.structured_content["code"] == "unknown_contact"
    assert not Contact.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_mcp_over_http_needs_a_live_token(mcp_http_url):
    response = httpx2.post(
        mcp_http_url,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": "Bearer wrong"},
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def mcp_thread_connected() -> bool:
    """Whether the thread the MCP server's ORM calls run in (asgiref's shared one) holds an
    open database connection."""
    return run_async(sync_to_async(lambda: connection.connection is not None)())


def refused_call(url: str) -> None:
    response = httpx2.post(
        url,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": "Bearer wrong"},
    )
    assert response.status_code == 401  # after a database query for the token


# Django never closes an in-memory SQLite database's connection, so only PostgreSQL can tell.
needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite keeps in-memory connections open"
)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_the_server_closes_its_database_connection_when_it_stops():
    with serving_mcp() as url:
        refused_call(url)
        assert mcp_thread_connected()
    # Left open, it kept a session on the test database, which then could not be dropped.
    assert not mcp_thread_connected()


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_mcp_requests_close_an_expired_connection_as_django_requests_do(monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    with serving_mcp() as url:
        refused_call(url)
        assert not mcp_thread_connected()


def manage(db_url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": db_url}
    done = subprocess.run(  # noqa: S603  (our own manage.py, fixed arguments)
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_agent_runs_the_three_call_flow_over_stdio(tmp_path):
    # The server is a separate process, so it gets its own small database file.
    db_url = f"sqlite:///{tmp_path / 'mcp.sqlite3'}"
    manage(db_url, "migrate", "--noinput", "-v0")
    created = manage(
        db_url,
        "create_agent",
        "stdio-sue",
        "--mode",
        "autonomous",
        "--scopes",
        "contacts:read,contacts:write,imports:write,sms:send",
    )
    assert "client_id: agt_" in created and "client_secret: " in created
    list_id = int(
        manage(
            db_url,
            "shell",
            "--no-imports",
            "-c",
            "from contacts.models import ContactList; print(ContactList.objects.create(name='Customers').pk)",
        ).strip()
    )

    params = StdioServerParameters(
        command=sys.executable,
        args=["manage.py", "mcp_server", "--agent", "stdio-sue"],
        cwd=str(ROOT),
        env={**os.environ, "DATABASE_URL": db_url},
    )

    async def session() -> tuple[set[str], dict]:
        async with Client(params) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            return names, await three_call_flow(client, list_id)

    names, contact = run_async(session())
    assert names >= TOOLS, names
    assert (contact["tags"], contact["list_ids"]) == (["VIP"], [list_id])
