"""Signed embed links for reports: create, revoke, and resolve a token from a URL."""

from __future__ import annotations

import datetime as dt

from django.core import signing
from django.db import transaction
from django.utils import timezone

from dashboard import audit
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.reports.models import EmbedLink
from dashboard.reports.queries import GROUPINGS, REPORTS

SALT = "switchboard.reports.embed"
MAX_DAYS_VALID = 366
WINDOWS = (7, 30, 90, 365)


def token_for(link: EmbedLink) -> str:
    return signing.dumps({"embed": link.pk}, salt=SALT, compress=True)


@transaction.atomic
def create_embed_link(
    *,
    actor: Actor,
    report: str,
    label: str,
    days: int,
    grouping: str,
    valid_days: int,
    created_by=None,
) -> EmbedLink:
    if report not in REPORTS:
        raise SwitchboardError("unknown_report", f"There is no report “{report}”.", field="report")
    if days not in WINDOWS:
        raise SwitchboardError(
            "invalid_embed", "Show the last 7, 30, 90 or 365 days.", field="days"
        )
    if grouping not in GROUPINGS:
        raise SwitchboardError("invalid_embed", "Group by day, week or month.", field="grouping")
    if not 1 <= valid_days <= MAX_DAYS_VALID:
        raise SwitchboardError(
            "invalid_embed", f"A link is valid for 1 to {MAX_DAYS_VALID} days.", field="valid_days"
        )
    label = " ".join((label or "").split())[:100]
    if not label:
        raise SwitchboardError("invalid_embed", "Say where the link will be used.", field="label")
    link = EmbedLink.objects.create(
        report=report, days=days, grouping=grouping, label=label, created_by=created_by,
        expires_at=timezone.now() + dt.timedelta(days=valid_days),
    )  # fmt: skip
    audit.record(
        actor=actor,
        action="embed.create",
        obj=link,
        changes={"report": [None, report], "label": [None, label]},
    )
    return link


@transaction.atomic
def revoke_embed_link(*, actor: Actor, link: EmbedLink, revoked_by=None) -> EmbedLink:
    updated = EmbedLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=revoked_by
    )
    if not updated:
        raise SwitchboardError("embed_revoked", "This embed link was already revoked.")
    audit.record(actor=actor, action="embed.revoke", obj=link)
    link.refresh_from_db()
    return link


def resolve(token: str) -> EmbedLink:
    """The live link a token names, or ``embed_invalid`` / ``embed_revoked`` / ``embed_expired``."""
    try:
        data = signing.loads(token, salt=SALT)
        link = EmbedLink.objects.get(pk=int(data["embed"]))
    except (signing.BadSignature, EmbedLink.DoesNotExist, KeyError, TypeError, ValueError):
        raise SwitchboardError("embed_invalid", "This embed link is not valid.") from None
    if link.revoked_at is not None:
        raise SwitchboardError("embed_revoked", "This embed link was revoked.")
    if link.expires_at <= timezone.now():
        raise SwitchboardError("embed_expired", "This embed link has expired.")
    return link
