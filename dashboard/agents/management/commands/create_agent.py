"""``manage.py create_agent NAME --mode gated --scopes contacts:read,contacts:write``."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dashboard.actors import Actor
from dashboard.agents.models import SCOPES, Mode
from dashboard.agents.services import create_agent
from dashboard.errors import SwitchboardError


class Command(BaseCommand):
    help = "Create an agent and print its client id and secret (the secret is shown only once)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name")
        parser.add_argument("--mode", choices=Mode.values, default=Mode.GATED)
        parser.add_argument(
            "--scopes", default="contacts:read", help=f"Comma-separated: {', '.join(SCOPES)}."
        )
        parser.add_argument("--description", default="")
        parser.add_argument("--rate-limit", type=int, default=120, help="Requests a minute.")
        parser.add_argument("--monthly-cap", type=int, default=None, help="Requests a month.")
        parser.add_argument("--sms-budget", type=_credits, default=None, help="Credits a month.")
        parser.add_argument("--prompt", default="", help="The agent's first system prompt.")

    def handle(self, *args: Any, **options: Any) -> None:
        scopes = [scope for scope in options["scopes"].split(",") if scope.strip()]
        if not scopes:
            # As the Agents page says: a new agent without a scope could only ever be refused.
            raise CommandError(
                f"Pick at least one scope: an agent without any can call nothing ({', '.join(SCOPES)})."
            )
        try:
            agent, secret = create_agent(
                actor=Actor.system("manage.py create_agent"),
                name=options["name"],
                scopes=scopes,
                mode=options["mode"],
                description=options["description"],
                rate_limit_per_minute=options["rate_limit"],
                monthly_request_cap=options["monthly_cap"],
                monthly_sms_budget=options["sms_budget"],
                prompt=options["prompt"],
            )
        except SwitchboardError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"agent: {agent.name} ({agent.mode}; {', '.join(agent.scopes)})")
        self.stdout.write(f"client_id: {agent.client_id}")
        self.stdout.write(f"client_secret: {secret}")
        self.stdout.write("Store the secret now: it is not shown again.")


def _credits(value: str) -> Decimal:
    # Decimal raises InvalidOperation, which argparse does not turn into a usage error.
    try:
        return Decimal(value)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(
            f"“{value}” is not a number of credits, e.g. 50 or 12.5"
        ) from None
