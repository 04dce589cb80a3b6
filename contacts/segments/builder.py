"""The segment builder form: rules JSON <-> a tree of form inputs, and the edits on it.

The page is rendered by the server from the rules; every input is named after its node's path
("r" is the root group, "r.0" its first child, "r.0.2" that child's third child) and the part
it edits ("r.0:field", "r.0:op", "r.0:value"). Structural edits ("add a condition to r.1",
"remove r.0.2") come as an ``action`` and are applied to the submitted tree before it is
rendered again, so the builder needs no client-side state.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

from django.http import QueryDict

from contacts.models import ContactList, Field, FieldType, Tag
from contacts.segments.rules import MAX_CONDITIONS, MAX_DEPTH
from dashboard import jsonvalues

ROOT = "r"
PATH = re.compile(r"^r(\.\d{1,3}){0,6}$")
# As many as the rules allow in a segment: a lower cap silently dropped the conditions past
# it from a segment made through the API when it was saved in the builder.
MAX_CHILDREN = MAX_CONDITIONS

DATE_OPS = [
    ("in_last_days", "in the last N days"),
    ("not_in_last_days", "not in the last N days"),
    ("before", "before"),
    ("after", "after"),
]
OPS: dict[str, list[tuple[str, str]]] = {
    "text": [("equals", "is"), ("contains", "contains"), ("starts_with", "starts with")],
    "email": [("equals", "is"), ("contains", "contains"), ("starts_with", "starts with"),
              ("ends_with", "ends with")],
    "domain": [("equals", "is"), ("not_equals", "is not")],
    "country": [("equals", "is"), ("not_equals", "is not"), ("in", "is one of"),
                ("empty", "is empty"), ("not_empty", "is set")],
    "presence": [("not_empty", "is set"), ("empty", "is empty")],
    "name": [("equals", "is"), ("starts_with", "starts with"), ("contains", "contains"),
             ("empty", "is empty"), ("not_empty", "is set")],
    "consent": [("equals", "is")],
    "bool": [("is", "is")],
    "datetime": DATE_OPS,
    "contacted": [*DATE_OPS, ("never", "never"), ("ever", "at some point")],
    "tag": [("has", "has"), ("has_not", "does not have")],
    "list": [("in", "is in"), ("not_in", "is not in")],
    "count": [("gte", "at least"), ("lte", "at most"), ("eq", "exactly"), ("ne", "not exactly"),
              ("gt", "more than"), ("lt", "fewer than")],
    "event": [("happened", "happened"), ("not_happened", "did not happen")],
    "metadata": [("equals", "equals"), ("not_equals", "does not equal"), ("gt", ">"),
                 ("gte", "≥"), ("lt", "<"), ("lte", "≤"), ("exists", "exists"),
                 ("not_exists", "does not exist")],
    FieldType.TEXT: [("equals", "is"), ("contains", "contains"), ("starts_with", "starts with"),
                     ("empty", "is empty"), ("not_empty", "is set")],
    FieldType.NUMBER: [("gt", ">"), ("gte", "≥"), ("lt", "<"), ("lte", "≤"), ("eq", "="),
                       ("ne", "≠"), ("empty", "is empty"), ("not_empty", "is set")],
    FieldType.DATE: [("on", "on"), ("before", "before"), ("after", "after"),
                     ("in_last_days", "in the last N days"),
                     ("not_in_last_days", "not in the last N days"), ("empty", "is empty"),
                     ("not_empty", "is set")],
    FieldType.BOOLEAN: [("is", "is"), ("empty", "is empty"), ("not_empty", "is set")],
}  # fmt: skip
BUILT_IN: list[tuple[str, str, str]] = [
    ("email", "Email", "email"),
    ("email_domain", "Email domain", "domain"),
    ("phone_country", "Phone country", "country"),
    ("phone", "Phone", "presence"),
    ("first_name", "First name", "name"),
    ("last_name", "Last name", "name"),
    ("email_consent", "Email consent", "consent"),
    ("sms_consent", "SMS consent", "consent"),
    ("unsubscribed", "Unsubscribed", "bool"),
    ("created_at", "Created", "datetime"),
    ("updated_at", "Updated", "datetime"),
    ("last_contacted", "Last contacted", "contacted"),
    ("tag", "Tag", "tag"),
    ("list", "List", "list"),
    ("interactions", "Number of interactions", "count"),
    ("event", "Event", "event"),
    ("metadata", "Metadata key", "metadata"),
]
NO_VALUE = {"empty", "not_empty", "exists", "not_exists", "never", "ever"}
DAYS_OPS = {"in_last_days", "not_in_last_days"}


@dataclass
class Catalogue:
    """What a condition can refer to: built-in fields, custom fields, tags and lists."""

    fields: list[Field]
    tags: list[Tag]
    lists: list[ContactList]

    @classmethod
    def load(cls) -> Catalogue:
        return cls(
            fields=list(Field.objects.all()),
            tags=list(Tag.objects.only("name")),
            lists=list(ContactList.objects.only("name")),
        )

    def field_options(self) -> list[tuple[str, list[tuple[str, str]]]]:
        custom = [(f"custom:{f.pk}", f.name) for f in self.fields]
        groups = [("Contact", [(key, label) for key, label, _ in BUILT_IN])]
        if custom:
            groups.append(("Custom fields", custom))
        return groups

    def custom_field(self, field_key: str) -> Field | None:
        """The custom field a ``custom:<name or id>`` key refers to, if it still exists."""
        ref = field_key.removeprefix("custom:")
        for f in self.fields:
            if str(f.pk) == ref or f.name.lower() == ref.lower():
                return f
        return None

    def kind(self, field_key: str) -> str:
        for key, _, kind in BUILT_IN:
            if key == field_key:
                return kind
        if field_key.startswith("custom:") and (f := self.custom_field(field_key)):
            return f.type
        return "text"

    def has(self, kind: str, value: str) -> bool:
        """Whether a tag (by id or name) or a list (by id) a condition names still exists."""
        if kind == "tag":
            return any(value == str(t.pk) or value.lower() == t.name.lower() for t in self.tags)
        return any(value == str(cl.pk) for cl in self.lists)


@dataclass
class Node:
    path: str
    group: bool
    match: str = "all"
    children: list[Node] = dataclasses.field(default_factory=list)
    field: str = "email"
    op: str = "contains"
    value: str = ""
    key: str = ""  # metadata key path
    event: str = ""
    param_key: str = ""
    param_value: str = ""
    min_count: str = "1"
    days: str = ""
    kind: str = "email"
    ops: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    # What the condition names that no longer exists ("field", "tag", "list"): the builder
    # keeps it selected, so the preview and a save say so, instead of the browser picking
    # the first option and the condition silently meaning something else.
    missing: str = ""
    # Parts of an interactions or event condition the builder has no input for (an
    # interaction kind, a parameter's operator, further parameters), as written through the
    # API: carried through the form unchanged so a save in the builder does not drop them.
    keep: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def keep_json(self) -> str:
        return json.dumps(self.keep) if self.keep else ""

    @property
    def keep_note(self) -> str:
        """What the kept parts add, in a few words, for the condition's row."""
        notes = []
        if kind := self.keep.get("kind"):
            notes.append(f"of kind {kind}")
        if op := self.keep.get("param_op"):
            notes.append(f"parameter {op}")
        if more := self.keep.get("more_params"):
            notes.append(f"{len(more)} more parameter condition{'s' if len(more) != 1 else ''}")
        return ", ".join(notes)

    @property
    def depth(self) -> int:
        return self.path.count(".")

    @property
    def can_nest(self) -> bool:
        return self.depth + 1 < MAX_DEPTH

    @property
    def needs_value(self) -> bool:
        return self.op not in NO_VALUE

    @property
    def value_input(self) -> str:
        """Which input the template shows for the value."""
        if self.kind in ("consent", "bool", "tag", "list", "event", FieldType.BOOLEAN):
            return self.kind
        if self.op in DAYS_OPS or self.kind in ("count", FieldType.NUMBER):
            return "number"
        if self.kind in ("datetime", "contacted", FieldType.DATE):
            return "date"
        return "text"


def _renumber(node: Node, path: str) -> Node:
    node.path = path
    for i, child in enumerate(node.children):
        _renumber(child, f"{path}.{i}")
    return node


def _describe(node: Node, catalogue: Catalogue) -> Node:
    if node.group:
        for child in node.children:
            _describe(child, catalogue)
        return node
    node.missing = ""
    if node.field.startswith("custom:"):
        field = catalogue.custom_field(node.field)
        if field is None:
            node.missing = "field"
        else:
            # Rules written by name (the API's custom:lead_score) select the field's option.
            node.field = f"custom:{field.pk}"
    node.kind = catalogue.kind(node.field)
    if node.kind in ("tag", "list") and node.value and not catalogue.has(node.kind, node.value):
        node.missing = node.kind
    node.ops = OPS.get(node.kind, OPS["text"])
    if node.op not in {op for op, _ in node.ops}:
        node.op = node.ops[0][0]
    return node


# --- rules JSON -> tree ---------------------------------------------------------------------


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def tree_from_rules(rules: Any, catalogue: Catalogue, path: str = ROOT) -> Node:
    if isinstance(rules, dict) and ({"all", "any"} & set(rules)):
        match = "all" if "all" in rules else "any"
        children = rules.get(match) if isinstance(rules.get(match), list) else []
        node = Node(path=path, group=True, match=match)
        node.children = [
            tree_from_rules(child, catalogue, f"{path}.{i}") for i, child in enumerate(children)
        ]
        return _describe(node, catalogue) if path == ROOT else node
    rule = rules if isinstance(rules, dict) else {}
    node = Node(
        path=path, group=False, field=str(rule.get("field", "email")), op=str(rule.get("op", ""))
    )
    value = rule.get("value")
    if node.field.startswith("metadata."):
        node.key, node.field = node.field.removeprefix("metadata."), "metadata"
    if node.field == "event" and isinstance(value, dict):
        node.event = str(value.get("name", ""))
        params = value.get("params") or []
        if isinstance(params, list) and params and isinstance(params[0], dict):
            node.param_key = str(params[0].get("key", ""))
            node.param_value = _json_text(params[0].get("value"))
            if params[0].get("op", "equals") != "equals":
                node.keep["param_op"] = params[0]["op"]
            if params[1:]:
                node.keep["more_params"] = params[1:]
        node.min_count = _scalar(value.get("min_count", 1))
        node.days = _scalar(value.get("in_last_days"))
    elif node.field == "interactions" and isinstance(value, dict):
        node.value = _scalar(value.get("count"))
        node.days = _scalar(value.get("in_last_days"))
        if value.get("kind"):
            node.keep["kind"] = value["kind"]
    elif node.field == "metadata":
        node.value = _json_text(value)
    else:
        node.value = _scalar(value)
    return _describe(node, catalogue) if path == ROOT else node


# --- form -> tree -----------------------------------------------------------------------------


def tree_from_form(data: QueryDict, catalogue: Catalogue) -> Node:
    paths = sorted(
        {key.split(":", 1)[0] for key in data if ":" in key and PATH.match(key.split(":", 1)[0])},
        key=lambda p: [int(part) if part.isdigit() else -1 for part in p.split(".")],
    )
    nodes: dict[str, Node] = {ROOT: Node(path=ROOT, group=True)}
    for path in paths:
        get = lambda part, default="", p=path: data.get(f"{p}:{part}", default).strip()[:500]  # noqa: E731
        if f"{path}:match" in data:
            node = Node(path=path, group=True, match="any" if get("match") == "any" else "all")
        else:
            node = Node(
                path=path, group=False, field=get("field", "email"), op=get("op"),
                value=get("value"), key=get("key"), event=get("event"),
                param_key=get("param_key"), param_value=get("param_value"),
                min_count=get("min_count", "1"), days=get("days"),
            )  # fmt: skip
            was = get("was", node.field)
            if was != node.field and catalogue.kind(was) != catalogue.kind(node.field):
                # The field was just changed to another kind: a value typed for the old one
                # ("bob", a date) means nothing to the new one, and would read as a deleted
                # tag or list. (First name -> last name keeps "Smith".)
                node.value = ""
            elif node.field in ("event", "interactions"):
                node.keep = _kept(data.get(f"{path}:keep", ""))
        if path == ROOT:
            nodes[ROOT].match = node.match
            continue
        parent = nodes.get(path.rsplit(".", 1)[0])
        if parent is None or not parent.group or len(parent.children) >= MAX_CHILDREN:
            continue
        parent.children.append(node)
        nodes[path] = node
    return _describe(_renumber(nodes[ROOT], ROOT), catalogue)


def _kept(text: str) -> dict[str, Any]:
    try:
        kept = jsonvalues.loads(text[:20_000]) if text else {}
    except ValueError:
        return {}
    return kept if isinstance(kept, dict) else {}


def apply_action(root: Node, action: str, catalogue: Catalogue) -> Node:
    """``add-condition:<group path>``, ``add-group:<group path>`` or ``remove:<path>``."""
    verb, _, path = action.partition(":")
    index: dict[str, Node] = {}

    def walk(node: Node) -> None:
        index[node.path] = node
        for child in node.children:
            walk(child)

    walk(root)
    target = index.get(path)
    if target is None:
        return root
    if verb in ("add-condition", "add-group") and target.group:
        if len(target.children) < MAX_CHILDREN:
            if verb == "add-group" and target.can_nest:
                child = Node(path="", group=True, match="any")
                child.children.append(Node(path="", group=False))
                target.children.append(child)
            elif verb == "add-condition":
                target.children.append(Node(path="", group=False))
    elif verb == "remove" and path != ROOT:
        parent = index[path.rsplit(".", 1)[0]]
        parent.children = [c for c in parent.children if c.path != path]
    return _describe(_renumber(root, ROOT), catalogue)


# --- tree -> rules JSON ---------------------------------------------------------------------


def _number_or_text(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text  # compile_rules explains what is wrong with it


def _json_text(value: Any) -> str:
    """A metadata or event-parameter value as the builder shows it: the text "42" quoted,
    "42", so that reading it back (``_metadata_value``) keeps it text."""
    if isinstance(value, str) and _metadata_value(value) != value:
        return json.dumps(value)
    return _scalar(value)


def _typed(node: Node) -> Any:
    text = node.value
    if node.kind in ("bool", FieldType.BOOLEAN):
        return text == "true"
    if node.kind in ("tag", "list") or node.op in DAYS_OPS:
        return _number_or_text(text) if text else None
    if node.kind in ("count", FieldType.NUMBER):
        return _number_or_text(text) if text else None
    if node.kind == "country" and node.op == "in":
        return [part.strip() for part in text.split(",") if part.strip()]
    if node.kind == "metadata" and text:
        return _metadata_value(text)
    return text


def _metadata_value(text: str) -> Any:
    """A metadata value as typed, read as the contact page's metadata form reads it: JSON
    (42, 1.5, true, "42" for the text 42), anything else as text. So "01234" stays the text
    it is (it was read as the number 1234, which matches no contact holding "01234")."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        value = jsonvalues.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str | int | float) else text


def rules_from_tree(node: Node) -> dict[str, Any]:
    if node.group:
        return {node.match: [rules_from_tree(child) for child in node.children]}
    rule: dict[str, Any] = {"field": node.field, "op": node.op}
    if node.field == "metadata":
        rule["field"] = f"metadata.{node.key}"
    if node.field == "event":
        value: dict[str, Any] = {"name": node.event}
        params = []
        if node.param_key:
            # Read as metadata values are (the parameters use the metadata operators).
            param_value = _metadata_value(node.param_value) if node.param_value else ""
            op = node.keep.get("param_op", "equals")
            params.append({"key": node.param_key, "op": op, "value": param_value})
        if isinstance(more := node.keep.get("more_params"), list):
            params.extend(more)
        if params:
            value["params"] = params
        value["min_count"] = _number_or_text(node.min_count or "1")
        if node.days:
            value["in_last_days"] = _number_or_text(node.days)
        rule["value"] = value
    elif node.field == "interactions" and (node.days or node.keep.get("kind")):
        rule["value"] = {"count": _typed(node)}
        if node.keep.get("kind"):
            rule["value"]["kind"] = node.keep["kind"]
        if node.days:
            rule["value"]["in_last_days"] = _number_or_text(node.days)
    elif node.needs_value:
        rule["value"] = _typed(node)
    return rule
