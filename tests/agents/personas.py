"""Agents in each oversight mode, and clients that call the API as them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from dashboard.actors import Actor
from dashboard.agents.models import Agent
from dashboard.agents.services import create_agent, issue_token

ALL_SCOPES = [
    "contacts:read",
    "contacts:write",
    "contacts:erase",
    "imports:write",
    "sms:send",
    "campaigns:send",
]


@pytest.fixture
def make_agent(db) -> Callable[..., Agent]:
    def make(name: str = "scout", mode: str = "autonomous", scopes=ALL_SCOPES, **options) -> Agent:
        agent, secret = create_agent(
            actor=Actor.system("tests"), name=name, mode=mode, scopes=scopes, **options
        )
        agent.client_secret = secret  # type: ignore[attr-defined]
        return agent

    return make


@pytest.fixture
def autonomous_agent(make_agent) -> Agent:
    return make_agent("autonomous-ava", mode="autonomous")


@pytest.fixture
def monitored_agent(make_agent) -> Agent:
    return make_agent("monitored-mo", mode="monitored")


@pytest.fixture
def gated_agent(make_agent) -> Agent:
    return make_agent("gated-gus", mode="gated")


def client_for(agent: Agent) -> Client:
    token, _ = issue_token(client_id=agent.client_id, client_secret=agent.client_secret)
    client = Client(headers={"Authorization": f"Bearer {token}"})
    client.token = token  # type: ignore[attr-defined]
    return client


@pytest.fixture
def agent_client(autonomous_agent) -> Client:
    return client_for(autonomous_agent)


@pytest.fixture
def gated_client(gated_agent) -> Client:
    return client_for(gated_agent)
