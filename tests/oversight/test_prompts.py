"""Prompt tuning: save a version, compare two, make one active, preview it, per-version stats."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from dashboard.actors import Actor
from dashboard.agents.models import AgentAction, AgentPromptVersion
from dashboard.agents.pipeline import approve, perform, reject
from dashboard.agents.prompts import version_stats
from dashboard.agents.services import save_prompt_version
from dashboard.models import AuditEntry
from sms.models import Message, OptOut
from tests.agents.personas import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(make_agent):
    return make_agent("courier", mode="gated", prompt="Be polite.\nSign as Courier.")


def save(client, agent, text: str, note: str = "Tone"):
    return client.post(reverse("agents:prompt", args=[agent.pk]), {"text": text, "note": note})


def test_saving_a_new_version_makes_it_the_one_the_api_serves(staff_client, staff_user, agent):
    response = save(staff_client, agent, "Be warm.\nSign as Courier.", "Friendlier tone")
    assert response.status_code == 302
    version = AgentPromptVersion.objects.get(agent=agent, is_active=True)
    assert (version.number, version.note, version.author) == (2, "Friendlier tone", staff_user)
    served = client_for(agent).get("/api/v1/agent").json()
    assert served["system_prompt"] == "Be warm.\nSign as Courier."
    assert served["prompt_version"] == 2


def test_saving_the_same_text_again_is_refused_with_a_message(staff_client, agent):
    response = save(staff_client, agent, "Be polite.\nSign as Courier.")
    assert response.status_code == 200
    assert "change something first" in response.content.decode()
    assert agent.prompt_versions.count() == 1


def test_line_breaks_as_browsers_send_them_are_stored_as_plain_newlines(staff_client, agent):
    # A browser posts a textarea's line breaks as CRLF.
    response = save(staff_client, agent, "Be polite.\r\nSign as Courier.")
    assert "change something first" in response.content.decode()
    assert agent.prompt_versions.count() == 1
    save(staff_client, agent, "Be warm.\r\nSign as Courier.\r\n")
    served = client_for(agent).get("/api/v1/agent").json()["system_prompt"]
    assert served == "Be warm.\nSign as Courier.\n"


def test_a_version_saved_by_someone_else_meanwhile_is_not_quietly_replaced(
    staff_client, admin_client, agent
):
    # Two people open the editor on v1; the second to save must not make the first's v2
    # disappear from what the agent gets without knowing it.
    page = staff_client.get(reverse("agents:prompt", args=[agent.pk])).content.decode()
    assert 'name="latest" value="1"' in page
    admin_client.post(
        reverse("agents:prompt", args=[agent.pk]),
        {"text": "Be brief.\nSign as Courier.", "note": "Shorter", "latest": "1"},
    )
    mine = {"text": "Be warm.\nSign as Courier.", "note": "Warmer", "latest": "1"}
    response = staff_client.post(reverse("agents:prompt", args=[agent.pk]), mine)
    text = response.content.decode()
    assert response.status_code == 200
    assert "Version 2 was saved by ada after you opened this page" in text
    assert "Be warm." in text  # what they typed is kept
    assert 'name="latest" value="2"' in text
    assert AgentPromptVersion.objects.get(agent=agent, is_active=True).number == 2
    # Having seen v2, saving again is deliberate.
    again = staff_client.post(reverse("agents:prompt", args=[agent.pk]), {**mine, "latest": "2"})
    assert again.status_code == 302
    assert AgentPromptVersion.objects.get(agent=agent, is_active=True).text.startswith("Be warm.")


def test_a_version_needs_a_note_saying_why(staff_client, agent):
    response = save(staff_client, agent, "Different", note="")
    assert "This field is required." in response.content.decode()
    assert agent.prompt_versions.count() == 1


def test_a_blank_prompt_is_refused_and_the_agent_keeps_its_version(staff_client, agent):
    response = save(staff_client, agent, "  \n\t\n ")
    assert response.status_code == 200
    assert "A prompt needs some text" in response.content.decode()
    assert agent.prompt_versions.count() == 1
    assert client_for(agent).get("/api/v1/agent").json()["system_prompt"].startswith("Be polite.")


def test_the_diff_shows_removed_and_added_lines_between_any_two_versions(
    htmx_client, staff_client, agent
):
    save(staff_client, agent, "Be warm.\nSign as Courier.")
    save(staff_client, agent, "Be warm.\nSign as Courier.\nNever promise a time.")
    response = htmx_client.get(
        reverse("agents:prompt_diff", args=[agent.pk]), {"a": 1, "b": 3}, HTTP_HX_TARGET="diff"
    )
    page = response.content.decode()
    assert '<tr class="diff-removed">' in page and "- Be polite." in page
    assert '<tr class="diff-added">' in page and "+ Be warm." in page
    assert "+ Never promise a time." in page
    assert '<tr class="diff-same">' in page  # "Sign as Courier." is context


def test_activating_an_older_version_rolls_back_what_the_agent_gets(
    staff_client, staff_user, agent
):
    save(staff_client, agent, "Be terse.")
    response = staff_client.post(reverse("agents:prompt_activate", args=[agent.pk]), {"number": 1})
    assert response.status_code == 302
    assert client_for(agent).get("/api/v1/agent").json()["system_prompt"].startswith("Be polite.")
    assert list(agent.prompt_versions.filter(is_active=True).values_list("number", flat=True)) == [
        1
    ]
    entry = AuditEntry.objects.get(action="agent.prompt_activate")
    assert entry.changes == {"prompt_version": [2, 1]} and entry.actor_user == staff_user


def test_activating_a_version_does_not_quietly_undo_one_made_active_meanwhile(
    staff_client, admin_client, agent
):
    save(staff_client, agent, "Be terse.")  # v2, active
    page = staff_client.get(reverse("agents:prompt", args=[agent.pk])).content.decode()
    assert 'name="active" value="2"' in page
    # Someone else saves v3 while this page is open; rolling back to v1 from the stale page
    # would take v3 away from the agent without either person knowing.
    save(admin_client, agent, "Be brief.", "Shorter")
    activate = reverse("agents:prompt_activate", args=[agent.pk])
    response = staff_client.post(activate, {"number": 1, "active": 2}, follow=True)
    assert "Version 3 became active after you opened this page" in response.content.decode()
    assert agent.prompt_versions.get(is_active=True).number == 3
    # Having seen v3, activating v1 is deliberate.
    staff_client.post(activate, {"number": 1, "active": 3})
    assert agent.prompt_versions.get(is_active=True).number == 1


def test_activating_an_unknown_version_says_so(staff_client, agent):
    response = staff_client.post(
        reverse("agents:prompt_activate", args=[agent.pk]), {"number": 9}, follow=True
    )
    assert "courier has no prompt version 9." in response.content.decode()


def test_version_numbers_in_other_scripts_digits_are_no_version_not_an_error_page(
    staff_client, agent
):
    # "²" and "٣" pass str.isdigit(); int() takes only the second. Neither is a version here.
    page = reverse("agents:prompt", args=[agent.pk])
    assert staff_client.get(page, {"version": "²", "a": "²", "b": "٣"}).status_code == 200
    assert staff_client.get(page + "diff/", {"a": "²", "b": "1"}).status_code == 200
    response = staff_client.post(
        reverse("agents:prompt_activate", args=[agent.pk]), {"number": "²"}, follow=True
    )
    assert response.status_code == 200
    assert "courier has no prompt version 0." in response.content.decode()


def test_actions_record_the_prompt_version_active_when_they_were_asked_for(
    agent, funded, contact, staff_user
):
    first = perform(agent, "send_sms", {"contact_id": str(contact.pk), "message": "Hi"})
    save_prompt_version(actor=Actor.staff(staff_user), agent=agent, text="v2", note="n")
    approve(request_id=first.body["approval_id"], user=staff_user)
    # Sent after v2 became active, but written under v1: the message keeps v1.
    v1 = agent.prompt_versions.get(number=1)
    assert Message.objects.get().prompt_version_id == v1.pk
    assert AgentAction.objects.get(action="send_sms").prompt_version == v1


def test_the_preview_fills_placeholders_from_the_chosen_contact(staff_client, agent, contact):
    save(staff_client, agent, "Greet {first_name} by name. Keep {house_style}.")
    response = staff_client.get(
        reverse("agents:prompt_preview", args=[agent.pk]),
        {"version": 2, "contact": contact.email},
    )
    page = response.content.decode()
    assert "Greet Alice by name." in page
    assert "{house_style}" in page and "Left as written" in page


def test_the_preview_is_announced_when_it_arrives(staff_client, agent):
    page = staff_client.get(reverse("agents:prompt", args=[agent.pk])).content.decode()
    assert '<div id="preview" aria-live="polite">' in page


def test_previewing_with_an_unknown_contact_says_so(staff_client, agent):
    response = staff_client.get(
        reverse("agents:prompt_preview", args=[agent.pk]),
        {"version": 1, "contact": "nobody@example.com"},
    )
    assert "No contact has the email nobody@example.com." in response.content.decode()


def test_statistics_per_version_count_messages_approvals_reasons_and_opt_outs(
    agent, funded, contact, staff_user, staff_client
):
    def ask(text: str) -> int:
        outcome = perform(agent, "send_sms", {"contact_id": str(contact.pk), "message": text})
        return outcome.body["approval_id"]

    approve(request_id=ask("One"), user=staff_user)
    reject(request_id=ask("Two"), user=staff_user, note="Too pushy")
    reject(request_id=ask("Three"), user=staff_user, note="Too pushy")
    OptOut.objects.create(
        phone=contact.phone, reason="STOP", actor_kind="system", actor_label="inbound"
    )
    save_prompt_version(actor=Actor.staff(staff_user), agent=agent, text="v2", note="calmer")

    v2, v1 = version_stats(agent)
    assert (v1.messages, v1.opted_out, v1.approved, v1.rejected) == (1, 1, 1, 2)
    assert v1.approval_rate == pytest.approx(1 / 3)
    assert v1.opt_out_rate == 1.0
    assert v1.rejection_reasons == [("Too pushy", 2)]
    assert (v2.messages, v2.decided, v2.approval_rate, v2.opt_out_rate) == (0, 0, None, None)

    page = staff_client.get(reverse("agents:prompt", args=[agent.pk])).content.decode()
    assert "Too pushy (2)" in page and "33%" in page and "100%" in page


def test_an_opt_out_before_the_message_does_not_count_against_it(
    agent, funded, contact, staff_user
):
    outcome = perform(agent, "send_sms", {"contact_id": str(contact.pk), "message": "One"})
    approve(request_id=outcome.body["approval_id"], user=staff_user)
    message = Message.objects.get()
    optout = OptOut.objects.create(
        phone="+447400999999", reason="STOP", actor_kind="system", actor_label="inbound"
    )
    Message.objects.filter(pk=message.pk).update(to=optout.phone)
    OptOut.objects.filter(pk=optout.pk).update(created_at=message.created_at.replace(year=2020))
    (v1,) = version_stats(agent)
    assert (v1.messages, v1.opted_out) == (1, 0)


def test_an_opt_out_long_after_the_message_does_not_count_against_it(
    agent, funded, contact, staff_user
):
    outcome = perform(agent, "send_sms", {"contact_id": str(contact.pk), "message": "One"})
    approve(request_id=outcome.body["approval_id"], user=staff_user)
    message = Message.objects.get()
    optout = OptOut.objects.create(
        phone=message.to, reason="STOP", actor_kind="system", actor_label="inbound"
    )
    # Months later, as the opt-outs report sees it too: that text did not cause it.
    OptOut.objects.filter(pk=optout.pk).update(
        created_at=message.created_at + dt.timedelta(days=90)
    )
    (v1,) = version_stats(agent)
    assert (v1.messages, v1.opted_out) == (1, 0)
