"""Credentials, the calling agent's own profile and its approval requests."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Body, Form, Path, Router, Schema
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
    client_id: str = Field(max_length=100)
    client_secret: str = Field(max_length=200)


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
                    "(`unsupported_grant_type`), or a field is missing or the body is not "
                    "form-encoded (`invalid_request`)."},
            "401": {"description": "Unknown client id or wrong secret (`invalid_client`), or "
                    "the agent was switched off (`agent_switched_off`; `error` is still "
                    "`invalid_client`): ask a Switchboard admin."},
        }
    },
)  # fmt: skip
def token(request: HttpRequest, form: Form[TokenForm]) -> Any:
    """OAuth 2 client credentials grant, form-encoded. Send the token as
    `Authorization: Bearer <access_token>`; get a new one when it expires."""
    check_request(request)
    if form.grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "Use grant_type=client_credentials.")
    try:
        access_token, expires_in = issue_token(
            client_id=form.client_id, client_secret=form.client_secret
        )
    except SwitchboardError as exc:
        return _oauth_error(401, "invalid_client", exc.message, exc.code)
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
    """A gated action's state: pending, executed (with its result), rejected or expired."""
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
) -> HttpResponse:
    """Run a tool call from `tools_anthropic` / `tools_openai` as the model made it: the tool's
    name in the path, its input as the JSON body. Answers what the MCP tool answers, with the
    same checks (scope, limits, oversight mode); a wrong argument is 400 `invalid_arguments`."""
    return respond(tools.call(request.agent, name, arguments or {}))  # type: ignore[attr-defined]
