"""Two staff members approve the same request at the same moment: it runs exactly once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from dashboard.agents import pipeline
from dashboard.agents.models import ApprovalRequest, ApprovalStatus
from dashboard.errors import SwitchboardError
from sms.models import CreditEntry, Message


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_approvals_run_the_send_once(
    gated_agent, ask_to_send, staff_user, admin_user
):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL's row locks")
    request = ask_to_send(gated_agent)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def click(user) -> None:
        try:
            start.wait()
            pipeline.approve(request_id=request.pk, user=user, edited_text="Edited by both")
            outcomes.append("approved")
        except SwitchboardError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(u,)) for u in (staff_user, admin_user)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["approval_already_decided", "approved"]
    assert Message.objects.count() == 1
    assert CreditEntry.objects.filter(kind="charge").count() == 1
    assert ApprovalRequest.objects.get(pk=request.pk).status == ApprovalStatus.EXECUTED


@pytest.mark.django_db
def test_a_second_decision_on_a_decided_request_is_refused(
    gated_agent, ask_to_send, staff_user, admin_user
):
    request = ask_to_send(gated_agent)
    pipeline.reject(request_id=request.pk, user=staff_user, note="No")
    with pytest.raises(SwitchboardError) as refused:
        pipeline.approve(request_id=request.pk, user=admin_user)
    assert refused.value.code == "approval_already_decided"
    assert not Message.objects.exists()
