"""Request and response shapes of the agent API. MCP tools reuse the request models, so an
agent gets the same validation and the same JSON schema whichever door it comes through."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

# Ids are bounded so a fuzzed 10^30 is a clean 400, not a database overflow.
Id = Annotated[int, Field(ge=1, le=2**53)]


def _in_utc(moment: dt.datetime) -> dt.datetime:
    # No offset means UTC, the zone the API speaks. Moving 0001-01-01T00:00+14:00 or
    # 9999-12-31T23:59-14:00 to UTC leaves the calendar: refuse it here, not in the database.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        # A custom error type: pydantic would put "Value error, " before a ValueError's text.
        raise PydanticCustomError(
            "datetime_out_of_range",
            "Out of range once moved to UTC; use a year between 1 and 9999.",
        ) from None


ISO_EXAMPLE = "2026-11-27 (midnight UTC) or 2026-11-27T12:00:00+01:00"


def _iso_8601(value: object) -> object:
    # Pydantic reads a number, or a string of digits, as seconds since 1970: "2020" would be
    # 00:33:40 on 1 Jan 1970. Read text as ISO 8601 only, as schedule_at and send_at are.
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(value.strip().upper())  # RFC 3339 allows "t", "z"
    raise PydanticCustomError(
        "datetime_not_iso_8601",
        "Give an ISO 8601 date or date-time, e.g. {example}; a bare number is ambiguous.",
        {"example": ISO_EXAMPLE},
    )


def _iso_text(value: object) -> object:
    # schedule_at and send_at are read by the services (which know the time zone rules), so
    # they stay text here; a JSON number gets the ISO 8601 hint, not "a valid string".
    if value is None or isinstance(value, str):
        return value
    raise PydanticCustomError(
        "datetime_not_iso_8601",
        "Give an ISO 8601 date-time as a string, e.g. {example}; a bare number is ambiguous.",
        {"example": "2026-11-27T12:00:00+01:00"},
    )


# Text that is to be an ISO 8601 date-time, read by the service.
IsoText = Annotated[str, BeforeValidator(_iso_text)]

# A date-time as an aware UTC moment, whatever offset (or none) the caller gave; a date alone
# is its midnight UTC.
Moment = Annotated[dt.datetime, BeforeValidator(_iso_8601), AfterValidator(_in_utc)]
Consent = Literal["unknown", "granted", "withdrawn"]
FieldValue = str | int | float | bool | None


class Body(Schema):
    """A request body: an unknown key is a 400 naming it, not silently dropped. Agents guess
    field names ("firstname", "version"); ignoring one would answer 200 for a change that
    was never made."""

    model_config = ConfigDict(extra="forbid")


class ProblemOut(Schema):
    model_config = ConfigDict(extra="allow")
    message: str = Field(description="What is wrong with this part of the request.")
    code: str | None = Field(None, description="Its snake_case code (business rules).")
    field: str | None = Field(None, description="The request field it is about, if one.")
    path: str | None = Field(None, description="Where in the request (schema errors).")


class ErrorOut(Schema):
    model_config = ConfigDict(extra="allow")
    code: str = Field(description="Stable snake_case error code, e.g. duplicate_email.")
    message: str = Field(description="What went wrong, for a person or an agent to act on.")
    errors: list[ProblemOut] | None = Field(
        None,
        description="Each problem on its own, where a request is checked as a whole (a "
        "malformed request; an import's options): fix them all before trying again.",
    )


class ContactFields(Body):
    phone: str | None = Field(None, description="Any format; stored as E.164.", max_length=40)
    first_name: str | None = Field(None, max_length=200)
    last_name: str | None = Field(None, max_length=200)
    email_consent: Consent | None = None
    sms_consent: Consent | None = None
    fields: dict[str, FieldValue] | None = Field(
        None,
        description="Custom field values by field name; null clears a value. Number fields "
        "keep 6 decimal places (more are rounded) and stay below 10^14.",
    )
    metadata: dict[str, Any] | None = Field(
        None,
        description="Merged into the contact's metadata key by key: a top-level key set to null "
        "is removed, any other value replaces that key's value whole (a nested object is not "
        "merged into the stored one: send all of it).",
    )
    tags: list[Annotated[str, Field(max_length=100)]] | None = Field(
        None, description="Tag names to add (created on the fly).", max_length=100
    )
    list_ids: list[Id] | None = Field(
        None, description="Lists to add the contact to.", max_length=100
    )


class ContactIn(ContactFields):
    email: str = Field(description="Unique per contact, case-insensitive.", max_length=320)
    upsert: bool = Field(
        False, description="Update the contact with this email if it exists instead of failing."
    )


class ContactPatch(ContactFields):
    email: str | None = Field(None, max_length=320)
    unsubscribed: bool | None = Field(
        None,
        description="True unsubscribes permanently; false is refused (unsubscribed) for a "
        "contact who has unsubscribed: only staff can undo that.",
    )
    expected_version: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description="Refuse with edit_conflict if the contact changed since.",
    )


class ContactOut(Schema):
    id: str
    email: str
    phone: str | None
    phone_country: str | None
    first_name: str
    last_name: str
    email_consent: str
    sms_consent: str
    unsubscribed: bool
    metadata: dict[str, Any]
    fields: dict[str, Any]
    tags: list[str]
    list_ids: list[int]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class ContactPage(Schema):
    items: list[ContactOut]
    next_cursor: str | None = Field(
        description="Pass as cursor, with the same filters, for the next page; null at the end. "
        "Pages run newest change first, so a contact changed while you page moves ahead of your "
        "cursor and is not on a later page: to be sure of every match, search once more with "
        "updated_since set to when you began."
    )


class BatchItemIn(ContactIn):
    upsert: bool = Field(
        True,
        description="A batch updates the contact with this email if it exists; false refuses "
        "this item with duplicate_email instead.",
    )


class BatchRequest(Body):
    contacts: list[BatchItemIn] = Field(min_length=1, max_length=1000)
    dry_run: bool = Field(False, description="Report what would happen; change nothing.")


class ItemResult(Schema):
    model_config = ConfigDict(extra="allow")
    index: int
    result: str


class BatchOut(Schema):
    results: list[ItemResult]
    created: int
    updated: int
    error: int
    dry_run: bool = False


class ContactIdsIn(Body):
    contact_ids: list[str] = Field(min_length=1, max_length=1000)
    dry_run: bool = Field(False, description="Report what would happen; change nothing.")


class BulkOut(Schema):
    model_config = ConfigDict(extra="allow")
    results: list[ItemResult]
    failed: int
    dry_run: bool = False


class RemovedOut(Schema):
    model_config = ConfigDict(extra="allow")
    contact_id: str
    removed: bool


class EventIn(Body):
    name: str = Field(description="What happened, e.g. email_opened.", max_length=200)
    params: dict[str, Any] | None = Field(
        None, description='Details, e.g. {"campaign": "Spring Sale"}.'
    )
    occurred_at: Moment | None = Field(
        None,
        description="When it happened (default now): ISO 8601, e.g. 2026-11-27T12:00:00+01:00; "
        "no offset means UTC, a date alone its midnight UTC.",
    )


class InteractionOut(Schema):
    id: int
    kind: str
    name: str
    description: str
    data: dict[str, Any]
    occurred_at: dt.datetime
    actor: str


class ListIn(Body):
    name: str = Field(max_length=200)
    description: str = Field("", max_length=300)
    limit: int | None = Field(
        None, ge=1, le=2**31 - 1, description="Most contacts the list may hold."
    )


class ListOut(Schema):
    id: int
    name: str
    description: str
    limit: int | None
    members: int | None


class FieldIn(Body):
    name: str = Field(max_length=100)
    type: Literal["text", "number", "date", "boolean"] = Field(
        description="number: below 10^14, kept to 6 decimal places (more are rounded)."
    )


class FieldOut(Schema):
    id: int
    name: str
    type: str


class TokenOut(Schema):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int


class ApprovalOut(Schema):
    id: int
    action: str
    status: str
    created_at: dt.datetime
    expires_at: dt.datetime
    decided_at: dt.datetime | None
    decision_note: str
    result: dict[str, Any] | None


class AgentOut(Schema):
    name: str
    mode: str
    scopes: list[str]
    rate_limit_per_minute: int
    monthly_request_cap: int | None
    requests_this_month: int
    system_prompt: str | None
    prompt_version: int | None
    tools_anthropic: list[dict[str, Any]]
    tools_openai: list[dict[str, Any]]


class SegmentIn(Body):
    name: str = Field(max_length=200)
    rules: dict[str, Any] = Field(description="Segment rules (see the segment builder's JSON).")


class SegmentOut(Schema):
    id: int
    name: str
    rules: dict[str, Any]


class SmsIn(Body):
    to: str | None = Field(
        None, max_length=40, description="Phone number; or give contact_id (not another number)."
    )
    contact_id: str | None = Field(None, max_length=64, description="Text this contact's phone.")
    message: str = Field(max_length=2000, description="The text; {first_name} etc. are filled in.")
    kind: Literal["transactional", "marketing"] = "transactional"
    schedule_at: IsoText | None = Field(
        None,
        max_length=40,
        description="Send later: ISO 8601 date-time (no offset means UTC), e.g. "
        "2026-11-27T12:00:00+01:00, at most SMS_MAX_SCHEDULE_DAYS (60 by default) days ahead. "
        "Marketing still waits out quiet hours in the recipient's zone.",
    )
    dry_run: bool = Field(False, description="Answer encoding, segments and price; send nothing.")
    reason: str = Field("", max_length=500, description="Why: shown to staff approving it.")


class CampaignIn(Body):
    name: str = Field(
        "", max_length=120, description="Shown to staff; defaults to the audience's name."
    )
    message: str = Field(
        max_length=2000, description="The text; {first_name} etc. are filled in per recipient."
    )
    audience_kind: Literal["list", "tag", "segment"]
    audience_id: int = Field(description="The list, tag or segment id.")
    kind: Literal["transactional", "marketing"] = "marketing"
    schedule: Literal["now", "at", "local"] = Field(
        "now",
        description="now; at send_at in time_zone; or local: send_at's wall-clock time in each recipient's zone.",
    )
    send_at: IsoText | None = Field(
        None,
        max_length=40,
        description="ISO date-time, e.g. 2026-11-27T12:00, a wall clock in time_zone (or, for "
        "local, in each recipient's zone); with an offset (+01:00, Z) that exact moment, for at only. "
        "At most CAMPAIGN_MAX_SCHEDULE_DAYS (400 by default) days ahead.",
    )
    time_zone: str = Field(
        "UTC", max_length=64, description="IANA zone for schedule=at, e.g. Europe/London."
    )
    quiet_hours: str | None = Field(
        None, max_length=11, description="Marketing only: hold between HH:MM-HH:MM recipient time."
    )
    dry_run: bool = Field(
        False, description="Answer the recipient count, exclusions and cost; send nothing."
    )
    reason: str = Field("", max_length=500, description="Why: shown to staff approving it.")


class CampaignOut(Schema):
    model_config = ConfigDict(extra="allow")
    status: str = Field(
        description="scheduled, running, …; pending_approval for gated agents; preview on a dry run."
    )


class CampaignStatusOut(Schema):
    id: int
    name: str
    status: str = Field(
        description="scheduled, running, paused, completed (every message handed over; delivery "
        "reports may still come) or cancelled (see problem for why one did not start)."
    )
    kind: str
    audience: dict[str, Any] = Field(description="kind, id and label of the list, tag or segment.")
    recipients: int = Field(description="Frozen at start, after exclusions.")
    excluded: dict[str, int] = Field(description="Exclusion reason -> contacts left out at start.")
    problem: str | None = Field(
        None, description="Why a cancelled campaign did not start (its audience went, no credits…)."
    )
    cost: str
    start_at: str | None
    progress: dict[str, int] = Field(
        description="created, sent, delivered, failed, held, waiting, cancelled (not sent: the "
        "number opted out since, or staff cancelled it), percent."
    )


class SmsOut(Schema):
    model_config = ConfigDict(extra="allow")
    status: str = Field(description="queued, scheduled, pending_approval or preview (dry run).")


class MessageOut(Schema):
    model_config = ConfigDict(extra="allow")
    id: int
    status: str
    segments: int
    price: str


class CreditsOut(Schema):
    balance: str
    agent_budget: str | None
    agent_spent_this_month: str


class VerifyStartIn(Body):
    to: str = Field(max_length=40)


class VerifyCheckIn(Body):
    to: str = Field(max_length=40)
    code: str = Field(max_length=20)


class VerifyStartOut(Schema):
    to: str
    status: str
    expires_at: dt.datetime


class VerifyCheckOut(Schema):
    verified: bool


class LookupOut(Schema):
    e164: str
    region: str
    international: str
    type: str
    is_mobile: bool
    time_zones: list[str]
    description: str
    carrier: str


class ImportIssueOut(Schema):
    row: int = Field(description="The line as a spreadsheet numbers it (the header is row 1).")
    column: str
    outcome: str = Field(
        description="invalid or skipped: not imported; warning: imported with a value dropped."
    )
    code: str
    reason: str


class ImportOut(Schema):
    # Every field the job has is declared: a read is validated against this schema, and a
    # field left out here was silently dropped from the answer.
    model_config = ConfigDict(extra="allow")
    import_job_id: int
    status: str
    file_name: str | None = None
    dry_run: bool | None = None
    rows_done: int | None = None
    total_rows: int | None = Field(None, description="Known once the import is done.")
    imported: int
    updated: int
    skipped: int
    invalid: int
    error: str | None = Field(None, description="Why a failed import stopped.")
    created_at: str | None = None
    finished_at: str | None = None
    issues: list[ImportIssueOut] | None = Field(
        None, description="The first 100 rows not imported as given, and why (GET)."
    )
    issues_total: int | None = Field(None, description="How many there are in all (GET).")


class ErasedOut(Schema):
    model_config = ConfigDict(extra="allow")
    contact_id: str | None = None
    erased: bool | None = None
    # {"id", "name"} of segments whose conditions on the person now match nobody: review them.
    segments_changed: list[dict[str, Any]] | None = None
    status: str | None = None
