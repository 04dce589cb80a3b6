"""How contact search gets its rows on SQLite: through a filter's index, or by walking the sort.

SQLite has no statistics for prefix ranges, so ``search_contacts`` counts the matches and
picks the plan itself (PostgreSQL's planner does that on its own). Whichever plan it picks,
the same contacts must come back in the same order.
"""

from __future__ import annotations

import pytest
from django.db import connection

from contacts.services import lists as list_service
from contacts.services import search
from contacts.services.search import search_contacts

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowd(make_contact, staff_actor):
    """Many Smiths (a broad search), one Keys (a narrow one), tags and a list on some."""
    smiths = [
        make_contact(
            email=f"smith{i}@example.com",
            first_name="Alice" if i % 2 else "Bob",
            last_name="Smith",
            phone=f"+44 7700 1234{i:02d}",
            tags=["customer"] + (["vip"] if i == 3 else []),
        )
        for i in range(12)
    ]
    keys = make_contact(
        email="alicia@corp.example",
        first_name="Alicia",
        last_name="Keys",
        phone="+34 612 345 678",
        tags=["vip"],
    )
    press = list_service.create_list(actor=staff_actor, name="Press")
    for contact in (smiths[0], smiths[5], keys):
        list_service.add_to_list(actor=staff_actor, contact=contact, contact_list=press)
    tags = {tag.name: tag.pk for contact in (smiths[3],) for tag in contact.tags.all()}
    return {"tags": tags, "press": press.pk}


def _ids_when(monkeypatch, *, walk: bool, **kwargs) -> list[str]:
    # A walk that costs nothing is always chosen; one that costs a fortune never is.
    monkeypatch.setattr(search, "WALK_COST", {})
    monkeypatch.setattr(search, "WALK_COST_OTHER", 0.0 if walk else 1e12)
    return [c.email for c in search_contacts(**kwargs)]


@pytest.mark.parametrize(
    ("kwargs", "count"),
    [
        ({"q": "smith"}, 12),
        ({"q": "ali"}, 7),
        ({"q": "alice smi"}, 6),
        ({"q": "smith bo"}, 6),
        ({"q": "smith3@"}, 1),
        ({"q": "07700 123405"}, 1),
        ({"q": "+44 7700 1234"}, 12),
        ({"q": "+34 612 345 678"}, 1),
        ({"q": "smith", "sort": "name"}, 12),
        ({"q": "a", "sort": "-email"}, 7),
    ],
)
def test_walking_the_sort_order_finds_what_the_prefix_index_finds(
    crowd, monkeypatch, kwargs, count
):
    walked = _ids_when(monkeypatch, walk=True, **kwargs)
    driven = _ids_when(monkeypatch, walk=False, **kwargs)

    assert walked == driven
    assert len(walked) == count


def test_tag_and_list_filters_give_the_same_rows_either_way(crowd, monkeypatch):
    vip, customer, press = crowd["tags"]["vip"], crowd["tags"]["customer"], crowd["press"]
    for kwargs, expected in [
        ({"tag_id": vip}, {"smith3@example.com", "alicia@corp.example"}),
        ({"tag_id": customer, "q": "bob"}, {f"smith{i}@example.com" for i in range(0, 12, 2)}),
        ({"list_id": press}, {"smith0@example.com", "smith5@example.com", "alicia@corp.example"}),
        ({"list_id": press, "tag_id": vip}, {"alicia@corp.example"}),
    ]:
        walked = _ids_when(monkeypatch, walk=True, **kwargs)
        driven = _ids_when(monkeypatch, walk=False, **kwargs)
        assert walked == driven
        assert set(walked) == expected


def test_an_exact_phone_found_by_walking_does_not_match_longer_numbers(
    crowd, make_contact, monkeypatch
):
    # Berlin numbers differ in length: the shorter one is a prefix of the longer one.
    make_contact(email="short@example.de", phone="+49 30 1234567")
    make_contact(email="long@example.de", phone="+49 30 12345678")

    assert _ids_when(monkeypatch, walk=True, q="+49 30 1234567") == ["short@example.de"]
    assert _ids_when(monkeypatch, walk=False, q="+49 30 1234567") == ["short@example.de"]


def _plan(**kwargs) -> str:
    return search_contacts(**kwargs)[:26].explain()


def test_on_sqlite_a_broad_search_walks_the_newest_first_index(crowd):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's planner chooses by its own statistics")
    assert "USING INDEX contact_updated" in _plan(q="smith")


def test_on_sqlite_a_narrow_search_starts_from_the_prefix_index(crowd):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's planner chooses by its own statistics")
    plan = _plan(q="alicia keys")
    assert "contact_first_prefix" in plan
    assert "contact_updated" not in plan
    assert "USING INDEX contact_phone_prefix (phone=?)" in _plan(q="+34 612 345 678")


def test_on_sqlite_a_search_sorted_by_name_never_walks_the_name_order(crowd):
    """The Smiths sit together in name order: walking it from "a" would read most rows first."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's planner chooses by its own statistics")
    plan = _plan(q="smith", sort="name")

    assert "MULTI-INDEX OR" in plan
    assert "SCAN contacts_contact" not in plan


def test_on_sqlite_a_rare_tag_finds_its_contacts_through_the_tag(crowd):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's planner chooses by its own statistics")
    rare = _plan(tag_id=crowd["tags"]["vip"])
    common = _plan(tag_id=crowd["tags"]["customer"])

    assert "contacttag" in rare.splitlines()[0]
    assert "SCAN contacts_contact USING INDEX contact_updated" in common
