"""Contact search for the dashboard and the API: indexed prefix matches, no full scans.

The query text is read as an email (contains "@"), a phone number (digits and phone
punctuation, in any format) or names ("ali", "alice smi"). Every branch is a prefix match on an
indexed column, so it stays fast at millions of contacts.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Q, QuerySet

from contacts.models import Contact
from contacts.phones import looks_like_phone, normalise_phone, search_prefixes
from contacts.services.normalise import search_key
from dashboard.errors import SwitchboardError

SORTS: dict[str, tuple[str, ...]] = {
    "-updated": ("-updated_at", "-id"),
    "updated": ("updated_at", "id"),
    "-created": ("-created_at", "-id"),
    "created": ("created_at", "id"),
    "name": ("last_name_key", "first_name_key", "id"),
    "-name": ("-last_name_key", "-first_name_key", "-id"),
    "email": ("email",),
    "-email": ("-email",),
}
DEFAULT_SORT = "-updated"
# Above the highest code point, so "abc" <= x < "abc" + _TOP holds exactly the "abc…" strings.
_TOP = "\U0010ffff"


def prefix_q(column: str, prefix: str) -> Q:
    """``column`` starts with ``prefix``, written so the database can use an index.

    PostgreSQL: LIKE 'x%' against a varchar_pattern_ops index, correct under any collation.
    SQLite: its LIKE is case-insensitive and skips plain indexes, so compare a byte range.
    """
    if connection.vendor == "postgresql":
        return Q(**{f"{column}__startswith": prefix})
    return Q(**{f"{column}__gte": prefix, f"{column}__lt": prefix + _TOP})


def text_q(text: str, *, region: str | None = None) -> Q:
    text = " ".join(text.split())
    if not text:
        return Q()
    if "@" in text:
        return prefix_q("email", text.lower())
    if looks_like_phone(text):
        try:
            number = normalise_phone(text, region=region)
        except SwitchboardError:
            number = None
        if number:
            return Q(phone=number.e164)
        condition = Q(pk__in=[])
        for prefix in search_prefixes(text, region=region):
            condition |= prefix_q("phone", prefix)
        return condition
    words = search_key(text).split(" ")
    if len(words) == 1:
        word = words[0]
        return (
            prefix_q("first_name_key", word)
            | prefix_q("last_name_key", word)
            | prefix_q("email", word)
        )
    full, head, tail = " ".join(words), " ".join(words[:-1]), words[-1]
    # "alice smi" -> first alice… and last smi…; also "smith ali", and multi-word names.
    return (
        (prefix_q("first_name_key", head) & prefix_q("last_name_key", tail))
        | (prefix_q("last_name_key", head) & prefix_q("first_name_key", tail))
        | prefix_q("first_name_key", full)
        | prefix_q("last_name_key", full)
    )


def search_contacts(
    *,
    q: str = "",
    tag_id: int | None = None,
    list_id: int | None = None,
    sort: str = DEFAULT_SORT,
    region: str | None = None,
) -> QuerySet[Contact]:
    contacts = Contact.objects.filter(text_q(q, region=region))
    if tag_id:
        contacts = contacts.filter(contact_tags__tag_id=tag_id)
    if list_id:
        contacts = contacts.filter(list_memberships__list_id=list_id)
    return contacts.order_by(*SORTS.get(sort, SORTS[DEFAULT_SORT]))


@dataclass
class Page:
    items: list[Contact]
    number: int
    size: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.size + 1 if self.items else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * self.size + len(self.items)


def paginate(contacts: QuerySet[Contact], *, page: int, size: int) -> Page:
    """One page without COUNT(*): counting a million rows on every keystroke is the slow part."""
    page = max(1, page)
    offset = (page - 1) * size
    rows = list(contacts[offset : offset + size + 1])
    return Page(items=rows[:size], number=page, size=size, has_next=len(rows) > size)
