"""Erasure (GDPR): remove a person from what agents sent and were answered.

Registered with ``contacts.services.erasure`` from ``AgentsConfig.ready``. Every agent request
is kept as an ``AgentAction`` (payload and response, for the activity feed and idempotent
replays), and gated ones as an ``ApprovalRequest``: an upsert holds the person's email, phone,
names and metadata, a send their number and the text. The rows stay (who did what, when, at
what cost) but every part of them about the person becomes ``{"erased": true}``: the whole
payload of a single-person request, or just that person's item in a batch. The audit entries
of staff's decisions on them lose the edited text and a note naming the person.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from dashboard.actors import Actor
from dashboard.agents.models import AgentAction, ApprovalRequest, ApprovalStatus
from dashboard.agents.pipeline import withdraw
from dashboard.models import AuditEntry

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
        names = {name.lower() for name in subject.full_names}
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


def _scrub_decisions(scrubber: _Scrubber, request_ids: list[int], theirs: set[int]) -> None:
    """The audit entries of staff's decisions on those requests: an edited text (to the
    person) and a note naming them lose their value; who decided what, and when, stay."""
    entries = AuditEntry.objects.filter(
        object_type=ApprovalRequest._meta.model_name,
        object_id__in=[str(pk) for pk in request_ids],
    ).only("pk", "object_id", "changes")
    changed = []
    for entry in entries:
        changes = entry.changes if isinstance(entry.changes, dict) else {}
        scrubbed = dict(changes)
        if "text" in changes and int(entry.object_id) in theirs:
            scrubbed["text"] = [None, None]
        if isinstance(changes.get("note"), list):
            scrubbed["note"] = [
                scrubber.scrub_text(v) if isinstance(v, str) else v for v in changes["note"]
            ]
        if scrubbed != changes:
            entry.changes = scrubbed
            changed.append(entry)
    AuditEntry.objects.bulk_update(changed, ["changes"], batch_size=500)


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
    scrubbed, theirs = [], set()
    for request in requests.only("pk", *fields):
        if scrubber.scrub(request.payload) == {"erased": True}:
            theirs.add(request.pk)  # a request about the person alone: its text is theirs
        request.payload = scrubber.scrub(request.payload)
        request.original_payload = scrubber.scrub(request.original_payload)
        request.result = scrubber.scrub_result(request.result)
        request.reason = scrubber.scrub_text(request.reason)
        request.decision_note = scrubber.scrub_text(request.decision_note)
        scrubbed.append(request)
    ApprovalRequest.objects.bulk_update(scrubbed, fields, batch_size=500)
    _scrub_decisions(scrubber, [r.pk for r in scrubbed], theirs)

    changed = []
    for action in actions.only("pk", "payload", "response_body", "reason"):
        action.payload = scrubber.scrub(action.payload)
        action.response_body = scrubber.scrub(action.response_body)
        action.reason = scrubber.scrub_text(action.reason)
        changed.append(action)
    AgentAction.objects.bulk_update(changed, ["payload", "response_body", "reason"], batch_size=500)
