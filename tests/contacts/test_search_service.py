"""contacts.services.search: indexed prefix search, filters, sorting and COUNT-free pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import Contact
from contacts.services import lists as list_service
from contacts.services.search import paginate, prefix_q, search_contacts

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_contact):
    return {
        "alice": make_contact(
            email="alice.smith@example.com",
            first_name="Alice",
            last_name="Smith",
            phone="+44 7700 123456",
            tags=["customer"],
        ),
        "alicia": make_contact(
            email="alicia@corp.example", first_name="Alicia", last_name="Keys", tags=["lead"]
        ),
        "jose": make_contact(
            email="jose@example.es",
            first_name="José",
            last_name="Núñez",
            phone="+34 612 345 678",
        ),
        "mary": make_contact(
            email="mj@example.com",
            first_name="Mary Jane",
            last_name="Watson",
            phone="+1 415 555 2671",
            tags=["customer"],
        ),
        "smith": make_contact(email="zed@example.com", first_name="Zed", last_name="Smithers"),
    }


def _found(q: str = "", **kwargs) -> set[str]:
    return {c.email for c in search_contacts(q=q, **kwargs)}


def test_an_empty_query_finds_everyone(people):
    assert len(_found("")) == 5
    assert len(_found("   ")) == 5


@pytest.mark.parametrize(
    ("q", "emails"),
    [
        ("alicia@", {"alicia@corp.example"}),
        ("Alice.Smith@ex", {"alice.smith@example.com"}),
        ("ALICE.S", {"alice.smith@example.com"}),
        ("alic", {"alice.smith@example.com", "alicia@corp.example"}),
        ("mj@example.com", {"mj@example.com"}),
        ("nobody@", set()),
        ("example.com", set()),  # a prefix search, not a substring search
    ],
)
def test_it_finds_contacts_by_email_prefix(people, q, emails):
    assert _found(q) == emails


@pytest.mark.parametrize(
    ("q", "emails"),
    [
        ("ali", {"alice.smith@example.com", "alicia@corp.example"}),
        ("Smith", {"alice.smith@example.com", "zed@example.com"}),
        ("alice smi", {"alice.smith@example.com"}),
        ("smith ali", {"alice.smith@example.com"}),
        ("  Alice   Smith ", {"alice.smith@example.com"}),
        ("mary jane", {"mj@example.com"}),
        ("mary jane wat", {"mj@example.com"}),
        ("alice keys", set()),
    ],
)
def test_it_finds_contacts_by_one_or_two_name_words(people, q, emails):
    assert _found(q) == emails


@pytest.mark.parametrize("q", ["jose", "José", "JOSÉ", "nunez", "Núñez", "jose nun"])
def test_accents_and_case_do_not_matter_in_names(people, q):
    assert _found(q) == {"jose@example.es"}


@pytest.mark.parametrize(
    "q",
    [
        "+447700123456",
        "+44 7700 123456",
        "07700 123456",
        "07700123456",
        "0044 7700 123456",
        "(07700) 123-456",
        "447700123456",
        "07700 12",
        "+44 770",
        "7700 1234",
    ],
)
def test_it_finds_a_phone_typed_in_national_international_or_partial_form(people, q):
    assert _found(q) == {"alice.smith@example.com"}


def test_a_phone_in_another_country_needs_its_region_or_its_code(people):
    assert _found("612 345 678") == set()  # read as a GB number
    assert _found("612 345 678", region="ES") == {"jose@example.es"}
    assert _found("+34 612") == {"jose@example.es"}
    assert _found("+1 415 555 2671") == {"mj@example.com"}


def test_it_filters_by_tag_and_list(people, staff_actor):
    customer = people["alice"].tags.get()
    vip = list_service.create_list(actor=staff_actor, name="VIP")
    for name in ("alice", "jose"):
        list_service.add_to_list(actor=staff_actor, contact=people[name], contact_list=vip)

    assert _found(tag_id=customer.pk) == {"alice.smith@example.com", "mj@example.com"}
    assert _found(list_id=vip.pk) == {"alice.smith@example.com", "jose@example.es"}
    assert _found(tag_id=customer.pk, list_id=vip.pk) == {"alice.smith@example.com"}
    assert _found("mary", tag_id=customer.pk) == {"mj@example.com"}
    assert _found("jose", tag_id=customer.pk) == set()


def _emails(sort: str) -> list[str]:
    return [c.email for c in search_contacts(sort=sort)]


def test_it_sorts_by_name_email_and_dates(people):
    by_name = ["alicia@corp.example", "jose@example.es", "alice.smith@example.com",
               "zed@example.com", "mj@example.com"]  # fmt: skip
    assert _emails("name") == by_name
    assert _emails("-name") == by_name[::-1]
    assert _emails("email") == sorted(c.email for c in people.values())
    assert _emails("-email") == sorted((c.email for c in people.values()), reverse=True)
    Contact.objects.filter(pk=people["jose"].pk).update(
        updated_at=timezone.now() + dt.timedelta(hours=1),
        created_at=timezone.now() - dt.timedelta(days=1),
    )
    assert _emails("-updated")[0] == "jose@example.es"
    assert _emails("updated")[-1] == "jose@example.es"
    assert _emails("created")[0] == "jose@example.es"
    assert _emails("-created")[-1] == "jose@example.es"


def test_an_unknown_sort_falls_back_to_recently_updated(people):
    assert _emails("password") == _emails("-updated")


def test_pages_are_cut_without_counting(make_contact):
    for n in range(7):
        make_contact(email=f"p{n}@example.com")
    contacts = search_contacts(sort="email")

    with CaptureQueriesContext(connection) as queries:
        first = paginate(contacts, page=1, size=3)
        last = paginate(contacts, page=3, size=3)
        beyond = paginate(contacts, page=9, size=3)

    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)
    assert len(queries.captured_queries) == 3
    assert [c.email for c in first.items] == ["p0@example.com", "p1@example.com", "p2@example.com"]
    assert (first.has_previous, first.has_next, first.start_index, first.end_index) == (
        False, True, 1, 3,
    )  # fmt: skip
    assert [c.email for c in last.items] == ["p6@example.com"]
    assert (last.has_previous, last.has_next, last.start_index, last.end_index) == (
        True, False, 7, 7,
    )  # fmt: skip
    assert (beyond.items, beyond.has_next, beyond.start_index) == ([], False, 0)
    assert paginate(contacts, page=0, size=3).number == 1


def test_a_page_number_no_database_can_offset_to_is_an_empty_page(make_contact):
    make_contact(email="p@example.com")

    beyond = paginate(search_contacts(), page=10**20, size=25)

    assert (beyond.items, beyond.number, beyond.has_next) == ([], 10**20, False)


def test_prefix_matches_are_exact_about_case_and_boundaries(make_contact):
    make_contact(email="abc@example.com")
    make_contact(email="abd@example.com")
    make_contact(email="ab@example.com")

    def matching(prefix: str) -> list[str]:
        return sorted(
            Contact.objects.filter(prefix_q("email", prefix)).values_list("email", flat=True)
        )

    assert matching("abc") == ["abc@example.com"]
    assert matching("ab") == ["ab@example.com", "abc@example.com", "abd@example.com"]
    assert matching("ABC") == []  # emails are stored lower-case; callers lower-case too


def test_the_search_uses_the_prefix_indexes_not_a_scan(people):
    """The query plan names an index, so search stays fast at a million contacts."""
    queryset = search_contacts(q="alice smi", sort="name")
    plan = queryset.explain()

    if connection.vendor == "postgresql":
        # Five rows make a sequential scan cheapest; ask the planner what it would do at scale.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
        assert "contact_first_prefix" in plan or "contact_last_prefix" in plan
    else:
        assert "USING INDEX contact_first_prefix" in plan or "contact_last_prefix" in plan
