"""Tags and custom fields are found by name through their case-insensitive unique index.

Agents name a tag on nearly every upsert and create tags on the fly, so the tag table grows
with use; a lookup that scans it (``iexact``) would slow every write as it does.
"""

from __future__ import annotations

import pytest
from django.db import connection

from contacts.models import Field, Tag
from contacts.services import tags as tag_service

pytestmark = pytest.mark.django_db


def test_a_name_matches_whatever_its_letter_case(staff_actor):
    vip = tag_service.get_or_create_tag(actor=staff_actor, name="VIP")
    Field.objects.create(name="Lead_Score", type="number")

    assert list(Tag.objects.named("vip")) == [vip]
    assert list(Tag.objects.named("Vip")) == [vip]
    assert Field.objects.named("lead_score").get().name == "Lead_Score"
    assert not Tag.objects.named("vi").exists()
    # Wildcards are plain characters, as they are to the unique index.
    assert not Tag.objects.named("V%").exists()
    assert not Tag.objects.named("V_P").exists()


def test_get_or_create_finds_the_existing_tag_in_any_case(staff_actor):
    first = tag_service.get_or_create_tag(actor=staff_actor, name="Newsletter")
    again = tag_service.get_or_create_tag(actor=staff_actor, name="NEWSLETTER")

    assert again == first
    assert Tag.objects.count() == 1


def test_find_tag_tidies_spaces_as_tags_are_made(staff_actor):
    tag = tag_service.get_or_create_tag(actor=staff_actor, name="  Big   Spender ")

    assert tag.name == "Big Spender"
    assert tag_service.find_tag("big spender ") == tag
    assert tag_service.find_tag(" BIG  SPENDER") == tag
    assert tag_service.find_tag("big") is None
    assert tag_service.find_tag("") is None


def _plan(queryset) -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Only a few rows here: tell the planner to prefer an index it can use.
            cursor.execute("SET LOCAL enable_seqscan = off")
    return queryset.explain()


@pytest.mark.parametrize(
    ("model", "index"), [(Tag, "tag_name_unique_ci"), (Field, "field_name_unique_ci")]
)
def test_a_lookup_by_name_probes_the_unique_index(model, index):
    assert index in _plan(model.objects.named("vip").values("pk"))
