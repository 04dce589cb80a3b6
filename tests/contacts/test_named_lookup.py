"""Tags and custom fields are found by name through their case-insensitive unique index.

Agents name a tag on nearly every upsert and create tags on the fly, so the tag table grows
with use; a lookup that scans it (``iexact``) would slow every write as it does.
"""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.db import IntegrityError, connection, transaction

from contacts.models import Field, Tag
from contacts.services import contacts as contact_service
from contacts.services import tags as tag_service
from dashboard.errors import SwitchboardError

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


# Letters beyond A-Z: SQLite's own LOWER() leaves them as they are, PostgreSQL's folds them.
# (Custom-field names are A-Z only when made through the service; the index is the same.)
@pytest.mark.parametrize(
    ("stored", "typed"), [("Émile", "émile"), ("ÖL", "öl"), ("Ωmega", "ωMEGA")]
)
def test_names_beyond_ascii_match_whatever_their_letter_case(staff_actor, stored, typed):
    tag = tag_service.get_or_create_tag(actor=staff_actor, name=stored)
    field = Field.objects.create(name=stored, type="text")

    assert tag_service.get_or_create_tag(actor=staff_actor, name=typed) == tag
    assert list(Tag.objects.named(typed)) == [tag]
    assert list(Tag.objects.named_any([typed])) == [tag]
    assert tag_service.find_tag(typed.upper()) == tag
    assert list(Field.objects.named(typed)) == [field]
    assert Tag.objects.count() == 1


def test_a_second_tag_differing_only_in_accented_letter_case_is_refused(staff_actor):
    tag = tag_service.create_tag(actor=staff_actor, name="Émile")
    other = tag_service.create_tag(actor=staff_actor, name="Zoé")

    with pytest.raises(SwitchboardError) as created:
        tag_service.create_tag(actor=staff_actor, name="ÉMILE")
    with pytest.raises(SwitchboardError) as renamed:
        tag_service.rename_tag(actor=staff_actor, tag=other, name="émile")

    assert (created.value.code, renamed.value.code) == ("duplicate_tag", "duplicate_tag")
    assert tag_service.rename_tag(actor=staff_actor, tag=tag, name="ÉMILE").name == "ÉMILE"
    # The unique indexes agree, whoever writes the row.
    Field.objects.create(name="Région", type="text")
    for model, extra in ((Tag, {}), (Field, {"type": "text"})):
        with pytest.raises(IntegrityError), transaction.atomic():
            model.objects.create(name="émile" if model is Tag else "RÉGION", **extra)


def test_an_upsert_naming_a_tag_and_field_in_another_case_uses_the_existing_ones(
    staff_actor, system_actor
):
    tag = tag_service.create_tag(actor=staff_actor, name="Émile")
    field = Field.objects.create(name="Région", type="text")

    contact = contact_service.create_contact(
        actor=system_actor, email="ann@example.com", tags=["émile"], fields={"RÉGION": "Nord"}
    )

    assert list(contact.tags.all()) == [tag]
    assert contact.field_values.get().field == field
    assert Tag.objects.count() == Field.objects.count() == 1


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


def _index_sql(name: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = %s", [name])
        row = cursor.fetchone()
    return row[0] if row else None


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL's LOWER() always folded")
@pytest.mark.django_db(transaction=True)
def test_the_migration_rebuilds_sqlite_name_indexes_renaming_names_that_now_collide():
    migration = importlib.import_module(
        "contacts.migrations.0015_fold_every_letter_in_name_indexes"
    )
    unique_sql = {name: _index_sql(name) for name in ("tag_name_unique_ci", "field_name_unique_ci")}
    # As a database from before: an index that let "Émile" and "émile" be two tags.
    for table, index in (
        ("contacts_tag", "tag_name_unique_ci"),
        ("contacts_field", "field_name_unique_ci"),
    ):
        with connection.cursor() as cursor:
            cursor.execute(f'DROP INDEX "{index}"')
            cursor.execute(f'CREATE INDEX "{index}" ON "{table}" (LOWER("name"))')
    try:
        for name in ("Émile", "émile", "ÉMILE", "émile (2)", "Zoé"):
            Tag.objects.create(name=name)
        Field.objects.create(name="Région", type="text")
        Field.objects.create(name="région", type="text")

        with connection.schema_editor() as editor:
            migration.rebuild(django_apps, editor)

        assert list(Tag.objects.order_by("pk").values_list("name", flat=True)) == [
            "Émile", "émile (3)", "ÉMILE (4)", "émile (2)", "Zoé",
        ]  # fmt: skip
        assert list(Field.objects.order_by("pk").values_list("name", flat=True)) == [
            "Région", "région (2)",
        ]  # fmt: skip
        assert {n: _index_sql(n) for n in unique_sql} == unique_sql
        with pytest.raises(IntegrityError), transaction.atomic():
            Tag.objects.create(name="ÉmIlE")
    finally:  # never leave the other tests without their unique indexes
        for name, sql in unique_sql.items():
            if _index_sql(name) != sql:
                with connection.cursor() as cursor:
                    cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
                    cursor.execute(sql)
