"""The NinjaAPI instance, bearer authentication and the error shapes every endpoint shares."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.request import RawPostDataException
from django.template.defaultfilters import filesizeformat
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer

from dashboard import jsonvalues
from dashboard.agents.models import Agent
from dashboard.agents.pipeline import Outcome, admit, status_for
from dashboard.agents.services import authenticate
from dashboard.api.schemas import ErrorOut
from dashboard.errors import SwitchboardError
from dashboard.jsonvalues import UnsupportedJson


class Refused(Exception):
    """Stop a request with a ready answer (scope, limits, a malformed cursor)."""

    def __init__(self, outcome: Outcome):
        self.outcome = outcome


def _has_nul(request: HttpRequest) -> bool:
    # PostgreSQL cannot store NUL in text or jsonb: refuse it up front as a malformed request.
    if "\x00" in request.path or any("\x00" in k + v for k, v in request.GET.items()):
        return True
    # Headers too: an Idempotency-Key is stored with the action it keys.
    if any("\x00" in str(v) for k, v in request.META.items() if k.startswith("HTTP_")):
        return True
    # JSON bodies are checked once decoded, where they are parsed (StrictJsonParser). Forms and
    # uploads: their parsed fields (file contents are the importer's business).
    if request.method != "POST" or request.content_type not in FORMS:
        return False
    length = str(request.META.get("CONTENT_LENGTH") or "0")
    if length.isdecimal() and int(length) <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        # Read the body before the form: parsing the form from the stream would leave a JSON
        # endpoint sent a form unable to read its body (a 500, not the 400 it deserves).
        with contextlib.suppress(RawPostDataException):  # a form endpoint already read it
            request.body  # noqa: B018
    return any("\x00" in k + v for k, v in request.POST.items())


FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


def unstorable(value: Any, path: str = "") -> str | None:
    """A 400's message for what in a decoded JSON value no database can hold, or None. Both
    the API and the MCP tools check their input with it."""
    if problem := jsonvalues.unstorable(value, path):
        where, what = problem
        return f"{where}: {what} cannot be stored"
    return None


class StrictJsonParser(Parser):
    """JSON bodies as JSON defines them and a database can store: no NaN, Infinity or numbers
    beyond a float (SQLite's json_valid and PostgreSQL's jsonb refuse them), no unpaired
    surrogates (not UTF-8)."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        if request.content_type in FORMS:
            raise UnsupportedJson(
                "this endpoint takes a JSON body; send it with Content-Type: application/json"
            )
        data = jsonvalues.loads(request.body)
        if problem := unstorable(data, "body"):
            raise UnsupportedJson(problem)
        return data


class AgentBearer(HttpBearer):
    def __call__(self, request: HttpRequest) -> Agent | None:
        check_request(request)
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str) -> Agent | None:
        if (agent := getattr(request, "agent", None)) is not None:
            return agent  # bearer_agent already checked this request's token
        agent = authenticate(token.strip())
        if agent is not None:
            request.agent = agent  # type: ignore[attr-defined]
        return agent


def bearer_agent(request: HttpRequest) -> Agent | None:
    """The agent whose bearer token the request carries, from its headers alone (the body is
    left unread), or None."""
    return HttpBearer.__call__(_bearer, request)


_bearer = AgentBearer()

# What each shared error means for the caller and what to do about it: without these the
# document says only "Too Many Requests" and never mentions Retry-After.
ERROR_RESPONSES: dict[str, dict[str, Any]] = {
    "400": {"description": "Malformed request: `message` names the first bad field, `errors` "
            "lists them all. Fix the request; retrying it unchanged fails again."},
    "401": {"description": "Missing, expired or revoked bearer token: get a new one at "
            "POST /api/v1/token and retry.",
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"},
                        "description": "Always `Bearer`."}}},
    "403": {"description": "The agent lacks the scope this call needs (`missing_scope`); "
            "an admin can grant it on the agent's page."},
    "404": {"description": "No such resource, or not one this agent may see (`unknown_…`)."},
    "406": {"description": "A business rule refused the request (`code` says which, e.g. "
            "`duplicate_email`, `suppressed`); `message` says what to change."},
    "429": {"description": "Over the agent's rate limit (`rate_limited`) or monthly request "
            "cap (`monthly_cap_reached`): wait the seconds in Retry-After, then retry. The "
            "refused request was not counted and did nothing.",
            "headers": {"Retry-After": {"schema": {"type": "integer"},
                        "description": "Seconds until the request may be retried."}}},
}  # fmt: skip


class SwitchboardAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(**kwargs)
        for operation in (op for ops in schema["paths"].values() for op in ops.values()):
            responses = operation.get("responses", {})
            # An operation's openapi_extra responses come keyed "401" beside Ninja's 401: merge
            # them, or the JSON document would hold the key twice and lose the schema.
            for status in [key for key in responses if isinstance(key, int)]:
                responses[status].update(responses.pop(str(status), {}))
            if not operation.get("security"):
                continue  # /token and /ping answer their own errors, documented where they are
            for status, response in responses.items():
                response.update(ERROR_RESPONSES.get(str(status), {}))
        return schema


api = SwitchboardAPI(
    title="Switchboard agent API",
    version="1",
    description=(
        "Contacts and SMS for AI agents. Exchange client credentials at POST /token for a bearer "
        "token. Business-rule errors answer 406 with {code, message}; schema errors 400."
    ),
    urls_namespace="api",
    auth=_bearer,
    parser=StrictJsonParser(),
)


def respond(outcome: Outcome) -> HttpResponse:
    response = JsonResponse(outcome.body, status=outcome.status)
    for name, value in outcome.headers.items():
        response[name] = value
    return response


def error(status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, **extra}, status=status)


def agent_of(request: HttpRequest, scope: str | None) -> Agent:
    """The calling agent, once its scope and limits let this read through."""
    agent: Agent = request.agent  # type: ignore[attr-defined]
    if refused := admit(agent, scope):
        raise Refused(refused)
    return agent


def check_request(request: HttpRequest) -> None:
    if _has_nul(request):
        raise HttpError(400, "NUL characters are not allowed in requests.")


# Every operation can answer these; documenting them keeps the OpenAPI document truthful.
ERRORS: dict[int, Any] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    406: ErrorOut,
    429: ErrorOut,
}


@api.exception_handler(SwitchboardError)
def business_error(request: HttpRequest, exc: SwitchboardError) -> HttpResponse:
    return JsonResponse(exc.as_dict(), status=status_for(exc))


@api.exception_handler(Refused)
def refused(request: HttpRequest, exc: Refused) -> HttpResponse:
    return respond(exc.outcome)


UNKNOWN_FIELD = "not a field of this request; check its name in /api/v1/openapi.json"


def _location(loc: tuple[Any, ...] | list[Any]) -> list[Any]:
    """("body", "body", "email") -> ["body", "email"]: drop Ninja's parameter name."""
    loc = list(loc)
    if len(loc) > 2 and loc[0] in ("body", "form", "query"):
        return [loc[0], *loc[2:]]
    if len(loc) == 2 and loc[0] == "body":  # the body as a whole: missing, or not an object
        return ["body"]
    return loc


def _schema_message(e: dict[str, Any]) -> str:
    if e.get("type") == "extra_forbidden":
        return UNKNOWN_FIELD
    if e.get("type") == "missing" and _location(e.get("loc", ())) == ["body"]:
        return "this endpoint takes a JSON body; none was sent"
    return e.get("msg", "invalid")


@api.exception_handler(ValidationError)
def schema_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {
            "path": ".".join(str(part) for part in _location(e.get("loc", ()))),
            "message": _schema_message(e),
        }
        for e in exc.errors
    ]
    first = errors[0] if errors else {"path": "", "message": "invalid request"}
    message = f"{first['path']}: {first['message']}" if first["path"] else first["message"]
    match = request.resolver_match
    if match and match.view_name == "api:token":
        if request.content_type not in FORMS:
            # A JSON body leaves every form field "missing", which sends people hunting for
            # typos in field names they spelled right.
            message = (
                "POST /api/v1/token takes a form-encoded body (Content-Type: "
                "application/x-www-form-urlencoded) with grant_type=client_credentials, and "
                "client_id and client_secret either in the form or in an HTTP Basic "
                "Authorization header, as OAuth 2 requires; this request sent "
                f"{request.content_type or 'no Content-Type'}."
            )
        # OAuth 2 clients read error / error_description, as on the token endpoint's other errors.
        return error(
            400, "invalid_request", message, errors=errors,
            error="invalid_request", error_description=message,
        )  # fmt: skip
    return error(400, "invalid_request", message, errors=errors)


@api.exception_handler(RequestDataTooBig)
def too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    # Django's own answer is an HTML "Bad Request" page: no code, no limit, no advice.
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error(
        413,
        "request_too_large",
        f"The request body is larger than the {filesizeformat(limit)} the API accepts; send "
        "fewer items per request (split a batch in two).",
        max_bytes=limit,
    )


@api.exception_handler(TooManyFieldsSent)
def too_many_fields(request: HttpRequest, exc: TooManyFieldsSent) -> HttpResponse:
    return error(
        400,
        "invalid_request",
        f"The form has more than the {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields the API "
        "accepts.",
    )


@api.exception_handler(AuthenticationError)
def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = error(
        401,
        "invalid_token",
        "Missing, expired or revoked bearer token; get a new one at POST /api/v1/token.",
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}
    message = str(exc)
    if isinstance(exc.__cause__, UnsupportedJson):  # Ninja's "Cannot parse request body"
        message = f"{message}: {exc.__cause__}"
    return error(exc.status_code, code.get(exc.status_code, "error"), message)


def json_method_not_allowed(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Ninja answers a method a path does not take with a plain-text 405: answer it in the
    API's JSON error shape, naming the methods the path takes (Allow stays)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code != 405 or response.get("Content-Type", "").startswith(
            "application/json"
        ):
            return response
        allowed = ", ".join(sorted(m.strip() for m in response.get("Allow", "").split(",")))
        answer = error(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed on {request.path}; it takes {allowed}.",
        )
        answer["Allow"] = allowed
        return answer

    return wrapper


def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any path under /api/v1/ that names no endpoint: the API's JSON 404, not a web page."""
    if not rest:  # the root itself (the catch-all below it always has a rest)
        return error(
            404,
            "not_found",
            f"The API has no endpoint at its root {request.path}; its endpoints are listed in "
            f"{request.path}openapi.json and documented, with a console to try them, at "
            f"{request.path}docs.",
        )
    hint = " (the API's paths end without a slash)" if request.path.endswith("/") else ""
    return error(
        404,
        "not_found",
        f"There is no API endpoint at {request.path}{hint}; the endpoints are listed in "
        "/api/v1/openapi.json.",
    )
