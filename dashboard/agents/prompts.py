"""Prompt tuning: activate (roll back to) a version, compare two, preview one with a contact's
data, and how each version fared (messages, approvals, rejections, opt-outs)."""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q

from contacts.models import Contact
from dashboard import audit
from dashboard.actors import Actor
from dashboard.agents.models import Agent, AgentPromptVersion, ApprovalRequest, ApprovalStatus
from dashboard.errors import SwitchboardError
from dashboard.reports.queries import OPTOUT_WINDOW
from sms.models import Message, OptOut
from sms.services.messages import PLACEHOLDER, placeholder_values


def get_version(agent: Agent, number: int) -> AgentPromptVersion:
    version = agent.prompt_versions.filter(number=number).first()
    if version is None:
        raise SwitchboardError(
            "unknown_prompt_version", f"{agent.name} has no prompt version {number}."
        )
    return version


@transaction.atomic
def activate_version(
    *, actor: Actor, agent: Agent, number: int, expected_active: int | None = None
) -> AgentPromptVersion:
    """Make this version the one agents are given from now on (a roll back when it is older).

    ``expected_active`` is the active version the page showed (0 for none): if another version
    was made active since, ``edit_conflict`` instead of quietly undoing that choice."""
    locked = Agent.objects.select_for_update().get(pk=agent.pk)
    version = get_version(locked, number)
    previous = (
        locked.prompt_versions.filter(is_active=True).values_list("number", flat=True).first()
    )
    if previous == number:
        return version
    if expected_active is not None and (previous or 0) != expected_active:
        raise SwitchboardError(
            "edit_conflict",
            f"Version {previous} became active after you opened this page. Look at it first; "
            f"make v{number} active again if you still mean to replace it.",
            active=previous,
        )
    # Clear the old flag first: at most one active version per agent is a database constraint.
    locked.prompt_versions.filter(is_active=True).update(is_active=False)
    AgentPromptVersion.objects.filter(pk=version.pk).update(is_active=True)
    version.is_active = True
    audit.record(
        actor=actor,
        action="agent.prompt_activate",
        obj=locked,
        changes={"prompt_version": [previous, number]},
    )
    return version


@dataclass
class DiffLine:
    kind: str  # "same", "added", "removed" or "gap" (unchanged lines left out)
    old_number: int | None
    new_number: int | None
    text: str


def diff_versions(old: AgentPromptVersion, new: AgentPromptVersion) -> list[DiffLine]:
    """A line diff with three lines of context around each change, numbered on both sides."""
    a, b = old.text.splitlines(), new.text.splitlines()
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for index, group in enumerate(matcher.get_grouped_opcodes(3)):
        if index:
            lines.append(DiffLine("gap", None, None, "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [DiffLine("same", i + 1, j + 1, a[i]) for i, j in zip(range(i1, i2), range(j1, j2), strict=True)]  # fmt: skip
                continue
            lines += [DiffLine("removed", i + 1, None, a[i]) for i in range(i1, i2)]
            lines += [DiffLine("added", None, j + 1, b[j]) for j in range(j1, j2)]
    return lines


@dataclass
class Preview:
    text: str
    used: list[str]
    unknown: list[str]


def render_preview(version: AgentPromptVersion, contact: Contact | None) -> Preview:
    """The prompt with ``{first_name}``-style placeholders filled from the contact. Unknown
    names are left as written and listed: a prompt may well contain braces of its own."""
    values = placeholder_values(contact)
    used: list[str] = []
    unknown: list[str] = []

    def fill(match) -> str:
        name = match.group(1).lower()
        if name in values:
            used.append(name)
            return values[name]
        unknown.append(match.group(0))
        return match.group(0)

    text = PLACEHOLDER.sub(fill, version.text)
    return Preview(text, list(dict.fromkeys(used)), list(dict.fromkeys(unknown)))


@dataclass
class VersionStats:
    version: AgentPromptVersion
    messages: int = 0
    opted_out: int = 0
    approved: int = 0
    rejected: int = 0
    expired: int = 0
    # Withdrawn by the system (the person was erased): no verdict on the prompt, not decided.
    withdrawn: int = 0
    rejection_reasons: list[tuple[str, int]] = field(default_factory=list)

    @property
    def decided(self) -> int:
        return self.approved + self.rejected + self.expired

    @property
    def approval_rate(self) -> float | None:
        return self.approved / self.decided if self.decided else None

    @property
    def opt_out_rate(self) -> float | None:
        return self.opted_out / self.messages if self.messages else None


APPROVED = [ApprovalStatus.APPROVED, ApprovalStatus.EXECUTED, ApprovalStatus.FAILED]


def version_stats(agent: Agent) -> list[VersionStats]:
    """Per prompt version: messages the agent sent with it, how many of their recipients opted
    out in the week after the message, and how staff decided its gated requests. A few grouped queries."""
    versions = list(agent.prompt_versions.order_by("-number"))
    stats = {v.pk: VersionStats(v) for v in versions}
    # The same week the opt-outs report allows: a number that opts out a year after this text
    # is no verdict on its prompt.
    later_opt_out = OptOut.objects.filter(
        phone=OuterRef("to"),
        created_at__gte=OuterRef("created_at"),
        created_at__lte=OuterRef("created_at") + OPTOUT_WINDOW,
    )
    rows = (
        Message.objects.filter(actor_kind="agent", actor_ref=str(agent.pk), prompt_version_id__in=stats)
        .values("prompt_version_id")
        .annotate(messages=Count("id"), opted_out=Count("id", filter=Q(Exists(later_opt_out))))
    )  # fmt: skip
    for row in rows:
        entry = stats[row["prompt_version_id"]]
        entry.messages, entry.opted_out = row["messages"], row["opted_out"]
    decisions = (
        ApprovalRequest.objects.filter(agent=agent, prompt_version_id__in=stats)
        .values("prompt_version_id", "status")
        .annotate(n=Count("id"))
    )
    for row in decisions:
        entry = stats[row["prompt_version_id"]]
        if row["status"] in APPROVED:
            entry.approved += row["n"]
        elif row["status"] == ApprovalStatus.REJECTED:
            entry.rejected += row["n"]
        elif row["status"] == ApprovalStatus.WITHDRAWN:
            entry.withdrawn += row["n"]
        elif row["status"] == ApprovalStatus.EXPIRED:
            entry.expired += row["n"]
    reasons: dict[int, Counter[str]] = {}
    rejected = ApprovalRequest.objects.filter(
        agent=agent, prompt_version_id__in=stats, status=ApprovalStatus.REJECTED
    ).values_list("prompt_version_id", "decision_note")
    for version_id, note in rejected:
        reasons.setdefault(version_id, Counter())[note.strip() or "(no reason given)"] += 1
    for version_id, counter in reasons.items():
        stats[version_id].rejection_reasons = counter.most_common(5)
    return [stats[v.pk] for v in versions]
