"""Contact search for the dashboard and the API: indexed prefix matches, no full scans.

The query text is read as an email (contains "@"), a phone number (digits and phone
punctuation, in any format) or names ("ali", "alice smi"). Every branch is a prefix match on an
indexed column, so it stays fast at millions of contacts. On SQLite, which has no statistics
for prefix ranges, ``search_contacts`` also picks between reading the matches through that
index and walking the sort order's index (``_sqlite_driver``); PostgreSQL's planner does that.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import CharField, Exists, F, Func, OuterRef, Q, QuerySet, Value
from django.db.models.lookups import Exact, GreaterThanOrEqual, LessThan

from contacts.models import Contact, ContactTag, ListMembership
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
# SQLite plan choice (see _sqlite_driver): matches are counted up to this many, and a page
# is assumed to need this many rows.
PROBE_CAP = 10_000
ID_MAX = 2**63 - 1  # the largest id a (big)integer column holds
PAGE_ROWS = 26
# What walking one row of a sort index costs, next to fetching one match and sorting it: the
# newest-first index holds the searched columns, so walking it reads no rows.
WALK_COST = {"-updated": 0.1, "updated": 0.1}
WALK_COST_OTHER = 2.0
CLUSTERED_SORTS = {"name", "-name", "email", "-email"}


class _NotIndexed(Func):
    """SQLite's ``+column``: the same value and collation, but no index can serve the term."""

    template = "+%(expressions)s"
    output_field = CharField()


def prefix_q(column: str, prefix: str, *, indexed: bool = True) -> Q:
    """``column`` starts with ``prefix``, written so the database can use an index.

    PostgreSQL: LIKE 'x%' against a varchar_pattern_ops index, correct under any collation.
    SQLite: its LIKE is case-insensitive and skips plain indexes, so compare a byte range;
    ``indexed=False`` keeps SQLite from driving the query through this column's index.
    """
    if connection.vendor == "postgresql":
        return Q(**{f"{column}__startswith": prefix})
    if indexed:
        return Q(**{f"{column}__gte": prefix, f"{column}__lt": prefix + _TOP})
    value = _NotIndexed(F(column))
    return Q(GreaterThanOrEqual(value, prefix), LessThan(value, prefix + _TOP))


def text_q(text: str, *, region: str | None = None, indexed: bool = True) -> Q:
    text = " ".join(text.split())
    if not text:
        return Q()
    if "\x00" in text:
        # No stored value holds a NUL (PostgreSQL refuses even to compare one: a 500 for a
        # pasted or hand-typed ?q=%00), so such a search matches nobody.
        return Q(pk__in=[])
    if "@" in text:
        return prefix_q("email", text.lower(), indexed=indexed)
    if looks_like_phone(text):
        try:
            number = normalise_phone(text, region=region)
        except SwitchboardError:
            number = None
        if number:
            if indexed or connection.vendor != "sqlite":
                return Q(phone=number.e164)
            return Q(Exact(_NotIndexed(F("phone")), number.e164))
        condition = Q(pk__in=[])
        for prefix in search_prefixes(text, region=region):
            condition |= prefix_q("phone", prefix, indexed=indexed)
        return condition
    words = search_key(text).split(" ")
    if len(words) == 1:
        word = words[0]
        return (
            prefix_q("first_name_key", word, indexed=indexed)
            | prefix_q("last_name_key", word, indexed=indexed)
            | prefix_q("email", word, indexed=indexed)
        )
    full, head, tail = " ".join(words), " ".join(words[:-1]), words[-1]
    # Let the longer prefix (usually the whole first word) pick the rows; the other is checked
    # in the same (first, last) / (last, first) index. Otherwise SQLite may drive "alice s"
    # through every last name starting with "s".
    head_leads = indexed and len(head) >= len(tail)
    tail_leads = indexed and not head_leads
    # "alice smi" -> first alice… and last smi…; also "smith ali", and multi-word names.
    return (
        (
            prefix_q("first_name_key", head, indexed=head_leads)
            & prefix_q("last_name_key", tail, indexed=tail_leads)
        )
        | (
            prefix_q("last_name_key", head, indexed=head_leads)
            & prefix_q("first_name_key", tail, indexed=tail_leads)
        )
        | prefix_q("first_name_key", full, indexed=indexed)
        | prefix_q("last_name_key", full, indexed=indexed)
    )


def search_contacts(
    *,
    q: str = "",
    tag_id: int | None = None,
    list_id: int | None = None,
    sort: str = DEFAULT_SORT,
    region: str | None = None,
) -> QuerySet[Contact]:
    ordering = SORTS.get(sort, SORTS[DEFAULT_SORT])
    if any(i and not -ID_MAX <= i <= ID_MAX for i in (tag_id, list_id)):
        # No tag or list has such an id, and the query would overflow the column (a 500).
        return Contact.objects.none()
    q = " ".join(q.split())
    driver = ""
    if connection.vendor == "sqlite":
        driver = _sqlite_driver(q, tag_id, list_id, region, sort=sort)
    contacts = Contact.objects.filter(text_q(q, region=region, indexed=driver in ("", "text")))
    # A join lets the tag (or list) find the rows; EXISTS only checks the rows found otherwise.
    if tag_id and driver == "tag":
        contacts = contacts.filter(contact_tags__tag_id=tag_id)
    elif tag_id:
        tagged = ContactTag.objects.filter(tag_id=tag_id, contact=OuterRef("pk"))
        contacts = contacts.filter(Exists(tagged))
    if list_id and driver == "list":
        contacts = contacts.filter(list_memberships__list_id=list_id)
    elif list_id:
        members = ListMembership.objects.filter(list_id=list_id, contact=OuterRef("pk"))
        contacts = contacts.filter(Exists(members))
    return contacts.order_by(*ordering)


def _sqlite_driver(
    q: str, tag_id: int | None, list_id: int | None, region: str | None, *, sort: str
) -> str:
    """Which filter should find the rows on SQLite: "text", "tag", "list", or "walk".

    SQLite keeps no statistics about prefix ranges, so left alone it fetches every match
    through the filter's index and sorts them all: right for a few hundred matches, slow for
    tens of thousands ("sm", a popular tag). Walking the sort order's index and stopping after
    one page costs about PAGE_ROWS / density rows instead. So count the matches of each filter
    through its index (capped, index-only, well under a millisecond) and take the cheaper way.
    PostgreSQL's planner has the statistics to make this choice itself.
    """
    counts: dict[str, int] = {}
    if q:
        counts["text"] = _capped(Contact.objects.filter(text_q(q, region=region)))
    if tag_id:
        counts["tag"] = _capped(ContactTag.objects.filter(tag_id=tag_id))
    if list_id:
        counts["list"] = _capped(ListMembership.objects.filter(list_id=list_id))
    if not counts:
        return "walk"
    smallest = min(counts, key=counts.__getitem__)
    if counts[smallest] == 0:
        return smallest
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(rowid) FROM {Contact._meta.db_table}")  # noqa: S608
        total = max(cursor.fetchone()[0] or 1, 1)
    density = 1.0
    for count in counts.values():
        density *= min(count / total, 1.0)
    walk_cost = WALK_COST.get(sort, WALK_COST_OTHER) * PAGE_ROWS / density
    if q and sort in CLUSTERED_SORTS:
        # Name and email matches sit together in that order ("smi…" near the end): walking
        # from the start would read most of the table before the first one.
        walk_cost = float("inf")
    return "walk" if walk_cost < counts[smallest] else smallest


def _capped(queryset: QuerySet) -> int:
    """Matches up to PROBE_CAP. Selecting a constant lets SQLite answer from the index alone
    (a plain ``.count()`` on a slice selects the id, which means reading every row)."""
    inner = queryset.order_by().annotate(one=Value(1)).values("one")[:PROBE_CAP]
    try:
        sql, params = inner.query.sql_with_params()
    except EmptyResultSet:  # a condition that can match nothing, e.g. pk__in=[]
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({sql})", params)  # noqa: S608
        return cursor.fetchone()[0]


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


# Beyond any table's rows, and far below the 64-bit OFFSET both databases (and sqlite3's
# parameter binding) overflow on: a hand-typed ?page=99999999999999999999 is an empty page.
OFFSET_MAX = 10**12


def paginate(contacts: QuerySet[Contact], *, page: int, size: int) -> Page:
    """One page without COUNT(*): counting a million rows on every keystroke is the slow part."""
    page = max(1, page)
    offset = (page - 1) * size
    if offset > OFFSET_MAX:
        return Page(items=[], number=page, size=size, has_next=False)
    rows = list(contacts[offset : offset + size + 1])
    return Page(items=rows[:size], number=page, size=size, has_next=len(rows) > size)
