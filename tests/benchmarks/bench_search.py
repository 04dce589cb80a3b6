"""Contact search latency at 1,000,000 contacts: the code the contact list runs, per query type.

Each query type gets ``QUERIES`` distinct, realistic queries drawn from the data set (prefixes
of real emails and names as someone types them, phones in national and international format),
timed through ``search_contacts`` + ``paginate`` exactly as the contact list view calls them.
The full page is also timed through the Django test client. The plan of one query per type is
printed so the index use is visible.
"""

from __future__ import annotations

import random
import statistics
import uuid
from collections.abc import Callable

import phonenumbers
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.urls import reverse

from contacts.models import Contact
from contacts.services.duplicates import find_duplicates
from contacts.services.search import SORTS, paginate, search_contacts
from tests.benchmarks.common import BenchContext, Result, latency_results, time_calls
from tests.benchmarks.dataset import ensure_contacts

N = 1_000_000
QUICK_N = 20_000
QUERIES = 200
TARGET_P95_MS = 50

Query = dict  # keyword arguments for search_contacts


def run(ctx: BenchContext) -> list[Result]:
    n = QUICK_N if ctx.quick else N
    data = ensure_contacts(n)
    count = 40 if ctx.quick else QUERIES
    rng = random.Random(2026)
    people = _sample(rng, count)
    home = _sample(rng, count, phone_country=settings.PHONE_DEFAULT_REGION)
    suites: dict[str, list[Query]] = {
        "email prefix": [{"q": _email_prefix(rng, p)} for p in people],
        "name, one word": [{"q": _name_word(rng, p)} for p in people],
        "name, first + last prefix": [
            {"q": f"{p['first_name']} {p['last_name'][: rng.randint(1, len(p['last_name']))]}"}
            for p in people
        ],
        "phone, national format": [{"q": _phone(rng, p, national=True)} for p in home],
        "phone, international format": [{"q": _phone(rng, p, national=False)} for p in people],
        "tag filter": _tag_queries(rng, data.tag_ids, count),
    }
    targeted = {k for k in suites if k != "tag filter"}

    results: list[Result] = []
    size = settings.CONTACTS_PAGE_SIZE
    for label, queries in suites.items():
        _show_plan(label, queries[0], size)
        run_page = _page_runner(queries, size)
        time_calls(run_page, min(20, len(queries)))  # warm caches and code paths
        samples = time_calls(_page_runner(queries, size), len(queries))
        results += latency_results(
            f"search {label}", samples, TARGET_P95_MS if label in targeted else None
        )
    results += _page_through_client(people, count)
    # The duplicates page finds its pairs on every load, over the whole base: seconds, so
    # two timed calls after a warm one.
    time_calls(find_duplicates, 1)
    results.append(
        Result("duplicates page finders", statistics.median(time_calls(find_duplicates, 2)), "ms")
    )
    for result in results:
        result.note = result.note or f"{n:,} contacts, {count} queries"
    return results


def _page_runner(queries: list[Query], size: int) -> Callable[[], object]:
    """One call per query, in order: the view's search and one page, evaluated.

    The view's ``prefetch_related("tags")`` is left out here (it costs the same whatever the
    search); the page timing through the client below includes it.
    """
    pending = iter(queries)

    def call() -> object:
        query = next(pending)
        page = query.get("page", 1)
        args = {k: v for k, v in query.items() if k != "page"}
        return paginate(search_contacts(**args), page=page, size=size).items

    return call


def _show_plan(label: str, query: Query, size: int) -> None:
    args = {k: v for k, v in query.items() if k != "page"}
    queryset = search_contacts(**args)[: size + 1]
    print(f"-- plan, {label}: {query} ({connection.vendor})")
    print(queryset.explain())


def _page_through_client(people: list[dict], count: int) -> list[Result]:
    """The whole contact list page (middleware, session, template) for one-word name queries."""
    user, created = get_user_model().objects.get_or_create(username="bench-staff")
    if created:
        user.groups.add(Group.objects.get_or_create(name=settings.STAFF_GROUP)[0])
    client = Client()
    client.force_login(user)
    url = reverse("contacts:list")
    rng = random.Random(7)
    queries = iter([_name_word(rng, p) for p in people])

    def call() -> None:
        response = client.get(url, {"q": next(queries)})
        assert response.status_code == 200, response.status_code  # noqa: S101

    time_calls(lambda: client.get(url, {"q": "smi"}), 5)
    return latency_results("contact list page (client), name", time_calls(call, len(people)))


# --- Realistic queries -------------------------------------------------------------------------


def _sample(rng: random.Random, k: int, **filters) -> list[dict]:
    """k contacts at random places in the primary key order (uniformly random, repeatable)."""
    people = []
    columns = ("email", "phone", "first_name", "last_name")
    while len(people) < k:
        start = uuid.UUID(int=rng.getrandbits(128))
        row = (
            Contact.objects.filter(pk__gte=start, **filters)
            .exclude(phone="")
            .order_by("pk")
            .values(*columns)
            .first()
        )
        if row:
            people.append(row)
    return people


def _email_prefix(rng: random.Random, person: dict) -> str:
    """What staff type when they have the address: from "olivia.sm" to the whole of it."""
    email = person["email"]
    shortest = min(len(email), len(person["first_name"]) + 3)
    return email[: rng.randint(shortest, len(email))]


def _name_word(rng: random.Random, person: dict) -> str:
    name = rng.choice((person["first_name"], person["last_name"]))
    typed = name[: rng.randint(min(2, len(name)), len(name))]
    return typed.lower() if rng.random() < 0.5 else typed


def _phone(rng: random.Random, person: dict, *, national: bool) -> str:
    """The number as typed: mostly whole, sometimes the first digits only (search as you type)."""
    number = phonenumbers.parse(person["phone"])
    if national:
        text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    else:
        text = rng.choice(
            (
                phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
                person["phone"],
                "00" + person["phone"][1:],
            )
        )
    if rng.random() < 0.5:
        return text
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    keep = rng.randint(min(8, len(digits)), len(digits))
    return text[: digits[keep - 1] + 1]


def _tag_queries(rng: random.Random, tag_ids: dict[str, int], count: int) -> list[Query]:
    """Browsing a tag: every tag, each sort order, the first pages."""
    combos = [
        {"tag_id": tag_id, "sort": sort, "page": page}
        for tag_id in tag_ids.values()
        for sort in SORTS
        for page in (1, 2, 3, 4)
    ]
    rng.shuffle(combos)
    return combos[:count]
