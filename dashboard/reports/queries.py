"""The numbers behind each report: aggregate queries over a period, grouped by day/week/month.

Every report returns a ``Report``: a chart and the tables behind it. ``embed=True`` builds the
version shown in signed embeds, which names no person (staff appear as "Staff").
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDay, TruncMonth, TruncWeek
from django.utils import timezone
from django.utils.safestring import SafeString

from contacts.imports.models import ImportJob
from contacts.models import Contact
from dashboard.agents.models import AgentPromptVersion, ApprovalRequest, ApprovalStatus
from dashboard.reports import charts
from sms.campaigns.models import Campaign
from sms.models import CreditEntry, EntryKind, InboundMessage, Message, Status

GROUPINGS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
MAX_DAYS = 366 * 2
FAILED = [Status.FAILED, Status.UNDELIVERED]
# Not (yet) handed to the provider: a text scheduled for next week is not "sent" today.
NOT_SENT = [Status.CANCELLED, Status.HELD, Status.SCHEDULED, Status.PENDING]
# An opt-out counts against the last message the number received within this window.
OPTOUT_WINDOW = dt.timedelta(days=7)


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date  # inclusive
    grouping: str = "day"

    @property
    def start_at(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.start, dt.time.min))

    @property
    def end_at(self) -> dt.datetime:
        """Exclusive upper bound: midnight after ``end``."""
        return timezone.make_aware(
            dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min)
        )

    def buckets(self) -> list[dt.date]:
        if self.grouping == "month":
            day, out = self.start.replace(day=1), []
            while day <= self.end:
                out.append(day)
                day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
            return out
        step = 7 if self.grouping == "week" else 1
        day = self.start - dt.timedelta(days=self.start.weekday()) if step == 7 else self.start
        out = []
        while day <= self.end:
            out.append(day)
            day += dt.timedelta(days=step)
        return out

    def label(self, bucket: dt.date) -> str:
        if self.grouping == "month":
            return bucket.strftime("%b %Y")
        # Across a new year "05 Jan" could be either year's (twice over in a two-year range),
        # and a downloaded table could not be put in order: name the year then.
        day = bucket.strftime("%d %b %Y" if self._spans_years() else "%d %b")
        return f"wk {day}" if self.grouping == "week" else day

    def _spans_years(self) -> bool:
        first = self.start
        if self.grouping == "week":  # the first bucket is the Monday on or before the start
            first -= dt.timedelta(days=first.weekday())
        return first.year != self.end.year

    def trunc(self, column: str):
        return GROUPINGS[self.grouping](column, tzinfo=timezone.get_current_timezone())

    def within(self, column: str) -> Q:
        return Q(**{f"{column}__gte": self.start_at, f"{column}__lt": self.end_at})


def bucket_date(value: dt.datetime | dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)


@dataclass
class Report:
    key: str
    title: str
    description: str
    chart: SafeString
    tables: list[Table]


def _pct(part: float, whole: float) -> Decimal | None:
    return round(Decimal(part) * 100 / Decimal(whole), 1) if whole else None


def _by_bucket(
    period: Period, rows: Iterable[dict], value_keys: list[str]
) -> dict[dt.date, dict[str, float]]:
    grid: dict[dt.date, dict[str, float]] = {
        b: dict.fromkeys(value_keys, 0) for b in period.buckets()
    }
    for row in rows:
        bucket = bucket_date(row["bucket"])
        target = grid.setdefault(bucket, dict.fromkeys(value_keys, 0))
        for key in value_keys:
            target[key] += float(row[key] or 0)
    return dict(sorted(grid.items()))


def _sender_label(kind: str, label: str, campaign: str | None, *, embed: bool) -> str:
    if campaign:
        return f"Campaign: {campaign}"
    if kind == "staff":
        return "Staff" if embed else f"Staff: {label}"
    if kind == "agent":
        return f"Agent: {label}"
    return kind.capitalize()


def sms_volume(period: Period, *, embed: bool = False) -> Report:
    messages = Message.objects.filter(period.within("created_at")).exclude(status__in=NOT_SENT)
    counts = {
        "total": Count("id"),
        "delivered": Count("id", filter=Q(status=Status.DELIVERED)),
        "failed": Count("id", filter=Q(status__in=FAILED)),
    }
    grid = _by_bucket(
        period,
        messages.annotate(bucket=period.trunc("created_at")).values("bucket").annotate(**counts),
        list(counts),
    )
    labels = [period.label(b) for b in grid]
    awaiting = [v["total"] - v["delivered"] - v["failed"] for v in grid.values()]
    chart = charts.stacked_bars(
        labels,
        [
            charts.Series("Delivered", [v["delivered"] for v in grid.values()]),
            charts.Series("Failed", [v["failed"] for v in grid.values()], charts.PALETTE[2]),
            charts.Series("Sent, awaiting report", awaiting, charts.PALETTE[7]),
        ],
        title="SMS per period",
    )
    per_period = Table(
        "By period",
        ["Period", "Sent", "Delivered", "Failed", "Awaiting report"],
        [
            [period.label(b), int(v["total"]), int(v["delivered"]), int(v["failed"]), int(a)]
            for (b, v), a in zip(grid.items(), awaiting, strict=True)
        ],
    )
    campaign_names = dict(Campaign.objects.values_list("id", "name"))
    senders: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in messages.values("actor_kind", "actor_label", "campaign_id").annotate(**counts):
        name = _sender_label(
            row["actor_kind"],
            row["actor_label"],
            campaign_names.get(row["campaign_id"]),
            embed=embed,
        )
        totals = senders[name]
        totals[0] += row["total"]
        totals[1] += row["delivered"]
        totals[2] += row["failed"]
    per_sender = Table(
        "By sender",
        ["Sender", "Sent", "Delivered", "Failed", "Delivery rate %"],
        [
            [name, t, d, f, _pct(d, d + f)]
            for name, (t, d, f) in sorted(senders.items(), key=lambda i: -i[1][0])
        ],
    )
    return Report(
        "sms",
        "SMS sent, delivered and failed",
        "Messages created in the period and handed to the provider, by outcome and sender.",
        chart,
        [per_period, per_sender],
    )


def spend(period: Period, *, embed: bool = False) -> Report:
    entries = CreditEntry.objects.filter(period.within("created_at"))
    # A campaign reserves its cost in one message-less charge and releases it, batch by batch,
    # as its messages are charged: those releases move credits within the spend, they are no
    # refund. "Refunds" are what failed or cancelled messages got back.
    sums = {
        "charged": Coalesce(Sum("amount", filter=Q(kind=EntryKind.CHARGE)), Decimal(0)),
        "released": Coalesce(
            Sum("amount", filter=Q(kind=EntryKind.REFUND, message__isnull=True)), Decimal(0)
        ),
        "refunded": Coalesce(
            Sum("amount", filter=Q(kind=EntryKind.REFUND, message__isnull=False)), Decimal(0)
        ),
        "topped_up": Coalesce(Sum("amount", filter=Q(kind=EntryKind.TOPUP)), Decimal(0)),
    }
    grid = _by_bucket(
        period,
        entries.annotate(bucket=period.trunc("created_at")).values("bucket").annotate(**sums),
        list(sums),
    )
    # Charges are negative ledger amounts, refunds positive: spend is what was kept.
    spent = [-(v["charged"] + v["released"] + v["refunded"]) for v in grid.values()]
    labels = [period.label(b) for b in grid]
    chart = charts.stacked_bars(
        labels,
        [
            charts.Series("Spend", spent),
            charts.Series("Top-ups", [v["topped_up"] for v in grid.values()], charts.PALETTE[1]),
        ],
        title="Credit spend against top-ups",
        stacked=False,
    )
    per_period = Table(
        "By period",
        ["Period", "Spend", "Refunds", "Top-ups"],
        [
            [period.label(b), _money(s), _money(v["refunded"]), _money(v["topped_up"])]
            for (b, v), s in zip(grid.items(), spent, strict=True)
        ],
    )
    by_country = (
        entries.filter(message__isnull=False, kind__in=[EntryKind.CHARGE, EntryKind.REFUND])
        .values(country=F("message__country"))
        .annotate(
            net=Sum("amount"),
            messages=Count("message", filter=Q(kind=EntryKind.CHARGE), distinct=True),
        )
        .order_by("net")
    )
    per_country = Table(
        "By destination country",
        ["Country", "Messages charged", "Spend"],
        [[row["country"] or "?", row["messages"], _money(-row["net"])] for row in by_country],
    )
    return Report(
        "spend",
        "Spend and top-ups",
        "Credits spent on messages (net of refunds) against credits added.",
        chart,
        [per_period, per_country],
    )


def _money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def delivery(period: Period, *, embed: bool = False) -> Report:
    finished = Message.objects.filter(
        period.within("created_at"), status__in=[Status.DELIVERED, *FAILED]
    )
    rows = (
        finished.values("country", "gateway")
        .annotate(total=Count("id"), delivered=Count("id", filter=Q(status=Status.DELIVERED)))
        .order_by("country", "gateway")
    )
    by_country: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    table = Table(
        "By country and gateway", ["Country", "Gateway", "Finished", "Delivered", "Delivery rate %"]
    )
    for row in rows:
        table.rows.append(
            [
                row["country"] or "?",
                row["gateway"],
                row["total"],
                row["delivered"],
                _pct(row["delivered"], row["total"]),
            ]
        )
        by_country[row["country"] or "?"][0] += row["total"]
        by_country[row["country"] or "?"][1] += row["delivered"]
    reasons = (
        finished.filter(status__in=FAILED)
        .values("country", "gateway", "error_code")
        .annotate(n=Count("id"))
        .order_by("-n", "country")
    )
    failures = Table(
        "Failure reasons",
        ["Country", "Gateway", "Error code", "Messages"],
        [
            [r["country"] or "?", r["gateway"], r["error_code"] or "unknown", r["n"]]
            for r in reasons
        ],
    )
    countries = sorted(by_country)
    chart = charts.horizontal_bars(
        countries,
        [_pct(d, t) or 0 for t, d in (by_country[c] for c in countries)],
        title="Delivery rate by country",
        unit="%",
    )
    return Report(
        "delivery",
        "Delivery rate and failure reasons",
        "Messages with a final status, by destination and gateway.",
        chart,
        [table, failures],
    )


def optouts(period: Period, *, embed: bool = False) -> Report:
    """Messages sent in the period and the STOP replies that followed them, each STOP counted
    against the last message its number got in the week before. A message counts once however
    many STOPs answered it: people repeat one that seems to do nothing."""
    last_message = Message.objects.filter(
        to=OuterRef("sender"),
        sent_at__lte=OuterRef("received_at"),
        sent_at__gte=OuterRef("received_at") - OPTOUT_WINDOW,
    ).order_by("-sent_at")
    # Opt-outs and messages sent are one population: a STOP early in the period answering a
    # text sent before it would count against messages it never followed (rates above 100%),
    # and one just after the period's end answers a text sent in it.
    stops = (
        InboundMessage.objects.filter(
            received_at__gte=period.start_at,
            received_at__lt=period.end_at + OPTOUT_WINDOW,
            action="opt_out",
        )
        .annotate(
            message_id=Subquery(last_message.values("id")[:1]),
            campaign_id=Subquery(last_message.values("campaign_id")[:1]),
            prompt_version_id=Subquery(last_message.values("prompt_version_id")[:1]),
            message_sent_at=Subquery(last_message.values("sent_at")[:1]),
        )
        .filter(period.within("message_sent_at"))
        .values("campaign_id", "prompt_version_id")
        .annotate(n=Count("message_id", distinct=True))
    )
    stops_by_campaign: dict[int, int] = defaultdict(int)
    stops_by_version: dict[int, int] = defaultdict(int)
    for row in stops:
        if row["campaign_id"]:
            stops_by_campaign[row["campaign_id"]] += row["n"]
        if row["prompt_version_id"]:
            stops_by_version[row["prompt_version_id"]] += row["n"]
    sent = Message.objects.filter(period.within("sent_at"))
    campaign_sent = dict(
        sent.exclude(campaign_id=None).values_list("campaign_id").annotate(n=Count("id"))
    )
    version_sent = dict(
        sent.exclude(prompt_version_id=None)
        .values_list("prompt_version_id")
        .annotate(n=Count("id"))
    )
    names = dict(
        Campaign.objects.filter(id__in=set(campaign_sent) | set(stops_by_campaign)).values_list(
            "id", "name"
        )
    )
    versions = {
        v.pk: f"{v.agent.name} · v{v.number}"
        for v in AgentPromptVersion.objects.filter(
            id__in=set(version_sent) | set(stops_by_version)
        ).select_related("agent")
    }
    campaigns = Table(
        "By campaign",
        ["Campaign", "Messages sent", "Opt-outs after", "Opt-out rate %"],
        [
            [
                names.get(cid, f"#{cid}"),
                campaign_sent.get(cid, 0),
                stops_by_campaign.get(cid, 0),
                _pct(stops_by_campaign.get(cid, 0), campaign_sent.get(cid, 0)),
            ]
            for cid in sorted(set(campaign_sent) | set(stops_by_campaign))
        ],
    )
    prompts = Table(
        "By agent prompt version",
        ["Prompt version", "Messages sent", "Opt-outs after", "Opt-out rate %"],
        [
            [
                versions.get(vid, f"#{vid}"),
                version_sent.get(vid, 0),
                stops_by_version.get(vid, 0),
                _pct(stops_by_version.get(vid, 0), version_sent.get(vid, 0)),
            ]
            for vid in sorted(set(version_sent) | set(stops_by_version))
        ],
    )
    chart_rows = campaigns.rows + prompts.rows
    chart = charts.horizontal_bars(
        [str(r[0]) for r in chart_rows],
        [r[3] or 0 for r in chart_rows],
        title="Opt-out rate after messages",
        unit="%",
    )
    return Report(
        "optouts",
        "Opt-outs after messages",
        f"Messages sent in the period and the STOP replies that followed them, each counted against the last message the number received in the {OPTOUT_WINDOW.days} days before.",
        chart,
        [campaigns, prompts],
    )


def approvals(period: Period, *, embed: bool = False) -> Report:
    requests = ApprovalRequest.objects.filter(period.within("created_at"))
    approved = [ApprovalStatus.APPROVED, ApprovalStatus.EXECUTED, ApprovalStatus.FAILED]
    counts = {
        "total": Count("id"),
        "approved": Count("id", filter=Q(status__in=approved)),
        "rejected": Count("id", filter=Q(status=ApprovalStatus.REJECTED)),
        "expired": Count("id", filter=Q(status=ApprovalStatus.EXPIRED)),
        # The system's, when the person was erased: no staff decision, so not in the rate.
        "withdrawn": Count("id", filter=Q(status=ApprovalStatus.WITHDRAWN)),
    }
    grid = _by_bucket(
        period,
        requests.annotate(bucket=period.trunc("created_at")).values("bucket").annotate(**counts),
        list(counts),
    )
    # Expiry is no decision, and its decided_at is whenever the sweep ran: left out.
    waits = [
        (decided - created).total_seconds() / 60
        for created, decided in requests.filter(decided_at__isnull=False)
        .exclude(status__in=[ApprovalStatus.EXPIRED, ApprovalStatus.WITHDRAWN])
        .values_list("created_at", "decided_at")
    ]
    totals = requests.aggregate(**counts)
    decided = totals["approved"] + totals["rejected"] + totals["expired"]
    summary = Table(
        "Summary",
        ["Requests", "Approved", "Rejected", "Expired", "Withdrawn", "Approval rate %",
         "Median minutes to decision"],
        [[totals["total"], totals["approved"], totals["rejected"], totals["expired"], totals["withdrawn"],
          _pct(totals["approved"], decided), round(statistics.median(waits), 1) if waits else None]],
    )  # fmt: skip
    per_period = Table(
        "By period",
        ["Period", "Requests", "Approved", "Rejected", "Expired", "Withdrawn"],
        [
            [
                period.label(b),
                int(v["total"]),
                int(v["approved"]),
                int(v["rejected"]),
                int(v["expired"]),
                int(v["withdrawn"]),
            ]
            for b, v in grid.items()
        ],
    )
    pending = [
        v["total"] - v["approved"] - v["rejected"] - v["expired"] - v["withdrawn"]
        for v in grid.values()
    ]
    chart = charts.stacked_bars(
        [period.label(b) for b in grid],
        [
            charts.Series("Approved", [v["approved"] for v in grid.values()], charts.PALETTE[1]),
            charts.Series("Rejected", [v["rejected"] for v in grid.values()], charts.PALETTE[2]),
            charts.Series("Expired", [v["expired"] for v in grid.values()], charts.PALETTE[3]),
            charts.Series("Withdrawn", [v["withdrawn"] for v in grid.values()], charts.PALETTE[6]),
            charts.Series("Pending", pending, charts.PALETTE[7]),
        ],
        title="Approval requests",
    )
    return Report(
        "approvals",
        "Approval queue",
        "Gated agents' requests: volume, decisions and time to decide.",
        chart,
        [summary, per_period],
    )


def imports(period: Period, *, embed: bool = False) -> Report:
    jobs = ImportJob.objects.filter(period.within("created_at"), dry_run=False)
    outcome = ["imported", "updated", "skipped", "invalid"]
    grid = _by_bucket(
        period,
        jobs.annotate(bucket=period.trunc("created_at"))
        .values("bucket")
        .annotate(**{k: Sum(k) for k in outcome}),
        outcome,
    )
    chart = charts.stacked_bars(
        [period.label(b) for b in grid],
        [charts.Series(k.capitalize(), [v[k] for v in grid.values()]) for k in outcome],
        title="Imported rows by outcome",
    )
    table = Table(
        "Imports",
        ["Import", "Started", "Started by", "Status", "Imported", "Updated", "Skipped", "Invalid"],
        [
            # A file's name is whatever the uploader called it ("jane.doe@…", a client's name):
            # the embed, open to anyone with the link, shows the import's number only.
            [f"#{job.pk}" if embed else f"#{job.pk} {job.file_name}",
             timezone.localtime(job.created_at).strftime("%Y-%m-%d %H:%M"),
             job.actor_kind if embed else f"{job.actor_kind}: {job.actor_label}",
             job.status, job.imported, job.updated, job.skipped, job.invalid]
            for job in jobs.order_by("-created_at")[:500]
        ],
    )  # fmt: skip
    return Report(
        "imports",
        "Imports and their outcomes",
        "Finished and running imports started in the period (dry runs excluded).",
        chart,
        [table],
    )


def growth(period: Period, *, embed: bool = False) -> Report:
    new = Contact.objects.filter(period.within("created_at"))
    sources = ["staff", "agent", "import", "system"]
    grid = _by_bucket(
        period,
        new.annotate(bucket=period.trunc("created_at"))
        .values("bucket")
        .annotate(**{s: Count("id", filter=Q(source=s)) for s in sources}),
        sources,
    )
    before = Contact.objects.filter(created_at__lt=period.start_at).count()
    rows, running = [], before
    for bucket, values in grid.items():
        added = int(sum(values.values()))
        running += added
        rows.append([period.label(bucket), *(int(values[s]) for s in sources), added, running])
    chart = charts.stacked_bars(
        [period.label(b) for b in grid],
        [charts.Series(s.capitalize(), [v[s] for v in grid.values()]) for s in sources],
        title="New contacts by source",
    )
    table = Table(
        "By period",
        ["Period", "Staff", "Agents", "Imports", "System", "New", "Total contacts"],
        rows,
    )
    return Report(
        "growth",
        "Contact growth by source",
        "New contacts per period, by who created them (erased contacts are not counted).",
        chart,
        [table],
    )


# key -> (title, builder); the index page lists them without running any query.
REPORTS: dict[str, tuple[str, Callable[..., Report]]] = {
    "sms": ("SMS sent, delivered and failed", sms_volume),
    "spend": ("Spend and top-ups", spend),
    "delivery": ("Delivery rate and failure reasons", delivery),
    "optouts": ("Opt-outs after messages", optouts),
    "approvals": ("Approval queue", approvals),
    "imports": ("Imports and their outcomes", imports),
    "growth": ("Contact growth by source", growth),
}
