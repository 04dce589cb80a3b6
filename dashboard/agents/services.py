"""Agent identities and credentials: create, rotate, revoke, exchange a secret for a token."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from dashboard import audit
from dashboard.actors import Actor
from dashboard.agents.models import (
    SCOPES,
    AccessToken,
    Agent,
    AgentPromptVersion,
    ApprovalRequest,
    ApprovalStatus,
    Mode,
)
from dashboard.db import batch
from dashboard.db.batch import Statement
from dashboard.db.rows import table_of
from dashboard.errors import SwitchboardError

AGENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,63}$")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def clean_scopes(scopes: Iterable[str]) -> list[str]:
    cleaned = sorted({s.strip() for s in scopes if s and s.strip()})
    if unknown := [s for s in cleaned if s not in SCOPES]:
        raise SwitchboardError(
            "invalid_scope",
            f"Unknown scope {', '.join(unknown)}; scopes are {', '.join(SCOPES)}.",
            field="scopes",
        )
    return cleaned


def _clean_mode(mode: str) -> str:
    if mode not in Mode.values:
        raise SwitchboardError(
            "invalid_mode", f"The mode is one of {', '.join(Mode.values)}.", field="mode"
        )
    return mode


# The largest count the limit columns (PositiveIntegerField) hold on every database, and the
# budget column's bound (12 digits, 4 of them decimals): beyond them the save fails.
MAX_LIMIT = 2_147_483_647
MAX_BUDGET = Decimal("99999999.9999")


def _check_limits(
    rate_limit_per_minute: int, monthly_request_cap: int | None, monthly_sms_budget: Decimal | None
) -> None:
    if not 1 <= rate_limit_per_minute <= MAX_LIMIT:
        raise SwitchboardError(
            "invalid_rate_limit",
            f"The rate limit is 1 to {MAX_LIMIT:,} requests a minute.",
            field="rate_limit_per_minute",
        )
    if monthly_request_cap is not None and not 0 <= monthly_request_cap <= MAX_LIMIT:
        raise SwitchboardError(
            "invalid_request_cap",
            f"The monthly cap is 0 to {MAX_LIMIT:,} requests; leave it empty for no cap.",
            field="monthly_request_cap",
        )
    if monthly_sms_budget is not None and not (
        monthly_sms_budget.is_finite() and 0 <= monthly_sms_budget <= MAX_BUDGET
    ):
        raise SwitchboardError(
            "invalid_budget",
            f"The monthly SMS budget is 0 to {MAX_BUDGET:,} credits; leave it empty for no budget.",
            field="monthly_sms_budget",
        )


@transaction.atomic
def create_agent(
    *,
    actor: Actor,
    name: str,
    scopes: Iterable[str],
    mode: str = Mode.GATED,
    description: str = "",
    rate_limit_per_minute: int = 120,
    monthly_request_cap: int | None = None,
    monthly_sms_budget: Decimal | None = None,
    prompt: str = "",
) -> tuple[Agent, str]:
    """The new agent and its client secret, which is shown this once and stored only hashed."""
    name = " ".join((name or "").split())
    if not AGENT_NAME.match(name):
        raise SwitchboardError(
            "invalid_agent_name",
            "An agent name has 1 to 64 letters, digits, spaces, dots, dashes or underscores.",
            field="name",
        )
    if Agent.objects.filter(name__iexact=name).exists():
        raise SwitchboardError(
            "duplicate_agent", f"An agent named “{name}” already exists.", field="name"
        )
    _check_limits(rate_limit_per_minute, monthly_request_cap, monthly_sms_budget)
    secret = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            agent = Agent.objects.create(
                name=name,
                description=description[:500],
                scopes=clean_scopes(scopes),
                mode=_clean_mode(mode),
                rate_limit_per_minute=rate_limit_per_minute,
                monthly_request_cap=monthly_request_cap,
                monthly_sms_budget=monthly_sms_budget,
                client_id="agt_" + secrets.token_hex(12),
                secret_hash=_hash(secret),
            )
    except IntegrityError:
        raise SwitchboardError(
            "duplicate_agent", f"An agent named “{name}” already exists.", field="name"
        ) from None
    audit.record(
        actor=actor,
        action="agent.create",
        obj=agent,
        changes={"name": [None, name], "scopes": [None, agent.scopes], "mode": [None, agent.mode]},
    )
    if prompt:
        save_prompt_version(actor=actor, agent=agent, text=prompt, note="First version")
    return agent, secret


@transaction.atomic
def rotate_secret(*, actor: Actor, agent: Agent) -> str:
    """A new client secret; the old one and every token issued with it stop working."""
    if not Agent.objects.filter(pk=agent.pk, is_active=True).exists():
        # The new secret could never be exchanged for a token: don't show one as if it could.
        raise SwitchboardError(
            "agent_switched_off",
            f"{agent.name} is switched off, so a new secret would not work; "
            "create a new agent to give an integration credentials again.",
        )
    secret = secrets.token_urlsafe(32)
    Agent.objects.filter(pk=agent.pk).update(secret_hash=_hash(secret))
    AccessToken.objects.filter(agent=agent, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    audit.record(actor=actor, action="agent.rotate_secret", obj=agent)
    return secret


@transaction.atomic
def revoke(*, actor: Actor, agent: Agent) -> None:
    """Switch the agent off: its tokens stop working and no new ones are issued."""
    if not Agent.objects.filter(pk=agent.pk, is_active=True).update(is_active=False):
        return  # already off (a second click, a stale page): nothing changed to audit
    AccessToken.objects.filter(agent=agent, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    audit.record(actor=actor, action="agent.revoke", obj=agent, changes={"active": [True, False]})
    # What it asked for and is still waiting would otherwise stay in the queue, ready to run
    # as an agent switched off; it ends here, its held credits freed.
    from dashboard.agents.pipeline import withdraw  # the pipeline imports this module

    waiting = ApprovalRequest.objects.filter(agent=agent, status=ApprovalStatus.PENDING)
    for request_id in waiting.values_list("pk", flat=True):
        withdraw(request_id=request_id, actor=actor, note=SWITCHED_OFF)


SWITCHED_OFF = "The agent was switched off."


def revoke_token(*, token: str) -> bool:
    return bool(
        AccessToken.objects.filter(token_hash=_hash(token), revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


@transaction.atomic
def issue_token(*, client_id: str, client_secret: str) -> tuple[str, int]:
    """Exchange client credentials for a bearer token: (token, seconds it lives)."""
    # Locked until the token is stored: a rotation or a switch-off (which update this row)
    # waits for it and then revokes it, instead of committing between the secret check and
    # the insert and leaving a token from the old secret alive.
    agent = Agent.objects.select_for_update().filter(client_id=client_id).first()
    # Compare in constant time, and hash even for an unknown client so timing tells nothing.
    expected = agent.secret_hash if agent else _hash("")
    if not hmac.compare_digest(expected, _hash(client_secret or "")) or agent is None:
        raise SwitchboardError("invalid_client", "Unknown client id or wrong client secret.")
    if not agent.is_active:
        # The secret proved who is asking: tell them why, or they hunt for a typo forever.
        raise SwitchboardError(
            "agent_switched_off",
            f"The agent “{agent.name}” was switched off in Switchboard and gets no tokens; "
            "ask a Switchboard admin for the credentials of an agent that is on.",
        )
    token = "sbt_" + secrets.token_urlsafe(32)
    ttl = settings.AGENT_TOKEN_TTL_SECONDS
    AccessToken.objects.create(
        agent=agent, token_hash=_hash(token), expires_at=timezone.now() + dt.timedelta(seconds=ttl)
    )
    return token, ttl


# Every API request runs this: one plain query (the ORM's query building cost more than the
# query itself), which also reads the agent's active prompt version for ``active_prompt_id``.
_AUTHENTICATE_SQL = """
SELECT {columns}, (
    SELECT prompt.id FROM {prompts} prompt WHERE prompt.agent_id = agent.id AND prompt.is_active
) AS active_prompt_id
FROM {tokens} token JOIN {agents} agent ON agent.id = token.agent_id
WHERE token.token_hash = %s AND token.revoked_at IS NULL AND token.expires_at > %s
  AND agent.is_active
"""
_AGENT_COLUMNS = tuple(f.attname for f in Agent._meta.concrete_fields)


def authenticate(token: str) -> Agent | None:
    """The active agent holding this unexpired, unrevoked bearer token, or None."""
    if not token:
        return None
    agents, tokens = table_of(Agent), table_of(AccessToken)
    sql = _AUTHENTICATE_SQL.format(
        columns=", ".join(f"agent.{agents.q(name)}" for name in _AGENT_COLUMNS),
        prompts=table_of(AgentPromptVersion).name,
        tokens=tokens.name,
        agents=agents.name,
    )
    rows = batch.run([Statement(sql, [_hash(token), tokens.prep("expires_at", timezone.now())])])[0]
    if not rows:
        return None
    agent = agents.load(_AGENT_COLUMNS, rows[0][:-1])
    agent.active_prompt_id = rows[0][-1]
    return agent


def active_prompt(agent: Agent) -> AgentPromptVersion | None:
    return agent.prompt_versions.filter(is_active=True).first()


def active_prompt_id(agent: Agent) -> int | None:
    """The agent's active prompt version id, as ``authenticate`` read it, else from the database."""
    if hasattr(agent, "active_prompt_id"):
        return agent.active_prompt_id
    return agent.prompt_versions.filter(is_active=True).values_list("pk", flat=True).first()


@transaction.atomic
def save_prompt_version(
    *,
    actor: Actor,
    agent: Agent,
    text: str,
    note: str = "",
    activate: bool = True,
    expected_latest: int | None = None,
) -> AgentPromptVersion:
    """A new numbered version of the agent's system prompt, made the active one by default.

    ``expected_latest`` is the newest version the editor was opened on: if someone saved
    another since, ``edit_conflict`` instead of quietly replacing their version as active."""
    if not text.strip():
        # Made active, a blank version would hand every agent an empty system prompt.
        raise SwitchboardError(
            "empty_prompt", "A prompt needs some text; spaces and blank lines alone are none.",
            field="text",
        )  # fmt: skip
    locked = Agent.objects.select_for_update().get(pk=agent.pk)
    newest = locked.prompt_versions.select_related("author").order_by("-number").first()
    last = newest.number if newest else None
    if expected_latest is not None and (last or 0) > expected_latest:
        by = f" by {newest.author}" if newest.author else ""  # type: ignore[union-attr]
        raise SwitchboardError(
            "edit_conflict",
            f"Version {last} was saved{by} after you opened this page. Your text is kept "
            f"below: compare it with v{last}, then save again to make yours the new version.",
            latest=last,
        )
    if activate:
        locked.prompt_versions.filter(is_active=True).update(is_active=False)
    version = AgentPromptVersion.objects.create(
        agent=locked,
        number=(last or 0) + 1,
        text=text,
        note=note[:300],
        author_id=actor.user_id,
        is_active=activate,
    )
    audit.record(
        actor=actor,
        action="agent.prompt_version",
        obj=locked,
        changes={"prompt_version": [last, version.number]},
    )
    return version


SETTINGS = ("description", "scopes", "mode", "rate_limit_per_minute", "monthly_request_cap",
            "monthly_sms_budget")  # fmt: skip


def settings_version(agent: Agent) -> str:
    """A digest of the agent's settings as they are stored: the settings page sends back the
    one it was drawn with, so a save cannot quietly undo a colleague's save made meanwhile."""
    values = [str(getattr(agent, name)) for name in SETTINGS]
    return hashlib.sha256(json.dumps(values).encode()).hexdigest()[:16]


def _settings_text(agent: Agent) -> str:
    cap, budget = agent.monthly_request_cap, agent.monthly_sms_budget
    return (
        f"mode {agent.mode}; scopes {', '.join(agent.scopes) or 'none'}; "
        f"{agent.rate_limit_per_minute} requests a minute; monthly cap "
        f"{'none' if cap is None else cap}; SMS budget {'none' if budget is None else budget}"
    )


@transaction.atomic
def update_agent(
    *,
    actor: Actor,
    agent: Agent,
    description: str,
    scopes: Iterable[str],
    mode: str,
    rate_limit_per_minute: int,
    monthly_request_cap: int | None,
    monthly_sms_budget: Decimal | None,
    expected_version: str | None = None,
) -> Agent:
    """Change what an agent may do and how closely it is watched; audited field by field.

    ``expected_version`` is ``settings_version`` as the editor showed the agent: if someone
    saved other settings since, ``edit_conflict`` instead of quietly replacing theirs."""
    _check_limits(rate_limit_per_minute, monthly_request_cap, monthly_sms_budget)
    locked = Agent.objects.select_for_update().get(pk=agent.pk)
    current = settings_version(locked)
    before = {name: getattr(locked, name) for name in SETTINGS}
    after = {
        "description": description[:500],
        "scopes": clean_scopes(scopes),
        "mode": _clean_mode(mode),
        "rate_limit_per_minute": rate_limit_per_minute,
        "monthly_request_cap": monthly_request_cap,
        "monthly_sms_budget": monthly_sms_budget,
    }
    # Saving what is stored already (the second click of a double click) replaces nothing.
    if expected_version and expected_version != current and audit.diff(before, after):
        raise SwitchboardError(
            "edit_conflict",
            f"Someone saved {locked.name}'s settings after you opened this page; they are now: "
            f"{_settings_text(locked)}. Your values are kept below: save again to replace "
            "theirs with yours.",
            version=current,
        )
    for name, value in after.items():
        setattr(locked, name, value)
    if changes := audit.diff(before, after):
        locked.save(update_fields=list(SETTINGS))
        audit.record(actor=actor, action="agent.update", obj=locked, changes=changes)
    return locked
