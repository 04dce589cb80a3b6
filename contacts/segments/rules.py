"""The segment rule language: JSON rules compiled to one database query.

A rule is a group or a condition. Groups combine their children with ``all`` (AND) or ``any``
(OR) and nest up to ``MAX_DEPTH`` levels::

    {"all": [
        {"field": "tag", "op": "has", "value": 3},
        {"field": "phone_country", "op": "equals", "value": "GB"},
        {"any": [
            {"field": "custom:lead_score", "op": "gt", "value": 50},
            {"field": "metadata.plan.tier", "op": "equals", "value": "gold"}
        ]},
        {"field": "last_contacted", "op": "not_in_last_days", "value": 30},
        {"field": "event", "op": "happened", "value": {
            "name": "email_opened", "params": [{"key": "campaign", "op": "equals", "value": "Spring Sale"}],
            "min_count": 1, "in_last_days": 14}}
    ]}

Conditions are ``{"field": ..., "op": ..., "value": ...}``:

- ``email``: equals, contains, starts_with, ends_with (case-insensitive).
- ``email_domain``: equals, not_equals (``"example.com"``).
- ``phone_country``: equals, not_equals, in (list of ISO codes), empty, not_empty.
- ``phone``: empty, not_empty.
- ``first_name`` / ``last_name``: equals, starts_with, contains, empty, not_empty (accent- and
  case-insensitive, like search).
- ``email_consent`` / ``sms_consent``: equals (unknown, granted, withdrawn).
- ``unsubscribed``: is (true/false).
- ``created_at`` / ``updated_at`` / ``last_contacted``: before, after (``"YYYY-MM-DD"``; before
  is earlier than that day, after is later than that day), in_last_days, not_in_last_days (a
  whole number of days; "not in the last 30 days" includes never); ``last_contacted`` also
  never / ever.
- ``custom:<field name or id>`` by the field's type: text equals, contains, starts_with (all
  case-insensitive), empty, not_empty; number eq, ne, gt, gte, lt, lte, empty, not_empty; date
  on, before, after, in_last_days, not_in_last_days, empty, not_empty; boolean is, empty,
  not_empty. ``ne`` and the comparisons only match contacts that have a value.
- ``metadata.<dot.path>``: equals, not_equals (a string, number or boolean), gt, gte, lt, lte
  (numbers; only numeric values match), exists, not_exists.
- ``tag``: has, has_not (tag id or name). ``list``: in, not_in (list id).
- ``interactions``: eq, gte, gt, lte, lt on the number of history entries; the value is a
  number or ``{"count": N, "kind": "sms_sent", "in_last_days": 30}``.
- ``event``: happened, not_happened; the value is ``{"name", "params": [{"key", "op",
  "value"}], "min_count": 1, "in_last_days": N}`` (params use the metadata operators).
  "happened" means at least ``min_count`` matching events in the window.

Anything else (unknown field or operator, wrong value type, a deleted custom field, tag or
list, a malformed date, nesting deeper than ``MAX_DEPTH``) raises
``SwitchboardError("invalid_segment_rule", ..., path=...)`` naming the bad part, where ``path``
is like ``all[2].any[0]``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    Expression,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Lower
from django.db.models.lookups import (
    Contains,
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    StartsWith,
)
from django.utils import timezone

from contacts.models import (
    Consent,
    ContactList,
    ContactTag,
    Field,
    FieldType,
    FieldValue,
    Interaction,
    InteractionKind,
    ListMembership,
    Tag,
)
from contacts.services.normalise import canonical_domain, email_key, search_key
from contacts.services.tags import find_tag
from dashboard.errors import SwitchboardError

MAX_DEPTH = 5
MAX_CONDITIONS = 100
MAX_DAYS = 36500
NUMBER_LIMIT = decimal.Decimal("1e14")
KEY_PART = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
DATE_FORMAT = "YYYY-MM-DD"

COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte")
_COMPARE: dict[str, type] = {
    "eq": Exact,
    "gt": GreaterThan,
    "gte": GreaterThanOrEqual,
    "lt": LessThan,
    "lte": LessThanOrEqual,
}


def invalid(path: str, message: str) -> SwitchboardError:
    return SwitchboardError(
        "invalid_segment_rule", f"{path or 'rules'}: {message}", field="rules", path=path
    )


# --- Value checks -----------------------------------------------------------------------------


def _number(path: str, value: Any) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | decimal.Decimal):
        raise invalid(path, f"expects a number; got {value!r}.")
    try:
        number = decimal.Decimal(str(value).strip())
    except decimal.InvalidOperation:
        raise invalid(path, f"expects a number; got {value!r}.") from None
    # Custom number fields hold values below 10^14; larger bounds would only overflow columns.
    if not number.is_finite() or abs(number) >= NUMBER_LIMIT:
        raise invalid(path, f"expects a finite number below 10^14; got {value!r}.")
    return number


def _whole(path: str, value: Any, *, low: int = 0, high: int = MAX_DAYS) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid(path, f"expects a whole number; got {value!r}.")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise invalid(path, f"expects a whole number; got {value!r}.") from None
    if not low <= number <= high:
        raise invalid(path, f"expects a whole number from {low} to {high}; got {number}.")
    return number


def _text(path: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise invalid(path, f"expects text; got {value!r}.")
    if len(value) > 2000:
        raise invalid(path, "text is limited to 2000 characters.")
    if "\x00" in value:  # neither a query parameter nor the saved rules (jsonb) can hold it
        raise invalid(path, "text cannot hold NUL characters.")
    return value.strip()


def _bool(path: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise invalid(path, f"expects true or false; got {value!r}.")


def _date(path: str, value: Any) -> dt.date:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise invalid(path, f"expects a date as {DATE_FORMAT}; got {value!r}.")


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def days_ago(days: int, now: dt.datetime | None = None) -> dt.datetime:
    return (now or timezone.now()) - dt.timedelta(days=days)


# --- JSON helpers that behave the same on SQLite and PostgreSQL ---------------------------------


def _sqlite_path(keys: list[str]) -> str:
    # Each part quoted: an object's key, also when it is digits ("2024"), never an array index.
    return "$" + "".join(f'."{key}"' for key in keys)


def _pg_node(column: str, keys: list[str]) -> str:
    # "->" with a text key reads an object's key and is NULL on an array, as on SQLite;
    # "#>" would read "items.0" as the first element of an array, so the databases disagreed.
    for _ in keys:
        column = f"({column} -> %s::text)"
    return column


class JSONType(Func):
    """The JSON type at a key path, the same on SQLite and PostgreSQL.

    One of "number", "string", "true", "false", "null", "object", "array", or "" when the key
    is absent. Comparisons need it: the two databases order and coerce mixed JSON types
    differently, so each comparison first requires the type it is about.
    """

    output_field = CharField()

    def __init__(self, column: str, keys: list[str]) -> None:
        super().__init__(F(column))
        self.keys = keys

    def as_sqlite(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        path = _sqlite_path(self.keys)
        sql = (
            f"COALESCE(CASE json_type({column}, %s) WHEN 'integer' THEN 'number' "
            f"WHEN 'real' THEN 'number' WHEN 'text' THEN 'string' "
            f"ELSE json_type({column}, %s) END, '')"
        )
        return sql, (*params, path, *params, path)

    def as_postgresql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        node = _pg_node(column, self.keys)
        node_params = (*params, *self.keys)
        sql = (
            f"COALESCE(CASE jsonb_typeof({node}) WHEN 'boolean' "
            f"THEN {node} #>> '{{}}' ELSE jsonb_typeof({node}) END, '')"
        )
        return sql, node_params * 3

    def as_sql(self, compiler, connection, **extra):
        raise NotImplementedError(f"JSON rules are not supported on {connection.vendor}")


class JSONText(Func):
    """The text of the JSON scalar at a key path, read the way ``JSONType`` reads the path
    (object keys only), so a type test and the value it guards look at the same place."""

    output_field = CharField()

    def __init__(self, column: str, keys: list[str]) -> None:
        super().__init__(F(column))
        self.keys = keys

    def as_sqlite(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        return f"json_extract({column}, %s)", (*params, _sqlite_path(self.keys))

    def as_postgresql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        parent = _pg_node(column, self.keys[:-1])
        return f"({parent} ->> %s::text)", (*params, *self.keys)

    def as_sql(self, compiler, connection, **extra):
        raise NotImplementedError(f"JSON rules are not supported on {connection.vendor}")


def _json_number(column: str, keys: list[str], json_type: JSONType) -> Case:
    # Cast only where the value is a number: PostgreSQL would fail casting "high" to a float.
    return Case(
        When(Q(Exact(json_type, "number")), then=Cast(JSONText(column, keys), FloatField())),
        default=None,
        output_field=FloatField(),
    )


def _json_scalar(path: str, value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        # 1e400 from the builder: no database stores it in the saved rules, nothing equals it.
        raise invalid(path, f"expects a finite number; got {value!r}.")
    if isinstance(value, str) and "\x00" in value:
        raise invalid(path, "text cannot hold NUL characters.")
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            float(value)  # the comparison is between floats: 10**400 has none
        except OverflowError:
            raise invalid(path, f"expects a finite number; got {value!r}.") from None
    if isinstance(value, bool | str | int | float):
        return value
    raise invalid(path, f"expects a string, number or true/false; got {value!r}.")


def json_condition(column: str, keys: list[str], op: str, value: Any, path: str) -> Q:
    """A condition on the JSON value at ``column`` -> keys (metadata, event params)."""
    json_type = JSONType(column, keys)
    match op:
        case "exists":
            return ~Q(Exact(json_type, ""))
        case "not_exists":
            return Q(Exact(json_type, ""))
        case "equals" | "not_equals":
            scalar = _json_scalar(path + ".value", value)
            if isinstance(scalar, bool):
                found = Q(Exact(json_type, "true" if scalar else "false"))
            elif isinstance(scalar, int | float):
                # 5 equals 5.0 whichever way it was stored; a number never equals a string.
                number = _json_number(column, keys, json_type)
                found = Q(Exact(json_type, "number")) & Q(Exact(number, float(scalar)))
            else:
                found = Q(Exact(json_type, "string")) & Q(Exact(JSONText(column, keys), scalar))
            # Each branch tests the (never NULL) type first, so negating keeps absent keys.
            return found if op == "equals" else ~found
        case "gt" | "gte" | "lt" | "lte":
            number = float(_number(path + ".value", value))
            return Q(_COMPARE[op](_json_number(column, keys, json_type), number))
    raise invalid(
        path + ".op",
        f"unknown operator “{op}”; use equals, not_equals, gt, gte, lt, lte, exists or not_exists.",
    )


def _json_keys(path: str, dotted: str) -> list[str]:
    keys = dotted.split(".")
    for key in keys:
        if not KEY_PART.match(key):
            raise invalid(
                path + ".field",
                f"“{dotted}” is not a metadata key path (letters, digits, _ and -, joined by dots).",
            )
    return keys


# --- Conditions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    now: dt.datetime


def _ops_error(path: str, field: str, op: Any, ops: tuple[str, ...]) -> SwitchboardError:
    return invalid(path + ".op", f"“{op}” is not an operator for {field}; use {', '.join(ops)}.")


def _date_column(column: str, op: str, value: Any, path: str, ctx: Context, *, nullable: bool) -> Q:
    ops = ("before", "after", "in_last_days", "not_in_last_days")
    match op:
        case "before":
            day = _date(path + ".value", value)
            if day == dt.date.min:  # nothing is before the first day; east of UTC its start
                return Q(pk__in=[])  # is in the year 0, which SQLite's adapter overflows on
            return Q(**{f"{column}__lt": _day_start(day)})
        case "after":
            day = _date(path + ".value", value)
            if day == dt.date.max:  # nothing is after the last day there is (no day after it)
                return Q(pk__in=[])
            return Q(**{f"{column}__gte": _day_start(day + dt.timedelta(days=1))})
        case "in_last_days":
            return Q(**{f"{column}__gte": days_ago(_whole(path + ".value", value), ctx.now)})
        case "not_in_last_days":
            cutoff = days_ago(_whole(path + ".value", value), ctx.now)
            older = Q(**{f"{column}__lt": cutoff})
            return older | Q(**{f"{column}__isnull": True}) if nullable else older
    raise _ops_error(path, column, op, ops)


def _name(column: str, op: str, value: Any, path: str) -> Q:
    match op:
        case "empty":
            return Q(**{column: ""})
        case "not_empty":
            return ~Q(**{column: ""})
        case "equals":
            return Q(**{column: search_key(_text(path + ".value", value))})
        case "starts_with":
            return Q(**{f"{column}__startswith": search_key(_text(path + ".value", value))})
        case "contains":
            return Q(**{f"{column}__contains": search_key(_text(path + ".value", value))})
    raise _ops_error(path, column, op, ("equals", "starts_with", "contains", "empty", "not_empty"))


def _email(op: str, value: Any, path: str) -> Q:
    # Addresses are stored with the domain in its one spelling (canonical_domain): an address
    # typed with a decomposed accent or full-width letters is the same mailbox.
    match op:
        case "equals":
            return Q(email=email_key(_text(path + ".value", value)))
        case "contains" | "starts_with" | "ends_with":
            lookup = {"contains": "contains", "starts_with": "startswith", "ends_with": "endswith"}
            part = unicodedata.normalize("NFC", _text(path + ".value", value).lower())
            return Q(**{f"email__{lookup[op]}": part})
    raise _ops_error(path, "email", op, ("equals", "contains", "starts_with", "ends_with"))


def _email_domain(op: str, value: Any, path: str) -> Q:
    domain = _text(path + ".value", value).lower().lstrip("@")
    with contextlib.suppress(ValueError, UnicodeError):  # else no address has it: as typed
        domain = canonical_domain(domain)
    match op:
        case "equals":
            return Q(email__endswith="@" + domain)
        case "not_equals":
            return ~Q(email__endswith="@" + domain)
    raise _ops_error(path, "email_domain", op, ("equals", "not_equals"))


def _country(path: str, value: Any) -> str:
    code = _text(path, value).upper()
    if not re.fullmatch(r"[A-Z]{2}", code):
        raise invalid(path, f"expects a two-letter country code like GB; got {value!r}.")
    return code


def _phone_country(op: str, value: Any, path: str) -> Q:
    match op:
        case "equals":
            return Q(phone_country=_country(path + ".value", value))
        case "not_equals":
            return ~Q(phone_country=_country(path + ".value", value))
        case "in":
            if not isinstance(value, list) or not value:
                raise invalid(path + ".value", "expects a list of country codes.")
            codes = [_country(f"{path}.value[{i}]", code) for i, code in enumerate(value)]
            return Q(phone_country__in=codes)
        case "empty":
            return Q(phone_country="")
        case "not_empty":
            return ~Q(phone_country="")
    raise _ops_error(
        path, "phone_country", op, ("equals", "not_equals", "in", "empty", "not_empty")
    )


def _consent(column: str, op: str, value: Any, path: str) -> Q:
    if op != "equals":
        raise _ops_error(path, column, op, ("equals",))
    if value not in Consent.values:
        raise invalid(
            path + ".value", f"expects one of {', '.join(Consent.values)}; got {value!r}."
        )
    return Q(**{column: value})


def _resolve_field(path: str, ref: str) -> Field:
    ref = ref.strip()
    field = (
        Field.objects.filter(pk=int(ref)).first()
        if ref.isdecimal()  # not isdigit: "²" is a digit int() refuses
        else Field.objects.named(ref).first()
    )
    if field is None:
        raise invalid(
            path + ".field", f"the custom field “{ref}” does not exist (it may have been deleted)."
        )
    return field


def _custom(ref: str, op: str, value: Any, path: str, ctx: Context) -> Q:
    field = _resolve_field(path, ref)
    column = field.value_column
    values = FieldValue.objects.filter(contact=OuterRef("pk"), field=field)
    has = values.filter(**{f"{column}__isnull": False})
    if op == "empty":
        return ~Exists(has)
    if op == "not_empty":
        return Q(Exists(has))
    vpath = path + ".value"
    match field.type, op:
        case FieldType.TEXT, ("equals" | "contains" | "starts_with"):
            # LOWER() on both sides, not iexact/icontains: SQLite's LIKE folds ASCII only, so
            # "Zoë Émile" did not equal "zoë émile" there while PostgreSQL matched it.
            lookup = {"equals": Exact, "contains": Contains, "starts_with": StartsWith}[op]
            needle = Lower(Value(_text(vpath, value)))
            return Q(Exists(values.filter(lookup(Lower("value_text"), needle))))
        case FieldType.NUMBER, "ne":
            return Q(Exists(has.exclude(value_number=_number(vpath, value))))
        case FieldType.NUMBER, ("eq" | "gt" | "gte" | "lt" | "lte"):
            lookup = "exact" if op == "eq" else op
            return Q(Exists(values.filter(**{f"value_number__{lookup}": _number(vpath, value)})))
        case FieldType.DATE, "on":
            return Q(Exists(values.filter(value_date=_date(vpath, value))))
        case FieldType.DATE, "before":
            return Q(Exists(values.filter(value_date__lt=_date(vpath, value))))
        case FieldType.DATE, "after":
            return Q(Exists(values.filter(value_date__gt=_date(vpath, value))))
        case FieldType.DATE, "in_last_days":
            since = timezone.localdate(ctx.now) - dt.timedelta(days=_whole(vpath, value))
            return Q(Exists(values.filter(value_date__gte=since)))
        case FieldType.DATE, "not_in_last_days":
            since = timezone.localdate(ctx.now) - dt.timedelta(days=_whole(vpath, value))
            return ~Exists(values.filter(value_date__gte=since))
        case FieldType.BOOLEAN, "is":
            return Q(Exists(values.filter(value_bool=_bool(vpath, value))))
    ops = {
        FieldType.TEXT: ("equals", "contains", "starts_with"),
        FieldType.NUMBER: COMPARISONS,
        FieldType.DATE: ("on", "before", "after", "in_last_days", "not_in_last_days"),
        FieldType.BOOLEAN: ("is",),
    }[FieldType(field.type)]
    raise _ops_error(
        path, f"the {field.type} field “{field.name}”", op, (*ops, "empty", "not_empty")
    )


def _tag(op: str, value: Any, path: str) -> Q:
    if op not in ("has", "has_not"):
        raise _ops_error(path, "tag", op, ("has", "has_not"))
    if isinstance(value, int) and not isinstance(value, bool):
        tag = Tag.objects.filter(pk=value).first()
    elif isinstance(value, str) and value.strip().isdecimal():
        # An id, or the name of a tag called "2024": a tag named with digits only was
        # reported as deleted. Both, and two different tags, is a question only the writer
        # of the rule can answer.
        tag, named = Tag.objects.filter(pk=int(value)).first(), find_tag(value)
        if tag and named and tag != named:
            raise invalid(
                path + ".value",
                f"“{value.strip()}” is the id of the tag “{tag.name}” and the name of another "
                f"tag; write the id as a number ({tag.pk}) or pick the tag in the builder.",
            )
        tag = tag or named
    elif isinstance(value, str) and value.strip():
        tag = find_tag(value)
    else:
        raise invalid(path + ".value", f"expects a tag id or name; got {value!r}.")
    if tag is None:
        raise invalid(
            path + ".value", f"the tag {value!r} does not exist (it may have been deleted)."
        )
    if op == "has":
        # "id IN (tagged ids)" rather than EXISTS: SQLite can then drive the whole query from
        # the tag's index entries instead of probing every contact; PostgreSQL plans both alike.
        return Q(pk__in=ContactTag.objects.filter(tag=tag).values("contact_id"))
    return ~Exists(ContactTag.objects.filter(contact=OuterRef("pk"), tag=tag))


def _list(op: str, value: Any, path: str) -> Q:
    if op not in ("in", "not_in"):
        raise _ops_error(path, "list", op, ("in", "not_in"))
    list_id = _whole(path + ".value", value, low=1, high=2**62)
    if not ContactList.objects.filter(pk=list_id).exists():
        raise invalid(
            path + ".value", f"the list {list_id} does not exist (it may have been deleted)."
        )
    if op == "in":  # IN, like tags: a list's members can drive the query
        return Q(pk__in=ListMembership.objects.filter(list_id=list_id).values("contact_id"))
    return ~Exists(ListMembership.objects.filter(contact=OuterRef("pk"), list_id=list_id))


def _count_compare(count: Expression, op: str, number: int) -> Q:
    if op == "ne":
        return ~Q(Exact(count, number))
    return Q(_COMPARE[op](count, number))


def _counted(interactions) -> Coalesce:
    counts = interactions.order_by().values("contact").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def _interactions(op: str, value: Any, path: str, ctx: Context) -> Q:
    if op not in COMPARISONS:
        raise _ops_error(path, "interactions", op, COMPARISONS)
    rows = Interaction.objects.filter(contact=OuterRef("pk"))
    if isinstance(value, dict):
        unknown = set(value) - {"count", "kind", "in_last_days"}
        if unknown:
            raise invalid(path + ".value", f"unknown keys {', '.join(sorted(unknown))}.")
        number = _whole(path + ".value.count", value.get("count"), high=10**9)
        if kind := value.get("kind"):
            if kind not in InteractionKind.values:
                raise invalid(path + ".value.kind", f"“{kind}” is not an interaction kind.")
            rows = rows.filter(kind=kind)
        if value.get("in_last_days") is not None:
            days = _whole(path + ".value.in_last_days", value["in_last_days"])
            rows = rows.filter(occurred_at__gte=days_ago(days, ctx.now))
    else:
        number = _whole(path + ".value", value, high=10**9)
    return _count_compare(_counted(rows), op, number)


def _event(op: str, value: Any, path: str, ctx: Context) -> Q:
    if op not in ("happened", "not_happened"):
        raise _ops_error(path, "event", op, ("happened", "not_happened"))
    vpath = path + ".value"
    if not isinstance(value, dict):
        raise invalid(
            vpath, 'expects {"name": …, "params": […], "min_count": 1, "in_last_days": N}.'
        )
    unknown = set(value) - {"name", "params", "min_count", "in_last_days"}
    if unknown:
        raise invalid(vpath, f"unknown keys {', '.join(sorted(unknown))}.")
    name = _text(vpath + ".name", value.get("name"))
    events = Interaction.objects.filter(
        contact=OuterRef("pk"), kind=InteractionKind.EVENT, name=name
    )
    if value.get("in_last_days") is not None:
        days = _whole(vpath + ".in_last_days", value["in_last_days"])
        events = events.filter(occurred_at__gte=days_ago(days, ctx.now))
    params = value.get("params") or []
    if not isinstance(params, list):
        raise invalid(vpath + ".params", 'expects a list of {"key", "op", "value"}.')
    for i, param in enumerate(params):
        ppath = f"{vpath}.params[{i}]"
        if not isinstance(param, dict):
            raise invalid(ppath, 'expects {"key", "op", "value"}.')
        keys = _json_keys(ppath, _text(ppath + ".key", param.get("key")))
        events = events.filter(
            json_condition("data", keys, param.get("op", "equals"), param.get("value"), ppath)
        )
    min_count = _whole(vpath + ".min_count", value.get("min_count", 1), low=1, high=10**6)
    happened = (
        Q(Exists(events)) if min_count == 1 else _count_compare(_counted(events), "gte", min_count)
    )
    return happened if op == "happened" else ~happened


def _condition(rule: dict[str, Any], path: str, ctx: Context) -> Q:
    unknown = set(rule) - {"field", "op", "value"}
    if unknown:
        raise invalid(path, f"unknown keys {', '.join(sorted(unknown))} in a condition.")
    field, op, value = rule.get("field"), rule.get("op"), rule.get("value")
    if not isinstance(field, str) or not field:
        raise invalid(path + ".field", "a condition needs a field.")
    if not isinstance(op, str) or not op:
        raise invalid(path + ".op", f"the condition on {field} needs an operator.")
    builders: dict[str, Callable[[], Q]] = {
        "email": lambda: _email(op, value, path),
        "email_domain": lambda: _email_domain(op, value, path),
        "phone_country": lambda: _phone_country(op, value, path),
        "phone": lambda: _phone(op, path),
        "first_name": lambda: _name("first_name_key", op, value, path),
        "last_name": lambda: _name("last_name_key", op, value, path),
        "email_consent": lambda: _consent("email_consent", op, value, path),
        "sms_consent": lambda: _consent("sms_consent", op, value, path),
        "unsubscribed": lambda: _unsubscribed(op, value, path),
        "created_at": lambda: _date_column("created_at", op, value, path, ctx, nullable=False),
        "updated_at": lambda: _date_column("updated_at", op, value, path, ctx, nullable=False),
        "last_contacted": lambda: _last_contacted(op, value, path, ctx),
        "tag": lambda: _tag(op, value, path),
        "list": lambda: _list(op, value, path),
        "interactions": lambda: _interactions(op, value, path, ctx),
        "event": lambda: _event(op, value, path, ctx),
    }
    if field in builders:
        return builders[field]()
    if field.startswith("custom:"):
        return _custom(field.removeprefix("custom:"), op, value, path, ctx)
    if field.startswith("metadata."):
        keys = _json_keys(path, field.removeprefix("metadata."))
        return json_condition("metadata", keys, op, value, path)
    raise invalid(
        path + ".field",
        f"unknown field “{field}”; use a built-in field, custom:<name>, metadata.<key>, tag, "
        "list, interactions or event.",
    )


def _phone(op: str, path: str) -> Q:
    if op == "empty":
        return Q(phone="")
    if op == "not_empty":
        return ~Q(phone="")
    raise _ops_error(path, "phone", op, ("empty", "not_empty"))


def _unsubscribed(op: str, value: Any, path: str) -> Q:
    if op != "is":
        raise _ops_error(path, "unsubscribed", op, ("is",))
    return Q(unsubscribed_at__isnull=not _bool(path + ".value", value))


def _last_contacted(op: str, value: Any, path: str, ctx: Context) -> Q:
    if op == "never":
        return Q(last_contacted_at__isnull=True)
    if op == "ever":
        return Q(last_contacted_at__isnull=False)
    if op not in ("before", "after", "in_last_days", "not_in_last_days"):
        raise _ops_error(
            path,
            "last_contacted",
            op,
            ("before", "after", "in_last_days", "not_in_last_days", "never", "ever"),
        )
    return _date_column("last_contacted_at", op, value, path, ctx, nullable=True)


# --- Groups -------------------------------------------------------------------------------------


def _node(rule: Any, path: str, depth: int, ctx: Context, counter: list[int]) -> Q:
    if not isinstance(rule, dict):
        raise invalid(path, f"expects a group or a condition object; got {rule!r}.")
    combiners = [key for key in ("all", "any") if key in rule]
    if not combiners:
        counter[0] += 1
        if counter[0] > MAX_CONDITIONS:
            raise invalid(path, f"a segment has at most {MAX_CONDITIONS} conditions.")
        return _condition(rule, path, ctx)
    if len(rule) != 1:
        raise invalid(path, "a group has exactly one key, all or any.")
    combiner = combiners[0]
    children = rule[combiner]
    # An empty group holds no condition, so it may stand where a condition may: erasure puts
    # {"any": []} (nobody) in place of a condition quoting the person, at any depth.
    if depth >= MAX_DEPTH and children != []:
        raise invalid(path, f"groups nest at most {MAX_DEPTH} levels deep.")
    if not isinstance(children, list):
        raise invalid(path + "." + combiner, "expects a list of conditions and groups.")
    prefix = f"{path}." if path else ""
    parts = [
        _node(child, f"{prefix}{combiner}[{i}]", depth + 1, ctx, counter)
        for i, child in enumerate(children)
    ]
    if combiner == "all":
        # An empty Q() would vanish inside an "any", so "all of nothing" says "everyone".
        combined = ~Q(pk__in=[])
        for part in parts:
            combined &= part
        return combined
    if not parts:  # any of nothing matches nobody, like Python's any([])
        return Q(pk__in=[])
    combined = parts[0]
    for part in parts[1:]:
        combined |= part
    return combined


def _nul_at(value: Any, path: str) -> str:
    """The path of the first text (or key) in ``value`` holding NUL, or ""."""
    if isinstance(value, str):
        return (path or "rules") if "\x00" in value else ""
    if isinstance(value, dict):
        items = [(f"{path}.{key}" if path else str(key), key, item) for key, item in value.items()]
    elif isinstance(value, list):
        items = [(f"{path}[{i}]", "", item) for i, item in enumerate(value)]
    else:
        return ""
    for where, key, item in items:
        if "\x00" in str(key):
            return path or "rules"
        if found := _nul_at(item, where):
            return found
    return ""


def compile_rules(rules: Any, *, now: dt.datetime | None = None) -> Q:
    """The ``Q`` selecting the contacts that match ``rules``, or ``invalid_segment_rule``."""
    if not isinstance(rules, dict) or not ({"all", "any"} & set(rules)):
        raise invalid("", 'a segment\'s rules are a group: {"all": [...]} or {"any": [...]}.')
    if where := _nul_at(rules, ""):
        # Anywhere, not only in values: a field, tag or key name holding NUL reaches the
        # database as a look-up (PostgreSQL refuses it: a 500), and no saved rules hold one.
        raise invalid(where, "text cannot hold NUL characters.")
    return _node(rules, "", 0, Context(now=now or timezone.now()), [0])
