"""Erasure (GDPR): remove a person from what agents sent and were answered.

Registered with ``contacts.services.erasure`` from ``AgentsConfig.ready``. Every agent request
is kept as an ``AgentAction`` (payload and response, for the activity feed and idempotent
replays), and gated ones as an ``ApprovalRequest``: an upsert holds the person's email, phone,
names and metadata, a send their number and the text. The rows stay (who did what, when, at
what cost) but every part of them about the person becomes ``{"erased": true}``: the whole
payload of a single-person request, or just that person's item in a batch.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from dashboard import audit
from dashboard.actors import Actor
from dashboard.agents.models import ActionOutcome, AgentAction, ApprovalRequest, ApprovalStatus

ERASED = "[erased]"
# Keys whose value names the person an object is about.
IDENTIFYING = ("email", "to", "phone", "contact_id", "id")


class _Scrubber:
    def __init__(self, subject) -> None:
        self.needles = {str(subject.contact_id), subject.contact_id.hex, subject.email.lower()}
        if subject.phone:
            self.needles.add(subject.phone)
        full_name = f"{subject.first_name} {subject.last_name}".strip().lower()
        self.texts = [n for n in (subject.email.lower(), subject.phone, full_name) if n]

    def names(self, value: Any) -> bool:
        return isinstance(value, str) and value.strip().lower() in self.needles

    def about(self, value: dict) -> bool:
        return any(self.names(value.get(key)) for key in IDENTIFYING)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, dict):
            if self.about(value):
                return {"erased": True}
            return {key: self.scrub(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        return ERASED if self.names(value) else value

    def scrub_text(self, text: str) -> str:
        lowered = text.lower()
        return "" if any(needle in lowered for needle in self.texts) else text

    def mentions(self, *columns: str) -> Q:
        """Rows whose JSON columns hold any of the person's identifiers, as text. A scan, but
        erasures are rare and must not miss a row; ``scrub`` then decides exactly."""
        query = Q()
        for column in columns:
            for needle in self.needles:
                query |= Q(**{f"{column}_text__icontains": needle})
        return query


def scrub_agent_requests(subject) -> None:
    scrubber = _Scrubber(subject)
    actions = AgentAction.objects.annotate(
        payload_text=Cast("payload", TextField()),
        response_body_text=Cast("response_body", TextField()),
    ).filter(scrubber.mentions("payload", "response_body"))
    requests = ApprovalRequest.objects.annotate(
        payload_text=Cast("payload", TextField()),
        original_payload_text=Cast("original_payload", TextField()),
        result_text=Cast("result", TextField()),
    ).filter(
        scrubber.mentions("payload", "original_payload", "result")
        | Q(agent_action__in=actions.values("pk"))
    )
    # A send or erasure still waiting for staff would reach nobody now: it ends here, as a
    # rejection staff can read, and gives its held credits back to the agent's budget.
    waiting = list(requests.filter(status=ApprovalStatus.PENDING).values_list("pk", flat=True))
    for request_id in waiting:
        claimed = ApprovalRequest.objects.filter(
            pk=request_id, status=ApprovalStatus.PENDING
        ).update(
            status=ApprovalStatus.REJECTED,
            decided_at=timezone.now(),
            decision_note="The contact was erased.",
        )
        if claimed:
            request = ApprovalRequest.objects.get(pk=request_id)
            AgentAction.objects.filter(pk=request.agent_action_id).update(
                outcome=ActionOutcome.FAILED, credits=0
            )
            audit.record(
                actor=Actor.system("erasure"),
                action="approval.reject",
                obj=request,
                changes={"status": ["pending", "rejected"]},
            )

    fields = ["payload", "original_payload", "result", "reason", "decision_note"]
    scrubbed = []
    for request in requests.only("pk", *fields):
        request.payload = scrubber.scrub(request.payload)
        request.original_payload = scrubber.scrub(request.original_payload)
        request.result = scrubber.scrub(request.result)
        request.reason = scrubber.scrub_text(request.reason)
        request.decision_note = scrubber.scrub_text(request.decision_note)
        scrubbed.append(request)
    ApprovalRequest.objects.bulk_update(scrubbed, fields, batch_size=500)

    changed = []
    for action in actions.only("pk", "payload", "response_body", "reason"):
        action.payload = scrubber.scrub(action.payload)
        action.response_body = scrubber.scrub(action.response_body)
        action.reason = scrubber.scrub_text(action.reason)
        changed.append(action)
    AgentAction.objects.bulk_update(changed, ["payload", "response_body", "reason"], batch_size=500)
