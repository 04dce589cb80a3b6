"""The agent activity feed: what each action touched, and flagging one for review."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from dashboard import audit
from dashboard.actors import Actor
from dashboard.agents.models import ActionFlag, AgentAction
from dashboard.errors import SwitchboardError


@dataclass(frozen=True)
class Links:
    contact_id: str | None = None
    message_id: int | None = None
    import_id: int | None = None
    # Who the action was about, from its payload or answer: the feed names them without a
    # query per row (an email, or the number texted).
    label: str = ""


def links(action: AgentAction) -> Links:
    """Where an action's contact, message or import lives, from its payload and its answer
    (for a gated send, the approval's result holds the message)."""
    payload: dict[str, Any] = action.payload or {}
    body: dict[str, Any] = action.response_body or {}
    approval = getattr(action, "approval", None)
    result: dict[str, Any] = (approval.result if approval else None) or {}
    contact_id = payload.get("contact_id") or (
        body.get("id") if action.action in ("upsert_contact", "update_contact") else None
    )
    message_id = next(
        (b.get("id") for b in (body, result) if isinstance(b.get("id"), int)), None
    ) if action.action == "send_sms" else None  # fmt: skip
    import_id = body.get("import_job_id") if isinstance(body.get("import_job_id"), int) else None
    label = next(
        (v for v in (body.get("email"), payload.get("email"), payload.get("to"))
         if isinstance(v, str) and v),
        "",
    )  # fmt: skip
    return Links(str(contact_id) if contact_id else None, message_id, import_id, label[:254])


@transaction.atomic
def flag_action(*, actor: Actor, action: AgentAction, comment: str) -> ActionFlag:
    comment = " ".join((comment or "").split())
    if not comment:
        raise SwitchboardError(
            "empty_comment", "Say why this action needs a look.", field="comment"
        )
    flag = ActionFlag.objects.create(
        agent_action=action, comment=comment[:500], flagged_by_id=actor.user_id
    )
    audit.record(
        actor=actor,
        action="agent_action.flag",
        obj=action,
        changes={"flag": [None, flag.comment]},
    )
    return flag


@transaction.atomic
def resolve_flag(*, actor: Actor, flag: ActionFlag) -> bool:
    """Mark a flag as looked at; False when someone already did."""
    resolved = ActionFlag.objects.filter(pk=flag.pk, resolved_at__isnull=True).update(
        resolved_at=timezone.now()
    )
    if resolved:
        audit.record(
            actor=actor,
            action="agent_action.flag_resolve",
            obj=flag.agent_action,
            changes={"flag": [flag.comment, None]},
        )
    return bool(resolved)
