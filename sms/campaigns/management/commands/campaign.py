"""`manage.py campaign start|status|pause|resume|cancel`: the campaign service from a shell.

manage.py campaign start --segment 3 --text "Hi {first_name}: 20% off today" --dry-run
manage.py campaign start --list 5 --text "…" --at "2026-11-27 12:00" --tz Europe/London
manage.py campaign start --tag 2 --text "…" --local-at "2026-11-27 12:00"
manage.py campaign status 12
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from sms.campaigns.services import campaigns as service
from sms.models import Message


class Command(BaseCommand):
    help = "Start, follow, pause, resume or cancel an SMS campaign."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        start = sub.add_parser("start", help="check, price and schedule a campaign")
        who = start.add_mutually_exclusive_group(required=True)
        who.add_argument("--segment", type=int)
        who.add_argument("--list", type=int)
        who.add_argument("--tag", type=int)
        start.add_argument("--text", required=True)
        start.add_argument("--name", default="")
        start.add_argument("--kind", default="marketing", choices=["marketing", "transactional"])
        when = start.add_mutually_exclusive_group()
        when.add_argument("--at", help="YYYY-MM-DD HH:MM in --tz")
        when.add_argument("--local-at", help="YYYY-MM-DD HH:MM in each recipient's time zone")
        start.add_argument("--tz", default="UTC")
        start.add_argument("--quiet-hours", default=None, help='"21:00-08:00", or "" for none')
        start.add_argument("--dry-run", action="store_true", help="count and price only")
        for name in ("status", "pause", "resume", "cancel"):
            sub.add_parser(name).add_argument("campaign_id", type=int)

    def handle(self, *args, action: str, **options):
        actor = Actor.system("manage.py campaign")
        try:
            if action == "start":
                return self._start(actor, options)
            campaign = service.get_campaign(options["campaign_id"])
            if action == "pause":
                campaign = service.pause_campaign(actor=actor, campaign=campaign)
            elif action == "resume":
                campaign = service.resume_campaign(actor=actor, campaign=campaign)
            elif action == "cancel":
                campaign = service.cancel_campaign(actor=actor, campaign=campaign)
            else:
                service.kick_overdue()
            self._status(campaign)
        except SwitchboardError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None

    def _start(self, actor: Actor, options: dict) -> None:
        kind, audience_id = next(
            (k, options[k]) for k in ("segment", "list", "tag") if options[k] is not None
        )
        mode = "at" if options["at"] else "local" if options["local_at"] else "now"
        outcome = service.start_campaign(
            actor=actor, text=options["text"], name=options["name"], kind=options["kind"],
            audience_kind=kind, audience_id=audience_id, schedule_mode=mode,
            send_at=options["at"] or options["local_at"], time_zone=options["tz"],
            quiet_hours=options["quiet_hours"], dry_run=options["dry_run"],
        )  # fmt: skip
        if outcome.campaign is None:
            self.stdout.write(json.dumps(outcome.screening.as_dict(), indent=2))
            return
        self.stdout.write(
            f"Campaign #{outcome.campaign.pk} scheduled; starts {outcome.campaign.start_at:%Y-%m-%d %H:%M %Z}."
        )
        self._status(outcome.campaign)

    def _status(self, campaign) -> None:
        campaign.refresh_from_db()
        counts = dict(
            Message.objects.filter(campaign_id=campaign.pk).values_list("status").order_by()
            .annotate(n=Count("id"))
        )  # fmt: skip
        self.stdout.write(json.dumps({
            "id": campaign.pk, "name": campaign.name, "status": campaign.status,
            "recipients": campaign.recipients, "excluded": campaign.excluded,
            "cost": str(campaign.cost), "reserved": str(campaign.reserved),
            "batches": f"{campaign.batches_done}/{campaign.batches_total}", "messages": counts,
        }, indent=2))  # fmt: skip
