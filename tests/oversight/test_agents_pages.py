"""Agents pages: list with usage, create (secret shown once), settings, rotate, revoke."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from dashboard.agents.models import Agent
from dashboard.agents.pipeline import perform
from dashboard.agents.services import issue_token
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry
from tests.agents.personas import client_for

pytestmark = pytest.mark.django_db

CREATE = reverse("agents:create")


def new_agent(client, **overrides):
    data = {
        "name": "dispatcher",
        "description": "Texts couriers",
        "mode": "gated",
        "scopes": ["contacts:read", "sms:send"],
        "rate_limit_per_minute": 30,
        "monthly_request_cap": 1000,
        "monthly_sms_budget": "50",
        "prompt": "Be brief.",
        **overrides,
    }
    return client.post(CREATE, data)


def test_an_admin_creates_an_agent_and_sees_its_secret_once(admin_client):
    response = new_agent(admin_client)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    agent = Agent.objects.get(name="dispatcher")
    secret = response.context["secret"]
    assert secret in response.content.decode()
    assert agent.secret_hash != secret
    assert (agent.mode, agent.scopes, agent.rate_limit_per_minute) == (
        "gated",
        ["contacts:read", "sms:send"],
        30,
    )
    assert agent.prompt_versions.get().text == "Be brief."
    assert issue_token(client_id=agent.client_id, client_secret=secret)[0]
    assert (
        secret not in admin_client.get(reverse("agents:detail", args=[agent.pk])).content.decode()
    )


def test_a_duplicate_name_is_shown_next_to_the_field(admin_client, make_agent):
    make_agent("dispatcher")
    response = new_agent(admin_client)
    assert "An agent named “dispatcher” already exists." in response.content.decode()
    assert Agent.objects.count() == 1


def test_a_new_agent_needs_a_scope_and_the_form_keeps_what_was_typed(admin_client):
    response = new_agent(admin_client, scopes=[])
    page = response.content.decode()
    assert "Pick at least one scope: an agent without any can call nothing." in page
    assert 'value="dispatcher"' in page and "Be brief." in page
    assert not Agent.objects.exists()


def test_the_budget_field_says_sms_in_capitals(admin_client):
    assert "Monthly SMS budget" in admin_client.get(CREATE).content.decode()


def test_staff_who_are_not_admins_cannot_create_agents_or_change_credentials(
    staff_client, autonomous_agent
):
    assert new_agent(staff_client).status_code == 403
    assert (
        staff_client.post(reverse("agents:rotate", args=[autonomous_agent.pk])).status_code == 403
    )
    assert (
        staff_client.post(reverse("agents:revoke", args=[autonomous_agent.pk])).status_code == 403
    )
    assert (
        staff_client.post(reverse("agents:update", args=[autonomous_agent.pk]), {}).status_code
        == 403
    )


def test_an_admin_changes_scopes_mode_and_limits(admin_client, admin_user, autonomous_agent):
    response = admin_client.post(
        reverse("agents:update", args=[autonomous_agent.pk]),
        {
            "description": "",
            "mode": "monitored",
            "scopes": ["contacts:read"],
            "rate_limit_per_minute": 10,
            "monthly_request_cap": "",
            "monthly_sms_budget": "5",
        },
    )
    assert response.status_code == 302
    autonomous_agent.refresh_from_db()
    assert autonomous_agent.mode == "monitored"
    assert autonomous_agent.scopes == ["contacts:read"]
    assert autonomous_agent.rate_limit_per_minute == 10
    entry = AuditEntry.objects.get(action="agent.update")
    assert entry.actor_user == admin_user and entry.changes["mode"] == ["autonomous", "monitored"]
    refused = perform(autonomous_agent, "create_list", {"name": "Nope"})
    assert refused.status == 403


def test_saving_settings_opened_before_a_colleagues_save_does_not_undo_it(
    admin_client, autonomous_agent
):
    url = reverse("agents:update", args=[autonomous_agent.pk])
    page = admin_client.get(reverse("agents:detail", args=[autonomous_agent.pk]))
    opened = page.context["form"].initial["expected_version"]
    mine = {"mode": "autonomous", "scopes": ["contacts:read", "contacts:write"],
            "rate_limit_per_minute": 10, "monthly_sms_budget": "5", "expected_version": opened}  # fmt: skip
    # A colleague takes away contacts:write while this page is open.
    theirs = {**mine, "scopes": ["contacts:read"], "rate_limit_per_minute": 120}
    assert admin_client.post(url, theirs).status_code == 302
    response = admin_client.post(url, mine)
    assert response.status_code == 200
    assert "after you opened this page" in response.content.decode()
    autonomous_agent.refresh_from_db()
    assert autonomous_agent.scopes == ["contacts:read"]  # theirs stands
    # Having seen theirs, saving again is deliberate and goes through.
    again = {**mine, "expected_version": response.context["form"].data["expected_version"]}
    assert admin_client.post(url, again).status_code == 302
    autonomous_agent.refresh_from_db()
    assert autonomous_agent.scopes == ["contacts:read", "contacts:write"]
    # The page drawn now carries the version as stored (a budget read back as 5.0000).
    fresh = admin_client.get(reverse("agents:detail", args=[autonomous_agent.pk]))
    unchanged = {**mine, "expected_version": fresh.context["form"].initial["expected_version"]}
    assert admin_client.post(url, unchanged).status_code == 302


def test_a_double_clicked_save_is_not_a_conflict_with_itself(admin_client, autonomous_agent):
    url = reverse("agents:update", args=[autonomous_agent.pk])
    page = admin_client.get(reverse("agents:detail", args=[autonomous_agent.pk]))
    mine = {"mode": "monitored", "scopes": ["contacts:read"], "rate_limit_per_minute": 30,
            "expected_version": page.context["form"].initial["expected_version"]}  # fmt: skip
    assert admin_client.post(url, mine).status_code == 302
    # The second click carries the same, now older, version and the values just stored.
    assert admin_client.post(url, mine).status_code == 302
    assert AuditEntry.objects.filter(action="agent.update").count() == 1


def test_a_monthly_cap_beyond_what_can_be_stored_is_shown_next_to_the_field(
    admin_client, autonomous_agent
):
    # PostgreSQL refused the save with "integer out of range": a server error, the edit lost.
    settings_url = reverse("agents:update", args=[autonomous_agent.pk])
    response = admin_client.post(settings_url, {
        "mode": "gated", "scopes": ["contacts:read"], "rate_limit_per_minute": 10,
        "monthly_request_cap": 99_999_999_999,
    })  # fmt: skip
    assert response.status_code == 200
    assert "The monthly cap is 0 to 2,147,483,647 requests" in str(
        response.context["form"].errors["monthly_request_cap"]
    )
    autonomous_agent.refresh_from_db()
    assert autonomous_agent.monthly_request_cap is None and autonomous_agent.mode == "autonomous"
    created = new_agent(admin_client, monthly_request_cap=99_999_999_999)
    assert created.status_code == 200 and not Agent.objects.filter(name="dispatcher").exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--monthly-cap", "-1", "The monthly cap is 0 to"),
        ("--rate-limit", "99999999999", "The rate limit is 1 to"),
        ("--sms-budget", "-5", "The monthly SMS budget is 0 to"),
        ("--sms-budget", "NaN", "The monthly SMS budget is 0 to"),
        ("--sms-budget", "1e12", "The monthly SMS budget is 0 to"),
        ("--sms-budget", "ten", "--sms-budget: “ten” is not a number of credits"),
        ("--scopes", "", "Pick at least one scope"),
        ("--scopes", " , ", "Pick at least one scope"),
    ],
)
def test_the_command_refuses_limits_an_agent_cannot_have(option, value, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_agent", "cli-agent", option, value, stdout=io.StringIO())
    assert not Agent.objects.exists()


def test_rotating_the_secret_stops_the_old_one_and_its_tokens(admin_client, autonomous_agent):
    client = client_for(autonomous_agent)
    response = admin_client.post(reverse("agents:rotate", args=[autonomous_agent.pk]))
    new_secret = response.context["secret"]
    assert client.get("/api/v1/agent").status_code == 401
    with pytest.raises(SwitchboardError):
        issue_token(
            client_id=autonomous_agent.client_id, client_secret=autonomous_agent.client_secret
        )
    assert issue_token(client_id=autonomous_agent.client_id, client_secret=new_secret)[0]


def test_revoking_switches_the_agent_off(admin_client, autonomous_agent):
    client = client_for(autonomous_agent)
    admin_client.post(reverse("agents:revoke", args=[autonomous_agent.pk]))
    assert client.get("/api/v1/agent").status_code == 401
    autonomous_agent.refresh_from_db()
    assert not autonomous_agent.is_active


def test_revoking_twice_records_one_switch_off(admin_client, autonomous_agent):
    url = reverse("agents:revoke", args=[autonomous_agent.pk])
    admin_client.post(url)
    admin_client.post(url)  # a second click, or the page open in another tab
    assert AuditEntry.objects.filter(action="agent.revoke").count() == 1


def test_a_switched_off_agent_gets_no_new_secret_that_could_never_work(
    admin_client, autonomous_agent
):
    admin_client.post(reverse("agents:revoke", args=[autonomous_agent.pk]))
    before = Agent.objects.get(pk=autonomous_agent.pk).secret_hash
    page = admin_client.get(reverse("agents:detail", args=[autonomous_agent.pk]))
    assert reverse("agents:rotate", args=[autonomous_agent.pk]) not in page.content.decode()
    response = admin_client.post(reverse("agents:rotate", args=[autonomous_agent.pk]), follow=True)
    assert "secret" not in response.context or response.context.get("secret") is None
    assert "is switched off, so a new secret would not work" in response.content.decode()
    assert Agent.objects.get(pk=autonomous_agent.pk).secret_hash == before
    assert not AuditEntry.objects.filter(action="agent.rotate_secret").exists()


def test_the_list_and_detail_show_usage_this_month_against_the_cap(
    staff_client, make_agent, django_assert_max_num_queries
):
    agents = [make_agent(f"agent-{n}", monthly_request_cap=100) for n in range(4)]
    for _ in range(3):
        perform(agents[0], "create_list", {"name": f"List {_}"})
    with django_assert_max_num_queries(10):
        page = staff_client.get(reverse("agents:list")).content.decode()
    assert "3 / 100" in page
    detail = staff_client.get(reverse("agents:detail", args=[agents[0].pk])).content.decode()
    assert 'data-testid="requests">3' in detail and "of 100" in detail
