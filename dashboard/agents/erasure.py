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

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from dashboard.actors import Actor
from dashboard.agents.models import AgentAction, ApprovalRequest, ApprovalStatus
from dashboard.agents.pipeline import withdraw

ERASED = "[erased]"
WITHDRAWN = "The contact was erased."
# Keys whose value names the person an object is about.
IDENTIFYING = ("email", "to", "phone", "contact_id", "id")


class _Scrubber:
    def __init__(self, subject) -> None:
        # Requests made before an email change or a merge name the person by their former
        # address, number or (a merged duplicate's) id: those are theirs too.
        ids = {subject.contact_id, *subject.merged_ids}
        emails = {subject.email.lower(), *subject.former_emails}
        phones = {p for p in (subject.phone, *subject.former_phones) if p}
        self.needles = {*(str(i) for i in ids), *(i.hex for i in ids), *emails, *phones} - {""}
        full_name = f"{subject.first_name} {subject.last_name}".strip().lower()
        names = {full_name, *(name.lower() for name in subject.former_names)}
        self.texts = [n for n in (*emails, *phones, *names) if n]

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

    def scrub_result(self, value: Any) -> Any:
        """``scrub``, but an executed request's own bookkeeping stays: its status code and the
        id of the row it wrote when that is no identifier of the person (a text's message id).
        The review of agent texts finds who approved a text by that id."""
        scrubbed = self.scrub(value)
        if isinstance(value, dict) and scrubbed == {"erased": True}:
            kept = {
                k: value[k] for k in ("status", "id") if k in value and not self.names(value[k])
            }
            return {**kept, **scrubbed}
        return scrubbed

    def scrub_text(self, text: str) -> str:
        lowered = text.lower()
        return "" if any(needle in lowered for needle in self.texts) else text

    def rows(self, queryset: QuerySet, *columns: str, also: Q | None = None) -> QuerySet:
        """Rows whose JSON ``columns`` hold any of the person's identifiers, read as text (or
        that match ``also``). A scan, but erasures are rare and must not miss a row; ``scrub``
        then decides exactly what in them is about the person."""
        texts = {f"{column}_text": Cast(column, TextField()) for column in columns}
        query = also or Q()
        for name in texts:
            for needle in self.needles:
                query |= Q(**{f"{name}__icontains": needle})
        return queryset.alias(**texts).filter(query)


def scrub_agent_requests(subject) -> None:
    scrubber = _Scrubber(subject)
    actions = scrubber.rows(AgentAction.objects, "payload", "response_body")
    requests = scrubber.rows(
        ApprovalRequest.objects, "payload", "original_payload", "result",
        also=Q(agent_action__in=actions.values("pk")),
    )  # fmt: skip
    # A send or erasure still waiting for staff would reach nobody now: it ends here, as a
    # rejection staff can read, and gives its held credits back to the agent's budget.
    waiting = requests.filter(status=ApprovalStatus.PENDING).values_list("pk", flat=True)
    for request_id in list(waiting):
        withdraw(request_id=request_id, actor=Actor.system("erasure"), note=WITHDRAWN)

    fields = ["payload", "original_payload", "result", "reason", "decision_note"]
    scrubbed = []
    for request in requests.only("pk", *fields):
        request.payload = scrubber.scrub(request.payload)
        request.original_payload = scrubber.scrub(request.original_payload)
        request.result = scrubber.scrub_result(request.result)
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
