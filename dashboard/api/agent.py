"""Credentials, the calling agent's own profile and its approval requests."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote_plus

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Body, Form, Header, Path, Router, Schema
from pydantic import Field

from dashboard.agents.pipeline import approval_status, requests_this_month
from dashboard.agents.services import active_prompt, issue_token
from dashboard.api.core import ERRORS, agent_of, check_request, respond
from dashboard.api.schemas import AgentOut, ApprovalOut, ErrorOut, Id, TokenOut
from dashboard.errors import SwitchboardError
from dashboard.mcp import tools
from dashboard.mcp.tools import anthropic_schemas, openai_schemas

router = Router(tags=["agent"])


class TokenForm(Schema):
    grant_type: str = Field(description="Always client_credentials.", max_length=50)
    # Optional here: most OAuth 2 libraries send them in an Authorization: Basic header instead.
    client_id: str | None = Field(
        None, max_length=100, description="Unless sent with HTTP Basic authentication."
    )
    client_secret: str | None = Field(
        None, max_length=200, description="Unless sent with HTTP Basic authentication."
    )


class BadCredentials(Exception):
    """The client's credentials cannot be read: the message says how to send them."""


def _oauth_error(status: int, error: str, description: str, code: str = "") -> JsonResponse:
    # OAuth 2 clients read error/error_description; code/message match the rest of the API.
    return JsonResponse(
        {
            "error": error,
            "error_description": description,
            "code": code or error,
            "message": description,
        },
        status=status,
    )


def _basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    """(client_id, client_secret) from an ``Authorization: Basic`` header (RFC 6749 §2.3.1:
    each part form-urlencoded, then joined by a colon and base64-encoded), or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.strip().partition(" ")
    if not header or scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    client_id, colon, client_secret = (unquote_plus(part) for part in decoded.partition(":"))
    # NUL cannot reach the database (PostgreSQL refuses it in text), like anywhere in a request.
    if not colon or not client_id or "\x00" in client_id + client_secret:
        raise BadCredentials(
            "The Authorization: Basic header is malformed: send "
            "base64(client_id:client_secret), each part form-urlencoded first."
        )
    return client_id, client_secret


def _client_credentials(request: HttpRequest, form: TokenForm) -> tuple[str, str, bool]:
    """(client_id, client_secret, sent with Basic) from the Basic header or the form body."""
    basic = _basic_credentials(request)
    if basic is None:
        if not form.client_id or form.client_secret is None:
            raise BadCredentials(
                "Send client_id and client_secret, either as form fields or in an "
                "Authorization: Basic header."
            )
        return form.client_id, form.client_secret, False
    # The same credentials twice are harmless; different ones leave no way to tell which
    # the client meant.
    for name, sent in zip(("client_id", "client_secret"), basic, strict=True):
        field = getattr(form, name)
        if field is not None and field != sent:
            raise BadCredentials(
                f"The form's {name} differs from the one in the Authorization: Basic header; "
                "send the credentials one way only."
            )
    return *basic, True


class PingOut(Schema):
    pong: bool


@router.get("/ping", auth=None, response={200: PingOut}, summary="Is the API up?")
def ping(request: HttpRequest) -> Any:
    """Answers without a token or a database query: for connectivity checks."""
    return {"pong": True}


@router.post(
    "/token",
    auth=None,
    response={200: TokenOut, 400: ErrorOut, 401: ErrorOut},
    summary="Exchange client credentials for a bearer token",
    openapi_extra={
        "responses": {
            "400": {"description": "grant_type is not client_credentials "
                    "(`unsupported_grant_type`), or a field is missing, the body is not "
                    "form-encoded, the Basic header is malformed or disagrees with the form "
                    "(`invalid_request`)."},
            "401": {"description": "Unknown client id or wrong secret (`invalid_client`), or "
                    "the agent was switched off (`agent_switched_off`; `error` is still "
                    "`invalid_client`): ask a Switchboard admin.",
                    "headers": {"WWW-Authenticate": {"schema": {"type": "string"},
                                "description": "`Basic` when the credentials came in an "
                                "Authorization: Basic header; absent otherwise."}}},
        }
    },
)  # fmt: skip
def token(request: HttpRequest, form: Form[TokenForm]) -> Any:
    """OAuth 2 client credentials grant, form-encoded. Send `client_id` and `client_secret`
    either as form fields (`client_secret_post`) or as HTTP Basic authentication
    (`client_secret_basic`: `Authorization: Basic base64(client_id:client_secret)`, each part
    form-urlencoded first), not both ways with different values. Send the token as
    `Authorization: Bearer <access_token>`; get a new one when it expires."""
    check_request(request)
    try:
        client_id, client_secret, basic = _client_credentials(request, form)
    except BadCredentials as exc:
        return _oauth_error(400, "invalid_request", str(exc))
    if form.grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "Use grant_type=client_credentials.")
    try:
        access_token, expires_in = issue_token(client_id=client_id, client_secret=client_secret)
    except SwitchboardError as exc:
        response = _oauth_error(401, "invalid_client", exc.message, exc.code)
        if basic:  # RFC 6749 §5.2: answer in the scheme the client authenticated with
            response["WWW-Authenticate"] = 'Basic realm="Switchboard"'
        return response
    response = JsonResponse(
        {"access_token": access_token, "token_type": "bearer", "expires_in": expires_in}
    )
    response["Cache-Control"] = "no-store"
    return response


@router.get("/agent", response={200: AgentOut, **ERRORS}, summary="Who am I, and my tools")
def me(request: HttpRequest) -> Any:
    """The calling agent's mode, scopes, limits, active system prompt and ready-made tool
    definitions for its scopes, in Anthropic (`input_schema`) and OpenAI (`function`) formats;
    run the model's tool calls at `POST /api/v1/tools/{name}`."""
    agent = agent_of(request, None)  # any agent may ask; counts against its limits
    prompt = active_prompt(agent)
    return {
        "name": agent.name,
        "mode": agent.mode,
        "scopes": agent.scopes,
        "rate_limit_per_minute": agent.rate_limit_per_minute,
        "monthly_request_cap": agent.monthly_request_cap,
        "requests_this_month": requests_this_month(agent),
        "system_prompt": prompt.text if prompt else None,
        "prompt_version": prompt.number if prompt else None,
        "tools_anthropic": anthropic_schemas(agent),
        "tools_openai": openai_schemas(agent),
    }


@router.get(
    "/approvals/{approval_id}",
    response={200: ApprovalOut, **ERRORS},
    summary="Poll an approval request",
)
def approval(request: HttpRequest, approval_id: Path[Id]) -> HttpResponse:
    """A gated action's state: pending; executed (with its result) or failed once approved;
    rejected by staff; expired; or withdrawn (the person it was about was erased)."""
    return JsonResponse(approval_status(agent_of(request, None), approval_id))


@router.post(
    "/tools/{name}",
    response={200: dict[str, Any], 201: dict[str, Any], 202: dict[str, Any], **ERRORS},
    summary="Run one of the agent's tools",
)
def run_tool(
    request: HttpRequest,
    name: str,
    arguments: Body[dict[str, Any]] = None,  # type: ignore[assignment]
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        max_length=200,
        description="For the tools that take `idempotency_key` (upsert_contact, send_sms, "
        "start_verification, check_verification): the same as that argument. Other tools are "
        "reads or safe to retry as they are.",
    ),
) -> HttpResponse:
    """Run a tool call from `tools_anthropic` / `tools_openai` as the model made it: the tool's
    name in the path, its input as the JSON body. Answers what the MCP tool answers, with the
    same checks (scope, limits, oversight mode); a wrong argument is 400 `invalid_arguments`."""
    agent = request.agent  # type: ignore[attr-defined]
    return respond(tools.call(agent, name, arguments or {}, idempotency_key=idempotency_key))
