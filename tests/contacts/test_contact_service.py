"""contacts.services.contacts: create, update, upsert, get and metadata merge."""

from __future__ import annotations

import datetime as dt
import decimal
import threading
import uuid

import pytest
from django.db import connection

from contacts.models import Consent, Contact, ContactList, FieldValue, Interaction, Tag
from contacts.services import contacts as contact_service
from contacts.services import fields as field_service
from contacts.services import lists as list_service
from contacts.services.suppression import suppress
from dashboard.actors import Actor, ActorKind
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry
from tests.contacts.helpers import audit_actions, history_kinds, last_audit

pytestmark = pytest.mark.django_db


def _error(call, **kwargs) -> SwitchboardError:
    with pytest.raises(SwitchboardError) as caught:
        call(**kwargs)
    return caught.value


def _read_before_the_others_write(monkeypatch, missed: str) -> None:
    """Make the service's look-up miss what another transaction stores right after it (the
    contact, or whoever holds the email): only the unique index can then catch the clash."""
    real_read = contact_service._read

    def read(*args, **kwargs):
        known = real_read(*args, **kwargs)
        setattr(known, missed, None)
        return known

    monkeypatch.setattr(contact_service, "_read", read)


def _nothing_written() -> None:
    assert not Contact.objects.exists()
    assert not AuditEntry.objects.filter(object_type="contact").exists()
    assert not Interaction.objects.exists()


# --- create_contact ---------------------------------------------------------------------------


def test_it_creates_a_contact_with_normalised_values(staff_actor):
    contact = contact_service.create_contact(
        actor=staff_actor,
        email="  Alice.Smith@Example.COM ",
        phone="07700 123456",
        first_name="  Alice  ",
        last_name="Smíth",
        email_consent=Consent.GRANTED,
        metadata={"plan": "pro"},
    )

    contact.refresh_from_db()
    assert contact.email == "alice.smith@example.com"
    assert contact.phone == "+447700123456"
    assert contact.phone_country == "GB"
    assert (contact.first_name, contact.last_name) == ("Alice", "Smíth")
    assert (contact.first_name_key, contact.last_name_key) == ("alice", "smith")
    assert contact.email_consent == Consent.GRANTED
    assert contact.sms_consent == Consent.UNKNOWN
    assert contact.metadata == {"plan": "pro"}
    assert contact.source == ActorKind.STAFF
    assert contact.version == 1


def test_creating_a_contact_writes_the_audit_trail_and_history(staff_actor, staff_user):
    contact = contact_service.create_contact(
        actor=staff_actor, email="bob@example.com", first_name="Bob"
    )

    entry = last_audit(contact)
    assert entry.action == "contact.create"
    assert entry.actor_kind == ActorKind.STAFF
    assert entry.actor_user == staff_user
    assert entry.actor_label == staff_user.username
    assert entry.object_id == str(contact.pk)
    assert entry.changes["email"] == [None, "bob@example.com"]
    assert entry.changes["first_name"] == [None, "Bob"]
    interaction = contact.interactions.get()
    assert interaction.kind == "created"
    assert interaction.actor_user == staff_user


def test_an_agent_created_contact_remembers_its_source_and_prompt_version(db):
    agent = Actor.agent(7, "Lead finder", prompt_version_id=3)
    contact = contact_service.create_contact(actor=agent, email="lead@example.com")

    assert contact.source == ActorKind.AGENT
    entry = last_audit(contact)
    assert (entry.actor_kind, entry.actor_ref, entry.prompt_version_id) == ("agent", "7", 3)
    assert contact.interactions.get().actor_label == "Lead finder"


def test_it_creates_a_contact_with_fields_tags_and_lists(staff_actor):
    field_service.create_field(actor=staff_actor, name="Age", type="number")
    vip = list_service.create_list(actor=staff_actor, name="VIP")

    contact = contact_service.create_contact(
        actor=staff_actor,
        email="carol@example.com",
        fields={"age": "42"},
        tags=["customer", "  early   bird "],
        list_ids=[vip.pk],
    )

    assert contact.field_values.get().value_number == decimal.Decimal("42")
    assert sorted(contact.tags.values_list("name", flat=True)) == ["customer", "early bird"]
    assert list(contact.lists.all()) == [vip]
    assert last_audit(contact).action == "contact.list_add"
    create = AuditEntry.objects.get(contact_id=contact.pk, action="contact.create")
    assert create.changes["field:Age"] == [None, "42.000000"]
    assert history_kinds(contact) == ["created", "tagged", "tagged", "list_added"]


@pytest.mark.parametrize("email", ["", "   ", "not-an-email", "a@b", "alice@@example.com"])
def test_it_refuses_an_invalid_email(staff_actor, email):
    error = _error(contact_service.create_contact, actor=staff_actor, email=email)

    assert error.code == "invalid_email"
    assert error.field == "email"
    _nothing_written()


def test_it_refuses_an_email_longer_than_an_address_can_be(staff_actor):
    # Valid by its parts (labels of 60), but past the 254 characters the column holds.
    email = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".com"

    error = _error(contact_service.create_contact, actor=staff_actor, email=email)

    assert error.code == "invalid_email"
    assert "at most 254 characters" in error.message
    _nothing_written()


@pytest.mark.parametrize(
    "other",
    [
        "ana@exa\u0308mple.com",  # the same domain, its accent typed as a combining mark
        "ana@EXA\u0308MPLE.com",
        "ana@ex\u00e4mple.com\u200b",  # pasted with a zero-width space
        "ana@ex\u00e4m\u00adple.com",  # and with a soft hyphen
        "ana@\uff45\uff58\u00e4mple.com",  # full-width letters
    ],
)
def test_one_mailbox_however_its_domain_is_spelled_is_one_contact(staff_actor, make_contact, other):
    make_contact(email="ana@ex\u00e4mple.com")

    error = _error(contact_service.create_contact, actor=staff_actor, email=other)

    assert error.code == "duplicate_email"
    contact, created = contact_service.upsert_contact(actor=staff_actor, email=other)
    assert not created
    assert contact.email == "ana@ex\u00e4mple.com"


@pytest.mark.parametrize(
    "pasted",
    [
        "bo@example.com\u200b",  # a zero-width space after the domain
        "b\u200bo@example.com",  # and before the @, where the domain's rules do not reach
        "\u200ebo\u00ad@example.com",  # a direction mark and a soft hyphen
        "bo\uff20example.com",  # a full-width @, as a Japanese keyboard types it
        "\uff42\uff4f@example.com",  # full-width letters
    ],
)
def test_an_address_pasted_with_a_hidden_character_is_stored_without_it(staff_actor, pasted):
    contact = contact_service.create_contact(actor=staff_actor, email=pasted)

    assert contact.email == "bo@example.com"
    assert contact_service.upsert_contact(actor=staff_actor, email=pasted) == (contact, False)


def test_a_domain_holding_a_character_no_domain_may_hold_is_an_invalid_email(staff_actor):
    error = _error(contact_service.create_contact, actor=staff_actor, email="bo@exa\u2028mple.com")

    assert error.code == "invalid_email"
    _nothing_written()


@pytest.mark.parametrize("other", ["dup@example.com", "DUP@example.com", " Dup@Example.Com "])
def test_it_refuses_a_duplicate_email_in_any_letter_case(staff_actor, make_contact, other):
    make_contact(email="dup@example.com", first_name="First")

    error = _error(contact_service.create_contact, actor=staff_actor, email=other)

    assert error.code == "duplicate_email"
    assert error.field == "email"
    assert "dup@example.com" in error.message
    assert Contact.objects.get().first_name == "First"


def test_it_refuses_a_duplicate_email_that_a_concurrent_insert_just_stored(
    staff_actor, make_contact, monkeypatch
):
    # The other request inserts between our "is it free?" check and our INSERT: the unique
    # index is what catches it, and the caller still gets duplicate_email, not a crash.
    make_contact(email="race@example.com")
    _read_before_the_others_write(monkeypatch, "contact")

    error = _error(contact_service.create_contact, actor=staff_actor, email="Race@example.com")

    assert error.code == "duplicate_email"
    assert Contact.objects.count() == 1
    assert AuditEntry.objects.filter(action="contact.create").count() == 1


@pytest.mark.parametrize("phone", ["12345", "not a phone", "+44 20", "07700 900123"])
def test_it_refuses_an_invalid_phone(staff_actor, phone):
    error = _error(
        contact_service.create_contact, actor=staff_actor, email="a@example.com", phone=phone
    )

    assert error.code == "invalid_phone"
    assert error.field == "phone"
    assert phone.strip() in error.message or "not a phone" in error.message
    _nothing_written()


def test_a_national_number_uses_the_given_default_region(staff_actor):
    contact = contact_service.create_contact(
        actor=staff_actor, email="fr@example.com", phone="06 12 34 56 78", default_region="FR"
    )

    assert (contact.phone, contact.phone_country) == ("+33612345678", "FR")


@pytest.mark.parametrize(
    ("attrs", "code", "field"),
    [
        ({"first_name": "x" * 101}, "invalid_name", "first_name"),
        ({"last_name": "y" * 101}, "invalid_name", "last_name"),
        ({"sms_consent": "maybe"}, "invalid_consent", "sms_consent"),
        ({"email_consent": "yes"}, "invalid_consent", "email_consent"),
        ({"metadata": ["not", "an", "object"]}, "invalid_metadata", "metadata"),
        ({"metadata": {"blob": "x" * 70_000}}, "invalid_metadata", "metadata"),
        ({"fields": {"Shoe size": "9"}}, "unknown_field", "Shoe size"),
        ({"tags": ["ok", ""]}, "invalid_tag", "tags[1]"),
        ({"list_ids": [999_999]}, "unknown_list", "list_id"),
    ],
)
def test_it_refuses_bad_input_and_writes_nothing(staff_actor, attrs, code, field):
    error = _error(
        contact_service.create_contact, actor=staff_actor, email="someone@example.com", **attrs
    )

    assert (error.code, error.field) == (code, field)
    assert error.message
    _nothing_written()


def test_a_full_list_rolls_back_the_whole_creation(staff_actor, make_contact):
    full = list_service.create_list(actor=staff_actor, name="Pilot", limit=1)
    list_service.add_to_list(actor=staff_actor, contact=make_contact(), contact_list=full)
    before = AuditEntry.objects.count()

    error = _error(
        contact_service.create_contact,
        actor=staff_actor,
        email="late@example.com",
        tags=["brand-new-tag"],
        list_ids=[full.pk],
    )

    assert error.code == "list_full"
    assert not Contact.objects.filter(email="late@example.com").exists()
    assert not Tag.objects.filter(name="brand-new-tag").exists()
    assert AuditEntry.objects.count() == before


def test_it_refuses_a_suppressed_email_or_phone(staff_actor):
    suppress(email="gone@example.com", phone="+447700123456", reason="erased")

    by_email = _error(contact_service.create_contact, actor=staff_actor, email="GONE@example.com")
    by_phone = _error(
        contact_service.create_contact,
        actor=staff_actor,
        email="new@example.com",
        phone="07700 123456",
    )

    assert by_email.code == by_phone.code == "suppressed"
    assert by_email.details["reason"] == "erased"
    _nothing_written()


@pytest.mark.parametrize(
    ("change", "field"),
    [({"email": "Gone@example.com"}, "email"), ({"phone": "07700 123456"}, "phone")],
)
def test_an_edit_cannot_give_a_contact_an_erased_persons_email_or_phone(
    staff_actor, make_contact, change, field
):
    contact = make_contact(email="kept@example.com", phone="+447400123456")
    suppress(email="gone@example.com", phone="+447700123456", reason="erased")

    error = _error(contact_service.update_contact, actor=staff_actor, contact=contact, **change)

    assert (error.code, error.field) == ("suppressed", field)
    contact.refresh_from_db()
    assert (contact.email, contact.phone, contact.version) == (
        "kept@example.com",
        "+447400123456",
        1,
    )


def test_an_upsert_cannot_give_an_existing_contact_an_erased_persons_phone(
    staff_actor, make_contact
):
    make_contact(email="kept@example.com")
    suppress(phone="+447700123456", reason="erased")

    error = _error(
        contact_service.upsert_contact,
        actor=staff_actor,
        email="kept@example.com",
        phone="+447700123456",
    )

    assert (error.code, error.field) == ("suppressed", "phone")
    assert Contact.objects.get().phone == ""


def test_a_contact_sharing_an_erased_persons_landline_can_still_be_edited(
    staff_actor, make_contact
):
    # The family landline: the erased person's number is suppressed, the relative keeps it.
    relative = make_contact(email="relative@example.com", phone="+442079460000")
    suppress(phone="+442079460000", reason="erased")

    contact = contact_service.update_contact(
        actor=staff_actor, contact=relative, phone="020 7946 0000", first_name="Rel"
    )

    assert (contact.phone, contact.first_name) == ("+442079460000", "Rel")


def test_staff_can_undo_an_unsubscribe(staff_actor, make_contact):
    contact = make_contact(email="back@example.com")
    contact_service.update_contact(actor=staff_actor, contact=contact, unsubscribed=True)

    again = contact_service.update_contact(actor=staff_actor, contact=contact, unsubscribed=False)

    assert not again.is_unsubscribed


# --- get_contact ------------------------------------------------------------------------------


def test_get_contact_finds_a_contact_by_id_or_its_string(make_contact):
    contact = make_contact()

    assert contact_service.get_contact(contact.pk) == contact
    assert contact_service.get_contact(str(contact.pk)) == contact


@pytest.mark.parametrize("contact_id", [uuid.uuid4(), "not-a-uuid", ""])
def test_get_contact_answers_unknown_contact(db, contact_id):
    error = _error(contact_service.get_contact, contact_id=contact_id)

    assert error.code == "unknown_contact"


# --- merge_metadata ---------------------------------------------------------------------------


def test_metadata_merge_adds_overwrites_and_removes_keys():
    current = {"plan": "free", "seats": 1, "legacy": True}

    merged = contact_service.merge_metadata(
        current, {"plan": "pro", "region": "eu", "legacy": None, "absent": None}
    )

    assert merged == {"plan": "pro", "seats": 1, "region": "eu"}
    assert current == {"plan": "free", "seats": 1, "legacy": True}, "input left untouched"


def test_metadata_merge_keeps_nested_values_and_falsy_values():
    merged = contact_service.merge_metadata({}, {"tags": ["a"], "n": 0, "ok": False, "s": ""})

    assert merged == {"tags": ["a"], "n": 0, "ok": False, "s": ""}


def test_no_metadata_patch_keeps_the_current_metadata():
    assert contact_service.merge_metadata({"a": 1}, None) == {"a": 1}


@pytest.mark.parametrize("patch", ["text", 42, ["a"]])
def test_metadata_must_be_an_object(patch):
    with pytest.raises(SwitchboardError) as caught:
        contact_service.merge_metadata({}, patch)

    assert caught.value.code == "invalid_metadata"


@pytest.mark.parametrize(
    ("patch", "problem"),
    [
        ({"score": float("nan")}, "the number nan"),
        ({"deep": {"list": [1, float("inf")]}}, "the number inf"),
        ({"note": "a\x00b"}, "NUL characters"),
        ({"note": ["\ud800"]}, "unpaired UTF-16 surrogates"),
        ({"\ud800": 1}, "unpaired UTF-16 surrogates"),
    ],
)
def test_metadata_no_database_can_store_is_refused_with_what_is_wrong(
    staff_actor, make_contact, patch, problem
):
    contact = make_contact(metadata={"plan": "pro"})

    error = _error(
        contact_service.update_contact, actor=staff_actor, contact=contact, metadata=patch
    )

    assert (error.code, error.field) == ("invalid_metadata", "metadata")
    assert problem in error.message
    contact.refresh_from_db()
    assert contact.metadata == {"plan": "pro"}


def test_a_failed_save_that_is_no_email_clash_is_not_reported_as_one(
    staff_actor, make_contact, monkeypatch
):
    from django.db import IntegrityError

    contact = make_contact(email="same@example.com")

    def failing_send(self):
        raise IntegrityError("CHECK constraint failed: version")

    monkeypatch.setattr(contact_service._Writes, "send", failing_send)
    with pytest.raises(IntegrityError):
        contact_service.update_contact(
            actor=staff_actor, contact=contact, email="new@example.com", first_name="New"
        )


# --- update_contact ---------------------------------------------------------------------------


def test_it_updates_only_the_given_attributes(staff_actor, make_contact):
    contact = make_contact(email="eve@example.com", first_name="Eve", last_name="Adams")

    updated = contact_service.update_contact(
        actor=staff_actor, contact=contact, last_name="Ádams-Lee", phone="+33 6 12 34 56 78"
    )

    updated.refresh_from_db()
    assert updated.first_name == "Eve"
    assert updated.last_name == "Ádams-Lee"
    assert updated.last_name_key == "adams-lee"
    assert (updated.phone, updated.phone_country) == ("+33612345678", "FR")
    assert updated.version == 2
    assert updated.updated_at > contact.updated_at


def test_an_update_writes_before_and_after_values(staff_actor, staff_user, make_contact):
    contact = make_contact(email="old@example.com", first_name="Old")

    contact_service.update_contact(
        actor=staff_actor, contact=contact, email="New@Example.com", first_name="New"
    )

    entry = last_audit(contact)
    assert entry.action == "contact.update"
    assert entry.actor_user == staff_user
    assert entry.changes == {
        "email": ["old@example.com", "new@example.com"],
        "first_name": ["Old", "New"],
    }
    interaction = contact.interactions.first()
    assert interaction.kind == "updated"
    assert interaction.description == "Changed email, first_name"


def test_an_update_that_changes_nothing_records_nothing(staff_actor, make_contact):
    contact = make_contact(first_name="Same")
    before = (AuditEntry.objects.count(), Interaction.objects.count())

    updated = contact_service.update_contact(
        actor=staff_actor, contact=contact, first_name=" Same ", metadata={}
    )

    assert updated.version == 1
    assert (AuditEntry.objects.count(), Interaction.objects.count()) == before


def test_an_update_accepts_a_contact_id(staff_actor, make_contact):
    contact = make_contact()

    contact_service.update_contact(actor=staff_actor, contact=str(contact.pk), first_name="Ida")

    contact.refresh_from_db()
    assert contact.first_name == "Ida"


@pytest.mark.parametrize("contact_id", [uuid.uuid4(), "nope"])
def test_updating_an_unknown_contact_answers_unknown_contact(staff_actor, contact_id):
    error = _error(
        contact_service.update_contact, actor=staff_actor, contact=contact_id, first_name="X"
    )

    assert error.code == "unknown_contact"


def test_an_update_merges_metadata(staff_actor, make_contact):
    contact = make_contact(metadata={"plan": "free", "seats": 3, "legacy": "yes"})

    contact_service.update_contact(
        actor=staff_actor, contact=contact, metadata={"plan": "pro", "legacy": None, "eu": True}
    )

    contact.refresh_from_db()
    assert contact.metadata == {"plan": "pro", "seats": 3, "eu": True}
    assert last_audit(contact).changes["metadata"] == [
        {"plan": "free", "seats": 3, "legacy": "yes"},
        {"plan": "pro", "seats": 3, "eu": True},
    ]


def test_an_update_to_an_email_in_use_is_refused_in_any_letter_case(staff_actor, make_contact):
    make_contact(email="taken@example.com")
    contact = make_contact(email="mine@example.com", first_name="Mine")

    error = _error(
        contact_service.update_contact,
        actor=staff_actor,
        contact=contact,
        email="TAKEN@example.com",
        first_name="Changed",
    )

    assert error.code == "duplicate_email"
    contact.refresh_from_db()
    assert (contact.email, contact.first_name, contact.version) == ("mine@example.com", "Mine", 1)


def test_an_update_that_loses_the_email_race_is_refused(staff_actor, make_contact, monkeypatch):
    make_contact(email="taken@example.com")
    contact = make_contact(email="mine@example.com")
    _read_before_the_others_write(monkeypatch, "email_owner")

    error = _error(
        contact_service.update_contact,
        actor=staff_actor,
        contact=contact,
        email="taken@example.com",
    )

    assert error.code == "duplicate_email"
    contact.refresh_from_db()
    assert contact.email == "mine@example.com"


def test_changing_only_the_case_of_ones_own_email_is_not_a_duplicate(staff_actor, make_contact):
    contact = make_contact(email="me@example.com")

    updated = contact_service.update_contact(
        actor=staff_actor, contact=contact, email="ME@example.com"
    )

    assert updated.email == "me@example.com"
    assert updated.version == 1


@pytest.mark.parametrize(
    ("attrs", "code"),
    [
        ({"email": "broken"}, "invalid_email"),
        ({"phone": "123"}, "invalid_phone"),
        ({"email_consent": "perhaps"}, "invalid_consent"),
        ({"metadata": "text"}, "invalid_metadata"),
        ({"fields": {"Unknown": 1}}, "unknown_field"),
        ({"fields": {"Age": "old"}}, "invalid_field_value"),
        ({"list_ids": [424242]}, "unknown_list"),
    ],
)
def test_a_refused_update_leaves_the_contact_as_it_was(staff_actor, make_contact, attrs, code):
    field_service.create_field(actor=staff_actor, name="Age", type="number")
    contact = make_contact(first_name="Kept", phone="07700 123456", metadata={"a": 1})
    before = (AuditEntry.objects.count(), Interaction.objects.count())

    error = _error(
        contact_service.update_contact,
        actor=staff_actor,
        contact=contact,
        first_name="Lost",
        **attrs,
    )

    assert error.code == code
    contact.refresh_from_db()
    assert (contact.first_name, contact.phone, contact.metadata) == (
        "Kept",
        "+447700123456",
        {"a": 1},
    )
    assert contact.version == 1
    assert (AuditEntry.objects.count(), Interaction.objects.count()) == before


def test_a_stale_edit_is_refused_and_names_who_changed_it(staff_actor, make_contact):
    contact = make_contact(first_name="Original")
    other = Actor.agent(3, "Helper bot")
    contact_service.update_contact(actor=other, contact=contact, first_name="Agent edit")

    error = _error(
        contact_service.update_contact,
        actor=staff_actor,
        contact=contact,
        expected_version=1,
        first_name="Staff edit",
    )

    assert error.code == "edit_conflict"
    assert "Helper bot" in error.message
    assert error.details["current_version"] == 2
    contact.refresh_from_db()
    assert contact.first_name == "Agent edit"


def test_a_stale_edit_names_the_other_editor_not_the_editors_own_later_save(
    staff_actor, make_contact
):
    contact = make_contact(first_name="Original")
    contact_service.update_contact(
        actor=Actor.agent(3, "Helper bot"), contact=contact, first_name="Agent edit"
    )
    contact_service.update_contact(actor=staff_actor, contact=contact, metadata={"k": 1})

    error = _error(
        contact_service.update_contact,
        actor=staff_actor,
        contact=contact,
        expected_version=1,
        first_name="Staff edit",
    )

    assert "changed by Helper bot while" in error.message


def test_an_edit_based_on_the_current_version_is_saved(staff_actor, make_contact):
    contact = make_contact()

    updated = contact_service.update_contact(
        actor=staff_actor, contact=contact, expected_version=1, first_name="Fresh"
    )

    assert (updated.first_name, updated.version) == ("Fresh", 2)


def test_unsubscribing_is_recorded_as_such_and_kept_once_set(staff_actor, make_contact):
    contact = make_contact()

    first = contact_service.update_contact(actor=staff_actor, contact=contact, unsubscribed=True)
    again = contact_service.update_contact(actor=staff_actor, contact=contact, unsubscribed=True)

    assert first.unsubscribed_at is not None
    assert again.unsubscribed_at == first.unsubscribed_at
    assert again.version == 2
    assert contact.interactions.first().kind == "unsubscribed"


def test_custom_field_values_are_set_changed_and_cleared(staff_actor, make_contact):
    field_service.create_field(actor=staff_actor, name="Birthday", type="date")
    contact = make_contact()

    contact_service.update_contact(
        actor=staff_actor, contact=contact, fields={"birthday": "1990-05-17"}
    )
    assert contact.field_values.get().value_date == dt.date(1990, 5, 17)
    assert last_audit(contact).changes == {"field:Birthday": [None, "1990-05-17"]}

    contact_service.update_contact(actor=staff_actor, contact=contact, fields={"Birthday": ""})
    assert not FieldValue.objects.filter(contact=contact).exists()
    assert last_audit(contact).changes == {"field:Birthday": ["1990-05-17", None]}
    contact.refresh_from_db()
    assert contact.version == 3
    assert contact.interactions.first().description == "Changed Birthday"


def test_an_update_adds_tags_and_lists(staff_actor, make_contact):
    news = list_service.create_list(actor=staff_actor, name="Newsletter")
    contact = make_contact(tags=["old"])

    contact_service.update_contact(
        actor=staff_actor, contact=contact, tags=["new"], list_ids=[news.pk]
    )

    assert sorted(contact.tags.values_list("name", flat=True)) == ["new", "old"]
    assert list(contact.lists.all()) == [news]


# --- upsert_contact ---------------------------------------------------------------------------


def test_upsert_creates_a_new_contact(staff_actor):
    contact, created = contact_service.upsert_contact(
        actor=staff_actor, email="New@Example.com", first_name="Nia"
    )

    assert created is True
    assert (contact.email, contact.first_name) == ("new@example.com", "Nia")


def test_upsert_updates_the_contact_with_that_email_in_any_case(staff_actor, make_contact):
    existing = make_contact(email="known@example.com", first_name="Kim", metadata={"a": 1})

    contact, created = contact_service.upsert_contact(
        actor=staff_actor,
        email="KNOWN@example.com",
        last_name="Lee",
        first_name=None,  # None means "not given" for an upsert, not "clear it"
        metadata={"b": 2},
    )

    assert created is False
    assert contact.pk == existing.pk
    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name) == ("Kim", "Lee")
    assert contact.metadata == {"a": 1, "b": 2}
    assert Contact.objects.count() == 1
    assert audit_actions(contact) == ["contact.create", "contact.update"]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_upserts_of_one_email_make_one_contact(system_actor, monkeypatch):
    """Both requests miss the look-up, both insert: the loser updates the winner's row."""
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers; SQLite serialises them")
    real_insert = contact_service._insert
    both_looked = threading.Barrier(2, timeout=10)

    def insert_once_both_looked(**kwargs):
        both_looked.wait()
        return real_insert(**kwargs)

    monkeypatch.setattr(contact_service, "_insert", insert_once_both_looked)
    results: list[tuple[Contact, bool]] = []
    errors: list[BaseException] = []

    def upsert(first_name: str) -> None:
        try:
            results.append(
                contact_service.upsert_contact(
                    actor=system_actor, email="race@example.com", **{"first_name": first_name}
                )
            )
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=upsert, args=(name,)) for name in ("One", "Two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert sorted(created for _, created in results) == [False, True]
    contact = Contact.objects.get(email="race@example.com")
    assert audit_actions(contact) == ["contact.create", "contact.update"]


def test_upsert_applies_a_tag_named_twice_once(staff_actor, make_contact):
    contact, created = contact_service.upsert_contact(
        actor=staff_actor, email="twice@example.com", tags=["vip", "VIP", " vip "]
    )
    assert created
    assert [t.name for t in contact.tags.all()] == ["vip"]
    assert audit_actions(contact) == ["contact.create", "contact.tag"]
    assert history_kinds(contact) == ["created", "tagged"]
    # Again, with one tag it has and one it has not: only the new one is recorded.
    contact_service.upsert_contact(
        actor=staff_actor, email="twice@example.com", tags=["VIP", "new"]
    )
    assert sorted(t.name for t in contact.tags.all()) == ["new", "vip"]
    assert audit_actions(contact) == ["contact.create", "contact.tag", "contact.tag"]
    assert last_audit(contact).changes == {"tags": [None, "new"]}
    assert Tag.objects.count() == 2
    assert list(
        AuditEntry.objects.filter(action="tag.create")
        .order_by("id")
        .values_list("object_repr", flat=True)
    ) == ["vip", "new"]


def test_upsert_refuses_an_invalid_email(staff_actor):
    error = _error(contact_service.upsert_contact, actor=staff_actor, email="nope")

    assert error.code == "invalid_email"
    _nothing_written()


def test_upsert_passes_on_other_creation_errors(staff_actor):
    error = _error(
        contact_service.upsert_contact, actor=staff_actor, email="x@example.com", phone="1"
    )

    assert error.code == "invalid_phone"
    _nothing_written()


def test_upsert_into_a_full_list_changes_nothing(staff_actor, make_contact):
    full = list_service.create_list(actor=staff_actor, name="Tiny", limit=1)
    list_service.add_to_list(actor=staff_actor, contact=make_contact(), contact_list=full)
    contact = make_contact(email="known@example.com", first_name="Kim")

    error = _error(
        contact_service.upsert_contact,
        actor=staff_actor,
        email="known@example.com",
        first_name="Changed",
        list_ids=[full.pk],
    )

    assert error.code == "list_full"
    contact.refresh_from_db()
    assert (contact.first_name, contact.version) == ("Kim", 1)
    assert ContactList.objects.get().memberships.count() == 1
