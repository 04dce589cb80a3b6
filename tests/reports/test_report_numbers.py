"""Each report's figures, checked against data built for the test."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.utils import timezone

from contacts.imports.models import ImportJob
from contacts.models import Contact
from dashboard.agents.models import Agent, AgentPromptVersion, ApprovalRequest
from dashboard.reports.queries import (
    Period,
    approvals,
    delivery,
    growth,
    imports,
    optouts,
    sms_volume,
    spend,
)
from sms.campaigns.models import Campaign
from sms.models import CreditEntry, InboundMessage, Message

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 20)
_keys = itertools.count()


def at(day: int, hour: int = 12) -> dt.datetime:
    """A moment on 2026-11-<day>."""
    return timezone.make_aware(dt.datetime(2026, 11, day, hour))


@pytest.fixture
def period() -> Period:
    return Period(start=dt.date(2026, 11, 16), end=TODAY, grouping="day")


def message(*, day: int, status: str, country: str = "GB", gateway: str = "sandbox", error: str = "",
            kind: str = "staff", label: str = "sam", campaign: Campaign | None = None,
            version: AgentPromptVersion | None = None, to: str = "+447700900001") -> Message:  # fmt: skip
    created = at(day)
    return Message.objects.create(
        idempotency_key=f"k{next(_keys)}", to=to, country=country, text="hi", kind="transactional",
        encoding="GSM-7", segments=1, price=Decimal("0.05"), status=status, gateway=gateway,
        error_code=error, created_at=created, updated_at=created,
        sent_at=created if status not in ("pending", "scheduled", "cancelled", "held") else None,
        actor_kind=kind, actor_label=label, campaign_id=campaign.pk if campaign else None,
        prompt_version_id=version.pk if version else None,
    )  # fmt: skip


def campaign(name: str) -> Campaign:
    return Campaign.objects.create(
        name=name, text="Sale!", audience_kind="tag", audience_id=1, audience_label="VIP",
        schedule_mode="now", start_at=at(16), actor_kind="staff", actor_label="sam",
    )  # fmt: skip


def prompt_version(agent_name: str = "Dispatch", number: int = 1) -> AgentPromptVersion:
    agent, _ = Agent.objects.get_or_create(
        name=agent_name, defaults={"client_id": agent_name, "secret_hash": "x"}
    )
    return AgentPromptVersion.objects.create(agent=agent, number=number, text="Be kind.")


def rows(table) -> dict:
    return {row[0]: row[1:] for row in table.rows}


def test_sms_volume_counts_outcomes_per_day_and_per_sender(period):
    spring = campaign("Spring Sale")
    message(day=17, status="delivered")
    message(day=17, status="failed")
    message(day=17, status="sent")
    message(day=18, status="delivered", kind="agent", label="Dispatch")
    message(day=18, status="undelivered", campaign=spring)
    message(day=18, status="cancelled")  # never left: not counted
    message(day=18, status="scheduled")  # not sent yet: not counted either
    message(day=18, status="pending")
    message(day=10, status="delivered")  # before the period

    report = sms_volume(period)
    by_day = rows(report.tables[0])
    assert by_day["17 Nov"] == [3, 1, 1, 1]
    assert by_day["18 Nov"] == [2, 1, 1, 0]
    assert by_day["16 Nov"] == [0, 0, 0, 0]
    by_sender = rows(report.tables[1])
    assert by_sender["Staff: sam"] == [3, 1, 1, Decimal("50.0")]
    assert by_sender["Agent: Dispatch"] == [1, 1, 0, Decimal("100.0")]
    assert by_sender["Campaign: Spring Sale"] == [1, 0, 1, Decimal("0.0")]
    assert 'data-total="5"' in report.chart


def test_the_embedded_version_names_no_staff_member(period):
    message(day=17, status="delivered", label="sam.smith")
    report = sms_volume(period, embed=True)
    assert rows(report.tables[1]) == {"Staff": [1, 1, 0, Decimal("100.0")]}
    assert "sam.smith" not in str(report.tables) + report.chart


def test_spend_is_charges_net_of_refunds_against_top_ups(period):
    gb = message(day=17, status="delivered")
    fr = message(day=17, status="failed", country="FR")
    CreditEntry.objects.create(
        kind="topup",
        amount=Decimal("100"),
        created_at=at(16),
        actor_kind="staff",
        actor_label="ada",
    )
    CreditEntry.objects.create(
        kind="charge",
        amount=Decimal("-0.05"),
        message=gb,
        created_at=at(17),
        actor_kind="staff",
        actor_label="sam",
    )
    CreditEntry.objects.create(
        kind="charge",
        amount=Decimal("-0.08"),
        message=fr,
        created_at=at(17),
        actor_kind="staff",
        actor_label="sam",
    )
    CreditEntry.objects.create(
        kind="refund",
        amount=Decimal("0.08"),
        message=fr,
        created_at=at(17, 13),
        actor_kind="system",
        actor_label="sms",
    )

    report = spend(period)
    by_day = rows(report.tables[0])
    assert by_day["16 Nov"] == [Decimal("0.00"), Decimal("0.00"), Decimal("100.00")]
    assert by_day["17 Nov"] == [Decimal("0.05"), Decimal("0.08"), Decimal("0.00")]
    by_country = rows(report.tables[1])
    assert by_country["GB"] == [1, Decimal("0.05")]
    assert by_country["FR"] == [1, Decimal("0.00")]


def test_a_campaign_reservation_moving_to_its_messages_is_not_a_refund(period):
    # Reserve 0.10 for two texts, release it as the batch's messages are charged, and refund
    # the one that failed: 0.05 spent, 0.05 refunded (not 0.15).
    who = {"actor_kind": "staff", "actor_label": "sam", "created_at": at(17)}
    CreditEntry.objects.create(kind="charge", amount=Decimal("-0.10"), note="Campaign #1", **who)
    CreditEntry.objects.create(kind="refund", amount=Decimal("0.10"), note="Campaign #1", **who)
    sent, failed = message(day=17, status="delivered"), message(day=17, status="failed")
    for m in (sent, failed):
        CreditEntry.objects.create(kind="charge", amount=Decimal("-0.05"), message=m, **who)
    CreditEntry.objects.create(kind="refund", amount=Decimal("0.05"), message=failed, **who)

    assert rows(spend(period).tables[0])["17 Nov"] == [
        Decimal("0.05"), Decimal("0.05"), Decimal("0.00"),
    ]  # fmt: skip


def test_delivery_rate_and_failure_reasons_by_country_and_gateway(period):
    for _ in range(3):
        message(day=17, status="delivered", country="GB")
    message(day=17, status="failed", country="GB", error="30007")
    message(day=17, status="undelivered", country="FR", gateway="mailpro", error="30007")
    message(day=17, status="undelivered", country="FR", gateway="mailpro")
    message(day=17, status="sent", country="FR", gateway="mailpro")  # not final yet

    report = delivery(period)
    table = {(r[0], r[1]): r[2:] for r in report.tables[0].rows}
    assert table[("GB", "sandbox")] == [4, 3, Decimal("75.0")]
    assert table[("FR", "mailpro")] == [2, 0, Decimal("0.0")]
    reasons = {(r[0], r[2]): r[3] for r in report.tables[1].rows}
    assert reasons == {("GB", "30007"): 1, ("FR", "30007"): 1, ("FR", "unknown"): 1}


def test_opt_outs_count_against_the_last_message_of_the_week_before(period):
    spring = campaign("Spring Sale")
    v1, v2 = prompt_version(number=1), prompt_version(number=2)
    message(day=17, status="delivered", campaign=spring, to="+447700900001")
    message(day=17, status="delivered", campaign=spring, to="+447700900002")
    message(
        day=17, status="delivered", version=v1, kind="agent", label="Dispatch", to="+447700900003"
    )
    message(
        day=18, status="delivered", version=v2, kind="agent", label="Dispatch", to="+447700900004"
    )
    InboundMessage.objects.create(
        gateway="sandbox", sender="+447700900001", text="STOP", action="opt_out", received_at=at(18)
    )
    InboundMessage.objects.create(
        gateway="sandbox", sender="+447700900003", text="stop", action="opt_out", received_at=at(19)
    )
    # A STOP from someone we never texted counts nowhere.
    InboundMessage.objects.create(
        gateway="sandbox", sender="+447700900999", text="STOP", action="opt_out", received_at=at(19)
    )

    report = optouts(period)
    assert rows(report.tables[0]) == {"Spring Sale": [2, 1, Decimal("50.0")]}
    assert rows(report.tables[1]) == {
        "Dispatch · v1": [1, 1, Decimal("100.0")],
        "Dispatch · v2": [1, 0, Decimal("0.0")],
    }


def test_opt_outs_are_those_that_followed_the_periods_messages(period):
    spring = campaign("Spring Sale")
    # Sent before the period (which starts on the 16th), STOP inside it: not this period's.
    message(day=14, status="delivered", campaign=spring, to="+447700900001")
    InboundMessage.objects.create(
        gateway="sandbox", sender="+447700900001", text="STOP", action="opt_out", received_at=at(16)
    )
    message(day=20, status="delivered", campaign=spring, to="+447700900002")
    message(day=20, status="delivered", campaign=spring, to="+447700900003")
    # Sent on the period's last day, STOP two days later: it followed this period's text.
    autumn = campaign("Autumn Sale")
    message(day=20, status="delivered", campaign=autumn, to="+447700900004")
    InboundMessage.objects.create(
        gateway="sandbox", sender="+447700900004", text="STOP", action="opt_out", received_at=at(22)
    )
    report = optouts(period)
    assert rows(report.tables[0]) == {
        "Spring Sale": [2, 0, Decimal("0.0")],
        "Autumn Sale": [1, 1, Decimal("100.0")],
    }


def test_approvals_volume_rate_and_median_time_to_decision(period, staff_user):
    agent = Agent.objects.create(name="Gate", client_id="gate", secret_hash="x")

    def request(status: str, minutes: int | None, by=None) -> None:
        created = at(17)
        ApprovalRequest.objects.create(
            agent=agent, action="send_sms", payload={}, status=status, created_at=created,
            expires_at=created + dt.timedelta(hours=24), decided_by=by,
            decided_at=created + dt.timedelta(minutes=minutes) if minutes is not None else None,
        )  # fmt: skip

    request("executed", 4)
    request("approved", 10)
    request("rejected", 2, by=staff_user)
    request("expired", 24 * 60 + 300)  # swept hours after it expired: not a decision time
    # Withdrawn (the person was erased): no staff decision, not in the rate.
    request("withdrawn", 1)
    request("pending", None)

    report = approvals(period)
    assert report.tables[0].rows == [[6, 2, 1, 1, 1, Decimal("50.0"), 4.0]]
    assert rows(report.tables[1])["17 Nov"] == [6, 2, 1, 1, 1]


def test_imports_list_their_outcomes(period):
    ImportJob.objects.create(
        file_name="leads.csv", file_path="x", encoding="utf-8", delimiter=",", status="finished",
        imported=90, updated=5, skipped=3, invalid=2, created_at=at(18), actor_kind="staff", actor_label="sam",
    )  # fmt: skip
    ImportJob.objects.create(
        file_name="dry.csv", file_path="x", encoding="utf-8", delimiter=",", status="finished", dry_run=True,
        imported=50, created_at=at(18), actor_kind="staff", actor_label="sam",
    )  # fmt: skip
    report = imports(period)
    assert [r[0] for r in report.tables[0].rows] == [
        f"#{ImportJob.objects.get(file_name='leads.csv').pk} leads.csv"
    ]
    assert report.tables[0].rows[0][3:] == ["finished", 90, 5, 3, 2]
    assert 'data-total="100"' in report.chart


def test_contact_growth_by_source_with_a_running_total(period):
    def contact(n: int, day: int, source: str) -> None:
        Contact.objects.create(
            email=f"p{n}@example.com", source=source, created_at=at(day), updated_at=at(day)
        )

    contact(1, 1, "staff")  # before the period: only in the running total
    contact(2, 17, "staff")
    contact(3, 17, "import")
    contact(4, 17, "import")
    contact(5, 19, "agent")
    table = rows(growth(period).tables[0])
    assert table["16 Nov"] == [0, 0, 0, 0, 0, 1]
    assert table["17 Nov"] == [1, 0, 2, 0, 3, 4]
    assert table["19 Nov"] == [0, 1, 0, 0, 1, 5]


def test_weekly_and_monthly_grouping_put_days_in_their_bucket():
    message(day=17, status="delivered")  # Tuesday of the week starting Mon 16 Nov
    message(day=22, status="delivered")  # Sunday, same week
    message(day=23, status="delivered")  # next Monday
    weekly = rows(
        sms_volume(Period(dt.date(2026, 11, 16), dt.date(2026, 11, 29), "week")).tables[0]
    )
    assert weekly == {"wk 16 Nov": [2, 2, 0, 0], "wk 23 Nov": [1, 1, 0, 0]}
    monthly = rows(
        sms_volume(Period(dt.date(2026, 10, 1), dt.date(2026, 11, 30), "month")).tables[0]
    )
    assert monthly == {"Oct 2026": [0, 0, 0, 0], "Nov 2026": [3, 3, 0, 0]}


@pytest.mark.parametrize(
    ("grouping", "first", "last"),
    [("day", "30 Dec 2025", "02 Jan 2026"), ("week", "wk 29 Dec 2025", "wk 29 Dec 2025")],
)
def test_periods_across_a_new_year_name_the_year(grouping, first, last):
    p = Period(start=dt.date(2025, 12, 30), end=dt.date(2026, 1, 2), grouping=grouping)
    labels = [row[0] for row in sms_volume(p).tables[0].rows]
    assert (labels[0], labels[-1]) == (first, last)
    # Two years of days: no label stands for two dates.
    two_years = Period(start=dt.date(2025, 1, 1), end=dt.date(2026, 12, 31))
    labels = [two_years.label(b) for b in two_years.buckets()]
    assert len(set(labels)) == len(labels)


def test_a_number_replying_stop_several_times_is_one_opt_out(period):
    # People often send STOP again when the first seems to do nothing; the second changes
    # nothing (the number is already on the list) and must not push the rate past 100%.
    spring = campaign("Spring Sale")
    message(day=17, status="delivered", campaign=spring, to="+447700900001")
    message(day=17, status="delivered", campaign=spring, to="+447700900002")
    for hour in (9, 10, 11):
        InboundMessage.objects.create(
            gateway="sandbox", sender="+447700900001", text="STOP", action="opt_out",
            received_at=at(18, hour),
        )  # fmt: skip
    report = optouts(period)
    assert rows(report.tables[0]) == {"Spring Sale": [2, 1, Decimal("50.0")]}
