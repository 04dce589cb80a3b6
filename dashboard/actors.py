"""Who is making a change. Every service that writes takes an ``actor``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


class ActorKind(StrEnum):
    STAFF = "staff"
    AGENT = "agent"
    IMPORT = "import"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    label: str
    user_id: int | None = None
    # The id of the agent or import job acting; kept as a plain reference so audit rows
    # outlive the thing that acted.
    ref: str = ""
    prompt_version_id: int | None = None
    # The AgentAction an agent's change belongs to, so one action can be undone exactly.
    action_id: int | None = None

    @classmethod
    def staff(cls, user: AbstractBaseUser) -> Actor:
        return cls(ActorKind.STAFF, label=user.get_username(), user_id=user.pk)

    @classmethod
    def agent(cls, agent_id: int, name: str, prompt_version_id: int | None = None) -> Actor:
        return cls(
            ActorKind.AGENT, label=name, ref=str(agent_id), prompt_version_id=prompt_version_id
        )

    @classmethod
    def import_job(cls, job_id: int, label: str = "") -> Actor:
        return cls(ActorKind.IMPORT, label=label or f"import #{job_id}", ref=str(job_id))

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(ActorKind.SYSTEM, label=label)

    def match(self) -> dict[str, object]:
        """Filter arguments for the rows this actor wrote (audit entries, messages): kind,
        user and reference, not the label, which an agent's rename changes."""
        return {"actor_kind": self.kind, "actor_user_id": self.user_id, "actor_ref": self.ref}

    def __str__(self) -> str:
        return f"{self.kind}:{self.label}"
