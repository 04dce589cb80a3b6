"""The tools agents call over MCP, described once: name, scope, input schema, what runs.

The same descriptions feed ``GET /api/v1/agent`` (Anthropic and OpenAI tool formats), so a
developer wiring an agent to the JSON API gets the exact tools the MCP server offers. Writes go
through the pipeline; reads check scope and limits with ``admit``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contacts.models import Contact
from contacts.services.contacts import get_contact
from contacts.services.segments import get_segment, segment_members
from dashboard.agents import reads
from dashboard.agents.models import Agent
from dashboard.agents.pipeline import Outcome, admit, approval_status, perform, status_for
from dashboard.api.contacts import contact_search_key, page_of
from dashboard.api.core import Refused, unstorable
from dashboard.api.schemas import Consent, FieldValue, Id, IsoText
from dashboard.api.serialise import contact_data, with_related
from dashboard.errors import SwitchboardError


class ToolInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UpsertContactInput(ToolInput):
    email: str = Field(
        description="The contact's email; finds the contact to update (any letter case).",
        max_length=320,
    )
    phone: str | None = Field(
        None,
        description="Phone in any format, with country code if not in the default region.",
        max_length=40,
    )
    first_name: str | None = Field(None, max_length=200)
    last_name: str | None = Field(None, max_length=200)
    sms_consent: Consent | None = Field(
        None, description="Whether the person agreed to marketing SMS."
    )
    fields: dict[str, FieldValue] | None = Field(
        None, description="Custom field values by field name."
    )
    metadata: dict[str, Any] | None = Field(
        None,
        description="Merged into metadata key by key: a top-level key set to null is removed; "
        "any other value replaces that key's value whole (nested objects are not merged).",
    )
    tags: list[str] | None = Field(None, description="Tag names to add.")
    list_ids: list[Id] | None = Field(None, description="Ids of lists to add the contact to.")
    idempotency_key: str | None = Field(
        None,
        description="Same key and input within 24 h returns the first result without acting again.",
        max_length=200,
    )


class ContactIdInput(ToolInput):
    contact_id: str = Field(
        description="The contact's id (a UUID) as returned by upsert_contact or search_contacts.",
        max_length=64,
    )


class SearchContactsInput(ToolInput):
    q: str = Field("", description="Start of a name, an email or a phone number.", max_length=200)
    email: str | None = Field(None, description="Exact email.", max_length=320)
    tag: str | None = Field(None, description="Only contacts with this tag.", max_length=100)
    list_id: Id | None = Field(None, description="Only members of this list.")
    segment_id: Id | None = Field(
        None, description="Only contacts matching this segment now (ids from list_segments)."
    )
    limit: int = Field(20, ge=1, le=50, description="At most this many contacts.")
    cursor: str | None = Field(
        None, description="next_cursor from the previous page.", max_length=200
    )


class TagInput(ToolInput):
    contact_id: str = Field(description="The contact's id (a UUID).", max_length=64)
    tag: str = Field(description="Tag name; created if it does not exist yet.", max_length=100)


class ListInput(ToolInput):
    contact_id: str = Field(description="The contact's id (a UUID).", max_length=64)
    list_id: Id = Field(description="The list's id.")


class SegmentInput(ToolInput):
    segment_id: Id = Field(description="The segment's id, from list_segments.")
    limit: int = Field(20, ge=1, le=50, description="At most this many contacts.")
    cursor: str | None = Field(
        None, description="next_cursor from the previous page.", max_length=200
    )


class NoInput(ToolInput):
    pass


class ImportInput(ToolInput):
    import_job_id: Id = Field(description="The id POST /api/v1/imports answered.")


class SendSmsInput(ToolInput):
    to: str | None = Field(
        None,
        description="Phone number to text; or give contact_id (not another number).",
        max_length=40,
    )
    contact_id: str | None = Field(
        None, description="Text this contact's phone number.", max_length=64
    )
    message: str = Field(
        description="The text. {first_name} and other contact fields are filled in.",
        max_length=2000,
    )
    kind: Literal["transactional", "marketing"] = Field(
        "transactional",
        description="marketing needs the contact's SMS consent and is held during quiet hours.",
    )
    schedule_at: IsoText | None = Field(
        None,
        description="Send later: ISO 8601 date-time (no offset means UTC). Omit to send now.",
        max_length=40,
    )
    dry_run: bool = Field(False, description="Only answer encoding, segments and price.")
    reason: str = Field(
        "", description="Why you send it; staff see it when approving.", max_length=500
    )
    idempotency_key: str | None = Field(
        None, description="Retry safely with the same key.", max_length=200
    )


class MessageInput(ToolInput):
    message_id: Id = Field(description="The id send_sms answered.")


RETRY_KEY = "Retry safely with the same key: a code is texted, or checked, once."


class PhoneInput(ToolInput):
    to: str = Field(
        description="Phone number, with country code if not in the default region.", max_length=40
    )
    idempotency_key: str | None = Field(None, description=RETRY_KEY, max_length=200)


class CheckInput(ToolInput):
    to: str = Field(description="The phone number the code was sent to.", max_length=40)
    code: str = Field(description="The code the person read out.", max_length=20)
    idempotency_key: str | None = Field(None, description=RETRY_KEY, max_length=200)


class ApprovalInput(ToolInput):
    approval_id: Id = Field(description="The approval_id a pending_approval answer gave.")


class LookupInput(ToolInput):
    phone: str = Field(description="Phone number in any format.", max_length=40)


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    scope: str | None  # None: every agent may call it
    input: type[ToolInput]
    run: Callable[[Agent, Any], Outcome]

    def input_schema(self) -> dict[str, Any]:
        schema = self.input.model_json_schema()
        schema.pop("title", None)
        return schema


def _read(agent: Agent, scope: str | None, body: Callable[[], dict[str, Any]]) -> Outcome:
    if refused := admit(agent, scope):
        return refused
    try:
        return Outcome(200, body())
    except Refused as exc:
        return exc.outcome
    except SwitchboardError as exc:
        return Outcome(status_for(exc), exc.as_dict())


def _single(outcome: Outcome) -> Outcome:
    """A bulk action run for one contact: its one item's error is the tool's error."""
    if outcome.ok and outcome.body.get("failed"):
        item = outcome.body["results"][0]
        return Outcome(status_for(item["code"]), {"code": item["code"], "message": item["message"]})
    return outcome


def upsert_contact(agent: Agent, args: UpsertContactInput) -> Outcome:
    payload = args.model_dump(mode="json", exclude_unset=True)
    key = payload.pop("idempotency_key", None)
    return perform(agent, "upsert_contact", {**payload, "upsert": True}, idempotency_key=key)


def get_contact_tool(agent: Agent, args: ContactIdInput) -> Outcome:
    def body() -> dict[str, Any]:
        contact = get_contact(args.contact_id)
        return contact_data(with_related(Contact.objects.filter(pk=contact.pk)).get())

    return _read(agent, "contacts:read", body)


def search_contacts_tool(agent: Agent, args: SearchContactsInput) -> Outcome:
    def body() -> dict[str, Any]:
        contacts = reads.contact_search(
            q=args.q, email=args.email, tag=args.tag,
            list_id=args.list_id, segment_id=args.segment_id,
        )  # fmt: skip
        search = contact_search_key(
            q=args.q, email=args.email, tag=args.tag,
            list_id=args.list_id, segment_id=args.segment_id,
        )  # fmt: skip
        page = page_of(contacts, args.cursor, args.limit, search=search)
        return {"contacts": page["items"], "next_cursor": page["next_cursor"]}

    return _read(agent, "contacts:read", body)


def _tag_argument(outcome: Outcome) -> Outcome:
    """The actions name the tag ``tag_name`` (the API's path); the tools' argument is ``tag``:
    an error points at the argument the model sent."""
    if not outcome.ok and outcome.body.get("field") == "tag_name":
        return Outcome(outcome.status, {**outcome.body, "field": "tag"}, outcome.headers)
    return outcome


def tag_contact(agent: Agent, args: TagInput) -> Outcome:
    return _tag_argument(
        _single(
            perform(agent, "tag_contacts", {"tag_name": args.tag, "contact_ids": [args.contact_id]})
        )
    )


def untag_contact(agent: Agent, args: TagInput) -> Outcome:
    return _tag_argument(
        perform(agent, "untag_contact", {"tag_name": args.tag, "contact_id": args.contact_id})
    )


def add_to_list(agent: Agent, args: ListInput) -> Outcome:
    return _single(
        perform(agent, "add_to_list", {"list_id": args.list_id, "contact_ids": [args.contact_id]})
    )


def remove_from_list(agent: Agent, args: ListInput) -> Outcome:
    return perform(
        agent, "remove_from_list", {"list_id": args.list_id, "contact_id": args.contact_id}
    )


def list_segments(agent: Agent, args: NoInput) -> Outcome:
    return _read(agent, "contacts:read", lambda: {"segments": reads.segments()})


def segment_contacts(agent: Agent, args: SegmentInput) -> Outcome:
    def body() -> dict[str, Any]:
        members = segment_members(get_segment(args.segment_id))
        return page_of(members, args.cursor, args.limit, search={"segment_id": args.segment_id})

    return _read(agent, "contacts:read", body)


def import_status(agent: Agent, args: ImportInput) -> Outcome:
    return _read(agent, "imports:write", lambda: reads.import_status(agent, args.import_job_id))


def send_sms(agent: Agent, args: SendSmsInput) -> Outcome:
    payload = args.model_dump(mode="json", exclude={"dry_run", "reason", "idempotency_key"})
    return perform(
        agent, "send_sms", payload, idempotency_key=args.idempotency_key, dry_run=args.dry_run,
        reason=args.reason,
    )  # fmt: skip


def sms_status(agent: Agent, args: MessageInput) -> Outcome:
    return _read(agent, "sms:send", lambda: reads.message_status(agent, args.message_id))


def credit_balance(agent: Agent, args: NoInput) -> Outcome:
    return _read(agent, "sms:send", lambda: reads.credit_status(agent))


def start_verification(agent: Agent, args: PhoneInput) -> Outcome:
    return perform(
        agent, "start_verification", {"to": args.to}, idempotency_key=args.idempotency_key
    )


def check_verification(agent: Agent, args: CheckInput) -> Outcome:
    return perform(
        agent, "check_verification", {"to": args.to, "code": args.code},
        idempotency_key=args.idempotency_key,
    )  # fmt: skip


def approval_status_tool(agent: Agent, args: ApprovalInput) -> Outcome:
    return _read(agent, None, lambda: approval_status(agent, args.approval_id))


def lookup_phone(agent: Agent, args: LookupInput) -> Outcome:
    return _read(agent, "contacts:read", lambda: reads.lookup(args.phone))


TOOLS: dict[str, Tool] = {}


def register(tool: Tool) -> None:
    TOOLS[tool.name] = tool


for _tool in (
    Tool(
        "upsert_contact",
        "Create a contact, or update the one with this email. Returns the contact with its id, tags and lists. Fails with duplicate/invalid email, invalid_phone or suppressed (the person was erased or unsubscribed for good).",
        "contacts:write",
        UpsertContactInput,
        upsert_contact,
    ),
    Tool(
        "get_contact",
        "Get one contact by id: name, email, phone, consent, custom fields, metadata, tags and list ids.",
        "contacts:read",
        ContactIdInput,
        get_contact_tool,
    ),
    Tool(
        "search_contacts",
        "Find contacts by the start of a name, email or phone, or by exact email, tag or list. Newest changes first; pass next_cursor to page on.",
        "contacts:read",
        SearchContactsInput,
        search_contacts_tool,
    ),
    Tool(
        "tag_contact",
        "Add a tag to a contact (the tag is created if new). Adding a tag it already has is not an error.",
        "contacts:write",
        TagInput,
        tag_contact,
    ),
    Tool(
        "untag_contact", "Remove a tag from a contact.", "contacts:write", TagInput, untag_contact
    ),
    Tool(
        "add_to_list",
        "Add a contact to a list. Fails with list_full when the list has reached its limit.",
        "contacts:write",
        ListInput,
        add_to_list,
    ),
    Tool(
        "remove_from_list",
        "Remove a contact from a list.",
        "contacts:write",
        ListInput,
        remove_from_list,
    ),
    Tool(
        "list_segments",
        "List the saved segments (audiences defined by rules) with their ids and rules.",
        "contacts:read",
        NoInput,
        list_segments,
    ),
    Tool(
        "segment_contacts",
        "The contacts matching a segment right now, newest change first; pass next_cursor to page on.",
        "contacts:read",
        SegmentInput,
        segment_contacts,
    ),
    Tool(
        "import_status",
        "Progress of a CSV import this agent started: status and the counts imported, updated, skipped and invalid.",
        "imports:write",
        ImportInput,
        import_status,
    ),
    Tool(
        "send_sms",
        "Send one SMS to a number or a contact. Answers the message id, status (queued, scheduled, or pending_approval when staff must approve it first), segments and price. Refused when the number opted out (suppressed), the contact unsubscribed or gave no consent for marketing, or credits or the agent's budget run out. dry_run prices it without sending.",
        "sms:send",
        SendSmsInput,
        send_sms,
    ),
    Tool(
        "sms_status",
        "The delivery status of a message this agent sent: queued, scheduled, sending, sent, delivered, failed or undelivered.",
        "sms:send",
        MessageInput,
        sms_status,
    ),
    Tool(
        "credit_balance",
        "The SMS credit balance, and this agent's monthly budget and spend.",
        "sms:send",
        NoInput,
        credit_balance,
    ),
    Tool(
        "start_verification",
        "Text a one-time code to a phone number to verify it belongs to the person. Codes expire after a few minutes; asking again within 30 s is refused.",
        "sms:send",
        PhoneInput,
        start_verification,
    ),
    Tool(
        "check_verification",
        "Check the code the person received: answers verified true or false. A few wrong tries use up the code.",
        "sms:send",
        CheckInput,
        check_verification,
    ),
    Tool(
        "approval_status",
        "What came of a request answered pending_approval: pending; executed (result holds what it answered, a text's message id for sms_status) or failed once staff approved it; rejected (decision_note says why); expired; or withdrawn.",
        None,
        ApprovalInput,
        approval_status_tool,
    ),
    Tool(
        "lookup_phone",
        "What a phone number is: country, type (mobile, fixed line…), time zones and carrier. Fails with invalid_phone.",
        "contacts:read",
        LookupInput,
        lookup_phone,
    ),
):
    register(_tool)


def _allowed(agent: Agent, tool: Tool) -> bool:
    return tool.scope is None or agent.has_scope(tool.scope)


def tools_for(agent: Agent) -> list[Tool]:
    return [tool for tool in TOOLS.values() if _allowed(agent, tool)]


def anthropic_schemas(agent: Agent) -> list[dict[str, Any]]:
    return [
        {"name": t.name, "description": t.description, "input_schema": t.input_schema()}
        for t in tools_for(agent)
    ]


def openai_schemas(agent: Agent) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": t.input_schema(),
            },
        }
        for t in tools_for(agent)
    ]


def call(
    agent: Agent, name: str, arguments: dict[str, Any], *, idempotency_key: str | None = None
) -> Outcome:
    """Validate the arguments against the tool's schema and run it. ``idempotency_key`` (an
    HTTP caller's Idempotency-Key header) stands for the tool's own ``idempotency_key``
    argument; a tool without one is safe to retry as it is, or reads."""
    from pydantic import ValidationError

    tool = TOOLS.get(name)
    if tool is None or not _allowed(agent, tool):
        if tool is None:
            return Outcome(
                404, {"code": "unknown_tool", "message": f"There is no tool named {name}."}
            )
        return Outcome(
            403,
            {
                "code": "missing_scope",
                "message": f"This agent lacks the “{tool.scope}” scope needed for {name}.",
            },
        )
    # What the JSON API refuses at its door (NUL, lone surrogates, NaN) would reach the
    # database from here: refuse it with the argument's path.
    if problem := unstorable(arguments):
        return Outcome(400, {"code": "invalid_arguments", "message": problem})
    arguments = dict(arguments or {})
    if idempotency_key is not None and "idempotency_key" in tool.input.model_fields:
        if arguments.get("idempotency_key") not in (None, idempotency_key):
            return Outcome(
                400,
                {"code": "invalid_arguments",
                 "message": "idempotency_key: differs from the Idempotency-Key header; "
                 "send the key one way only."},
            )  # fmt: skip
        arguments["idempotency_key"] = idempotency_key
    try:
        args = tool.input.model_validate(arguments)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        message = (
            f"not an argument of {name}; check its name in the tool's input schema"
            if first["type"] == "extra_forbidden"
            else first["msg"]
        )
        return Outcome(
            400,
            {"code": "invalid_arguments", "message": f"{path}: {message}" if path else message},
        )
    return tool.run(agent, args)
