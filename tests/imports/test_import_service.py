"""The import service: modes, duplicates, suppression, bad values, dry run, cancel and resume."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.utils import timezone

from contacts.imports import csvreader, runner
from contacts.imports.models import ImportJob, SavedMapping
from contacts.models import Contact, Interaction, Tag
from contacts.services import contacts as contact_service
from contacts.services import fields as field_service
from contacts.services import imports
from contacts.services import lists as list_service
from contacts.services import tags as tag_service
from contacts.services.duplicates import merge_contacts
from contacts.services.erasure import erase_contact
from contacts.services.suppression import suppress
from dashboard import audit
from dashboard.models import AuditEntry

pytestmark = pytest.mark.django_db

HEADER = "Email,First name,Surname,Mobile,Company,Score,Tags\n"


def issues(job: ImportJob) -> list[tuple[int, str, str]]:
    return list(job.issues.values_list("row", "code", "outcome"))


def test_it_creates_contacts_with_normalised_values_fields_and_tags(run, custom_fields):
    job = run(
        HEADER + 'ANN@Example.com, Ann ,Lee,07400 123456,Acme,12.5,"vip, new"\n'
        "bob@example.com,Bob,,+33 6 12 34 56 78,,,\n",
        tag_names=["spring"],
    )
    assert (job.status, job.imported, job.updated, job.skipped, job.invalid) == ("done", 2, 0, 0, 0)
    assert job.total_rows == 2 and job.percent == 100
    ann = Contact.objects.get(email="ann@example.com")
    assert (ann.first_name, ann.last_name, ann.phone, ann.phone_country) == (
        "Ann", "Lee", "+447400123456", "GB",
    )  # fmt: skip
    assert ann.source == "import"
    assert sorted(ann.tags.values_list("name", flat=True)) == ["new", "spring", "vip"]
    assert {fv.field.name: fv.display_value for fv in ann.field_values.all()} == {
        "Company": "Acme",
        "Score": "12.5",
    }
    bob = Contact.objects.get(email="bob@example.com")
    assert (bob.phone, bob.phone_country) == ("+33612345678", "FR")


def test_invisible_characters_pasted_into_tags_do_not_make_a_look_alike_tag(run, staff_actor):
    from contacts.models import Tag
    from contacts.services.tags import get_or_create_tag

    vip = get_or_create_tag(actor=staff_actor, name="VIP")
    run('email,tags\nann@example.com,"VIP\u200b, New\u00ad"\nbob@example.com,\ufeffvip\n')
    assert sorted(Tag.objects.values_list("name", flat=True)) == ["New", "VIP"]
    assert set(vip.contacts.values_list("email", flat=True)) == {
        "ann@example.com",
        "bob@example.com",
    }
    # The trail names the tag as stored, so the history reads right and revert finds it.
    ann = Contact.objects.get(email="ann@example.com")
    recorded = AuditEntry.objects.get(action="contact.create", contact_id=ann.pk)
    assert sorted(recorded.changes["tags"][1]) == ["New", "VIP"]


def test_every_write_has_the_import_job_as_actor(run):
    job = run("email,first name\nann@example.com,Ann\n")
    entry = AuditEntry.objects.get(action="contact.create")
    assert (entry.actor_kind, entry.actor_ref) == ("import", str(job.pk))
    assert entry.changes["email"] == [None, "ann@example.com"]
    interaction = Interaction.objects.get(contact__email="ann@example.com")
    assert interaction.kind == "created" and interaction.actor_ref == str(job.pk)


def test_it_adds_contacts_to_the_chosen_lists(run, system_actor):
    newsletter = list_service.create_list(actor=system_actor, name="Newsletter")
    run("email\nann@example.com\nbob@example.com\n", list_ids=[newsletter.pk])
    assert set(newsletter.contacts.values_list("email", flat=True)) == {
        "ann@example.com",
        "bob@example.com",
    }


def test_a_full_list_gets_no_more_members_and_the_report_says_so(run, system_actor):
    small = list_service.create_list(actor=system_actor, name="Small", limit=1)
    job = run("email\nann@example.com\nbob@example.com\n", list_ids=[small.pk])
    assert job.imported == 2
    assert small.contacts.count() == 1
    assert (3, "list_full", "warning") in issues(job)


@pytest.mark.parametrize(
    "mode, imported, updated, skipped, names",
    [
        ("create", 1, 0, 1, {"old@example.com": "Old", "new@example.com": "New"}),
        ("update", 0, 1, 1, {"old@example.com": "Changed"}),
        ("upsert", 1, 1, 0, {"old@example.com": "Changed", "new@example.com": "New"}),
    ],
)
def test_each_mode_creates_and_updates_what_it_should(
    run, make_existing, mode, imported, updated, skipped, names
):
    make_existing(email="old@example.com", first_name="Old")
    job = run("email,first name\nold@example.com,Changed\nnew@example.com,New\n", mode=mode)
    assert (job.imported, job.updated, job.skipped) == (imported, updated, skipped)
    assert dict(Contact.objects.values_list("email", "first_name")) == names


@pytest.fixture
def make_existing(system_actor):
    def make(**attrs):
        return contact_service.create_contact(actor=system_actor, **attrs)

    return make


def test_skip_reasons_name_the_mode(run, make_existing):
    make_existing(email="old@example.com")
    created = run("email\nold@example.com\n", mode="create")
    assert issues(created) == [(2, "exists", "skipped")]
    updated = run("email\nnobody@example.com\n", mode="update")
    assert issues(updated) == [(2, "not_found", "skipped")]


def test_an_update_keeps_values_the_file_leaves_empty_and_records_before_and_after(
    run, make_existing, custom_fields
):
    old = make_existing(
        email="old@example.com", first_name="Old", last_name="Name", phone="+447400123456",
        fields={"Company": "Acme"}, metadata={"a": "1"},
    )  # fmt: skip
    job = run(
        "email,first name,last name,phone,company,plan\nold@example.com,New,,,Globex,gold\n",
        mapping={"0": "email", "1": "first_name", "2": "last_name", "3": "phone",
                 "4": "field:Company", "5": "meta:plan"},
    )  # fmt: skip
    assert job.updated == 1
    old.refresh_from_db()
    assert (old.first_name, old.last_name, old.phone) == ("New", "Name", "+447400123456")
    assert old.metadata == {"a": "1", "plan": "gold"}
    assert old.version == 2
    entry = AuditEntry.objects.get(action="contact.update", actor_ref=str(job.pk))
    assert entry.changes["first_name"] == ["Old", "New"]
    assert entry.changes["field:Company"] == ["Acme", "Globex"]


def test_re_running_the_same_file_changes_nothing_and_says_so(run):
    data = "email,first name\nann@example.com,Ann\n"
    run(data)
    again = run(data)
    assert (again.imported, again.updated, again.skipped) == (0, 0, 1)
    assert issues(again) == [(2, "unchanged", "skipped")]
    assert Contact.objects.count() == 1


class TestDuplicatesInTheFile:
    DATA = (
        "email,first name,last name\n"
        "ann@example.com,Ann,\n"
        "ANN@example.com,,Lee\n"  # same batch (size 2)
        "x@example.com,X,\n"
        "ann@example.com,Annie,\n"  # a later batch
    )

    def test_create_mode_keeps_the_first_row(self, run):
        job = run(self.DATA, mode="create")
        assert (job.imported, job.skipped) == (2, 2)
        assert Contact.objects.get(email="ann@example.com").first_name == "Ann"
        assert {(row, code) for row, code, _ in issues(job)} == {
            (3, "duplicate_in_file"),
            (5, "duplicate_in_file"),
        }

    @pytest.mark.parametrize("mode", ["upsert"])
    def test_upsert_mode_applies_later_rows_on_top(self, run, mode):
        job = run(self.DATA, mode=mode)
        ann = Contact.objects.get(email="ann@example.com")
        assert (ann.first_name, ann.last_name) == ("Annie", "Lee")
        assert Contact.objects.count() == 2
        assert (job.imported, job.updated, job.skipped) == (2, 2, 0)

    @pytest.mark.parametrize("mode", ["update", "upsert"])
    def test_a_duplicate_of_a_row_that_is_not_written_is_not_counted_as_updated(
        self, run, make_existing, mode
    ):
        suppress(email="erased@example.com", reason="erased")
        make_existing(email="same@example.com", first_name="Same")
        job = run(
            "email,first name\n"
            "erased@example.com,A\nerased@example.com,B\n"  # suppressed
            "same@example.com,Same\nsame@example.com,\n"  # unchanged
            "nobody@example.com,N\nnobody@example.com,M\n",  # not found in update mode
            mode=mode,
        )
        created = 1 if mode == "upsert" else 0
        assert (job.imported, job.updated, job.skipped) == (created, created, 6 - 2 * created)
        assert job.imported + job.updated + job.skipped + job.invalid == job.rows_done == 6


def test_suppressed_and_unsubscribed_people_are_skipped_with_that_reason(
    run, make_existing, system_actor
):
    suppress(email="erased@example.com", reason="erased")
    suppress(phone="+447911000111", reason="unsubscribed")
    gone = make_existing(email="gone@example.com")
    contact_service.update_contact(actor=system_actor, contact=gone, unsubscribed=True)
    job = run(
        "email,phone\nerased@example.com,\nfine@example.com,+447911000111\n"
        "gone@example.com,\nok@example.com,\n"
    )
    assert (job.imported, job.skipped) == (1, 3)
    assert [code for _, code, _ in issues(job)] == ["suppressed", "suppressed", "unsubscribed"]
    assert set(Contact.objects.values_list("email", flat=True)) == {
        "gone@example.com",
        "ok@example.com",
    }


def test_bad_values_make_the_row_invalid_with_a_reason_per_column(run, custom_fields):
    job = run(
        HEADER + "not-an-email,A,B,,,,\n"
        ",NoEmail,,,,,\n"
        "c@example.com,C,,12,,,\n"
        "d@example.com,D,,,,lots,\n"
        "e@example.com,E,,,,,\n"
    )
    assert (job.imported, job.invalid) == (1, 4)
    assert issues(job) == [
        (2, "invalid_email", "invalid"),
        (3, "missing_email", "invalid"),
        (4, "invalid_phone", "invalid"),
        (5, "invalid_field_value", "invalid"),
    ]
    report = list(imports.error_report_rows(job))
    assert report[0] == ["row", "column", "outcome", "code", "reason"]
    assert report[4][:4] == [5, "Score", "invalid", "invalid_field_value"]
    assert "expects a number" in report[4][4]


def test_an_address_spelled_another_way_updates_the_contact_the_api_made(run, make_existing):
    make_existing(email="ana@ex\u00e4mple.com")
    # The same domain with a combining accent, then pasted with a zero-width space.
    job = run(
        "email,first name\nana@exa\u0308mple.com,Ana\nbo@example.com\u200b,Bo\n", mode="upsert"
    )

    assert (job.imported, job.updated, job.invalid) == (1, 1, 0)
    assert sorted(Contact.objects.values_list("email", "first_name")) == [
        ("ana@ex\u00e4mple.com", "Ana"),
        ("bo@example.com", "Bo"),
    ]


def test_an_address_pasted_with_an_invisible_character_before_the_at_is_imported(run):
    # Copied from a web page: a zero-width space and a soft hyphen the file's reader cannot see;
    # the error report would have quoted the address looking perfectly valid.
    job = run("email,first name\nz\u200bo\u00ad@example.com,Zo\nzo@example.com,Zoe\n")

    assert (job.imported, job.updated, job.invalid) == (1, 1, 0)
    assert list(Contact.objects.values_list("email", "first_name")) == [("zo@example.com", "Zoe")]


def test_a_decimal_comma_is_refused_not_read_as_a_bigger_number(run, custom_fields):
    job = run("email;Score\nann@example.com;1,5\nbob@example.com;1,250\n")
    assert (job.imported, job.invalid) == (1, 1)
    assert issues(job) == [(2, "invalid_field_value", "invalid")]
    assert Contact.objects.get().field_values.get().value_number == 1250


def test_a_long_text_outside_the_latin_alphabet_is_one_invalid_row_not_a_failed_import(
    run, custom_fields
):
    # 2,000 CJK characters are 6,000 bytes: on PostgreSQL the text value's index refused the
    # row, the whole batch rolled back and the import failed with an "Internal error".
    cjk = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(2000))
    job = run(f"email,Company\nann@example.com,{cjk}\nbob@example.com,{cjk[:800]}\n")
    assert (job.status, job.imported, job.invalid) == ("done", 1, 1)
    [issue] = job.issues.all()
    assert (issue.row, issue.column, issue.code) == (2, "Company", "invalid_field_value")
    assert issue.reason == (
        "“Company” holds at most 2000 characters, and fewer outside the Latin alphabet: "
        "2,600 bytes of UTF-8 (this text has 6,000)."
    )
    assert Contact.objects.get().field_values.get().value_text == cjk[:800]


def test_formula_like_values_are_not_imported_and_are_flagged(run, custom_fields):
    job = run(
        'email,first name,company,tags\nann@example.com,=HYPERLINK("http://x"),@SUM(A1),"ok;=cmd"\n'
    )
    ann = Contact.objects.get(email="ann@example.com")
    assert ann.first_name == ""
    assert not ann.field_values.exists()
    assert list(ann.tags.values_list("name", flat=True)) == ["ok"]
    assert [code for _, code, _ in issues(job)] == ["formula_value", "formula_value", "invalid_tag"]


def test_ragged_rows_are_read_and_flagged(run):
    job = run("email,first name,last name\nann@example.com,Ann\nbob@example.com,Bob,B,extra\n")
    assert job.imported == 2
    assert [code for _, code, _ in issues(job)] == ["ragged_row", "ragged_row"]


def test_a_trailing_delimiter_on_every_row_is_not_a_problem_to_report(run):
    job = run("email,first name\nann@example.com,Ann,\nbob@example.com,Bob, ,\n")
    assert (job.imported, issues(job)) == (2, [])


def test_a_dry_run_counts_and_reports_but_writes_nothing(run, make_existing):
    make_existing(email="old@example.com", first_name="Old")
    job = run(
        "email,first name\nold@example.com,New\nnew@example.com,N\nbad,X\nnew@example.com,Again\n",
        dry_run=True,
    )
    assert (job.status, job.imported, job.updated, job.invalid) == ("done", 1, 2, 1)
    assert Contact.objects.count() == 1
    assert Contact.objects.get().first_name == "Old"
    # Only the job's own start/finish entries, no contact writes.
    assert not AuditEntry.objects.filter(actor_kind="import", object_type="contact").exists()


COUNTS = ["imported", "updated", "skipped", "invalid"]


def test_rows_read_into_a_value_by_an_unclosed_quote_are_reported_not_lost(run, custom_fields):
    job = run(
        "email,first name,company\n"
        'ann@example.com,Ann,"Acme\nbob@example.com,Bob,Bobco\ncarl@example.com,Carl,Carlco\n'
    )
    assert (job.rows_done, job.imported, job.invalid) == (1, 0, 1)
    [issue] = job.issues.all()
    assert (issue.row, issue.column, issue.code) == (2, "company", "unclosed_quote")
    assert "2 line(s)" in issue.reason and "bob@example.com" in issue.reason


def test_erasing_a_person_removes_them_from_the_error_reports_that_quote_them(
    run, custom_fields, make_existing, staff_actor
):
    bob = make_existing(email="bob@example.com")
    job = run(
        "email,first name,company\n"
        'ann@example.com,Ann,"Acme\nbob@example.com,Bob,Bobco\ncarl@example.com,Carl,Carlco\n'
    )
    other = run("email,first name\nnot-an-email,Dee\n")

    erase_contact(actor=staff_actor, contact=bob)

    [issue] = job.issues.all()
    assert (issue.row, issue.column, issue.code) == (2, "company", "unclosed_quote")
    assert "bob@example.com" not in issue.reason and "[erased]" in issue.reason
    assert [row[:4] for row in imports.error_report_rows(job)][1] == [
        2,
        "company",
        "invalid",
        "unclosed_quote",
    ]
    # Reports that do not quote the person are left as they were.
    assert "not-an-email" in other.issues.get().reason


def test_erasing_someone_known_by_a_first_name_only_leaves_other_reports_alone(
    run, make_existing, staff_actor
):
    # "Al" is in "not a valid email address": a lone first name is no way to find them.
    al = make_existing(email="al@example.com", first_name="Al")
    other = run("email,first name\nnot-an-email,Dee\n")

    erase_contact(actor=staff_actor, contact=al)

    assert "not-an-email" in other.issues.get().reason


def test_a_value_over_several_lines_that_mentions_an_address_is_imported(run, custom_fields):
    job = run(
        "email,first name,last name,company\n"
        'ann@example.com,Ann,Lee,"Acme\nask for bob@example.com, sales, London"\n'
    )
    assert (job.imported, job.invalid) == (1, 0)


def test_a_dry_run_counts_contacts_the_file_leaves_as_they_are_as_a_real_run_does(
    run, make_existing, system_actor
):
    make_existing(email="same@example.com", first_name="Same")
    vip = make_existing(email="vip@example.com", first_name="Vip")
    tag_service.tag_contact(actor=system_actor, contact=vip, tag_name="VIP")
    make_existing(email="changed@example.com", first_name="Old")
    data = (
        "email,first name,tags\nsame@example.com,Same,\nvip@example.com,,vip\n"
        "changed@example.com,New,\nnew@example.com,N,\nlate@example.com,L,new tag\n"
    )
    dry = run(data, dry_run=True)
    real = run(data)
    assert [getattr(dry, c) for c in COUNTS] == [getattr(real, c) for c in COUNTS] == [2, 1, 2, 0]
    assert issues(dry) == issues(real)


def test_a_dry_run_reports_the_rows_a_full_list_would_not_take(run, make_existing, system_actor):
    small = list_service.create_list(actor=system_actor, name="Small", limit=2)
    make_existing(email="old@example.com")
    data = "email\nold@example.com\nnew@example.com\nlate@example.com\nlast@example.com\n"
    dry = run(data, dry_run=True, list_ids=[small.pk])
    real = run(data, list_ids=[small.pk])
    assert [getattr(dry, c) for c in COUNTS] == [getattr(real, c) for c in COUNTS] == [3, 1, 0, 0]
    assert issues(dry) == issues(real) == [(4, "list_full", "warning"), (5, "list_full", "warning")]


@pytest.mark.parametrize("dry_run", [False, True], ids=["real", "dry"])
def test_a_list_deleted_before_the_run_is_reported_on_each_row_not_dropped_silently(
    start, system_actor, staff_actor, make_existing, dry_run
):
    gone = list_service.create_list(actor=system_actor, name="Gone")
    kept = list_service.create_list(actor=system_actor, name="Kept")
    make_existing(email="old@example.com")
    job = start(
        "email,first name\nann@example.com,Ann\nold@example.com,Old\n",
        list_ids=[gone.pk, kept.pk],
        dry_run=dry_run,
    )
    gone_id = gone.pk
    list_service.delete_list(actor=staff_actor, contact_list=gone)

    job = imports.run_import(job.pk)

    assert (job.status, job.imported, job.updated) == ("done", 1, 1)
    assert issues(job) == [(2, "unknown_list", "warning"), (3, "unknown_list", "warning")]
    assert job.issues.first().reason == (
        f"The list #{gone_id} chosen for this import was deleted before it ran; the contact "
        "was imported but not added to it."
    )
    assert kept.memberships.count() == (0 if dry_run else 2)


@pytest.fixture
def after_first_batch(monkeypatch):
    """Run ``action`` between the first and the second batch, as another user would."""

    def arrange(action) -> None:
        calls = {"n": 0}
        real = csvreader.read_batch

        def read_batch(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 2:
                action()
            return real(*args, **kwargs)

        monkeypatch.setattr(runner, "read_batch", read_batch)

    return arrange


# Committed batches: the database checks foreign keys at commit.
@pytest.mark.django_db(transaction=True)
def test_a_list_deleted_while_the_import_runs_is_reported_on_each_later_row(
    start, system_actor, staff_actor, after_first_batch
):
    leads = list_service.create_list(actor=system_actor, name="Leads")
    job = start(DATA5, list_ids=[leads.pk])
    after_first_batch(lambda: list_service.delete_list(actor=staff_actor, contact_list=leads))

    job = imports.run_import(job.pk)

    assert (job.status, job.error, job.imported) == ("done", "", 5)
    assert issues(job) == [(row, "unknown_list", "warning") for row in (4, 5, 6)]
    assert job.issues.first().reason == (
        "The list “Leads” chosen for this import was deleted while it ran; the contact was "
        "imported but not added to it."
    )
    assert Contact.objects.count() == 5


# Committed batches: the database checks foreign keys at commit.
@pytest.mark.django_db(transaction=True)
def test_a_tag_deleted_while_the_import_runs_is_applied_again_to_the_later_rows(
    start, staff_actor, after_first_batch
):
    job = start(DATA5, tag_names=["fair"])
    after_first_batch(
        lambda: tag_service.delete_tag(actor=staff_actor, tag=Tag.objects.get(name="fair"))
    )

    job = imports.run_import(job.pk)

    assert (job.status, job.error, job.imported) == ("done", "", 5)
    tagged = Contact.objects.filter(tags__name="fair").values_list("email", flat=True)
    assert sorted(tagged) == ["p2@example.com", "p3@example.com", "p4@example.com"]


# Committed batches: the database checks foreign keys at commit.
@pytest.mark.django_db(transaction=True)
def test_a_custom_field_deleted_while_the_import_runs_stops_it_naming_the_field(
    start, staff_actor, custom_fields, after_first_batch
):
    data = "email,company\n" + "".join(f"p{i}@example.com,Co {i}\n" for i in range(5))
    job = start(data)
    assert job.mapping == {"0": "email", "1": "field:Company"}
    after_first_batch(
        lambda: field_service.delete_field(actor=staff_actor, field=custom_fields["Company"])
    )

    job = imports.run_import(job.pk)

    assert (job.status, job.rows_done, job.imported) == ("failed", 2, 2)
    assert job.error == (
        "The custom field “Company” that the column “company” was mapped to was deleted while "
        "this import ran; the rows before row 4 were imported. Upload the file again and map "
        "that column anew: contacts already imported are matched by email, not added twice."
    )
    assert Contact.objects.count() == 2  # the committed batch is kept
    resumed = imports.run_import(imports.resume_import(actor=staff_actor, job=job).pk)
    assert (resumed.status, resumed.rows_done) == ("failed", 2)
    assert "“Company”" in resumed.error and "deleted" in resumed.error


def test_mappings_are_remembered_per_header_set(start, system_actor):
    start("Work address,Name\nann@example.com,Ann\n", mapping={"0": "email", "1": "first_name"})
    assert SavedMapping.objects.count() == 1
    again = imports.upload_import(
        actor=system_actor, file=io.BytesIO(b"NAME,work-address\nBob,b@x.com\n"),
        file_name="again.csv",
    )  # fmt: skip
    assert again.mapping == {"0": "first_name", "1": "email"}


def test_a_remembered_mapping_maps_a_repeated_header_once(start, system_actor):
    data = "Email,Email,Name\nann@example.com,ann@work.example,Ann\n"
    start(data, mapping={"0": "email", "2": "first_name"})
    job = imports.upload_import(actor=system_actor, file=io.BytesIO(data.encode()), file_name="x")
    assert job.mapping == {"0": "email", "2": "first_name"}


@pytest.mark.parametrize("change", ["rename", "delete"])
def test_a_remembered_mapping_follows_a_renamed_custom_field_and_drops_a_deleted_one(
    start, custom_fields, staff_actor, change
):
    # It was offered still, so the next such file sent without a mapping (an agent's
    # auto-mapped import) was refused: "There is no custom field named “Company”".
    start("email,Company\nann@example.com,Acme\n")
    company = custom_fields["Company"]
    if change == "rename":
        field_service.rename_field(actor=staff_actor, field=company, name="Employer")
    else:
        field_service.delete_field(actor=staff_actor, field=company)

    job = start("email,Company\nbob@example.com,Globex\n")

    # Renamed: offered under its name now.
    assert (
        job.mapping == {"0": "email", "1": "field:Employer"}
        if change == "rename"
        else {"0": "email"}
    )


def test_a_remembered_mapping_follows_a_change_of_case_in_a_field_name(
    start, custom_fields, staff_actor
):
    start("email,Company\nann@example.com,Acme\n")
    field_service.rename_field(actor=staff_actor, field=custom_fields["Company"], name="COMPANY")
    assert start("email,Company\nbob@example.com,Globex\n").mapping == {
        "0": "email",
        "1": "field:COMPANY",
    }


class TestConfigurationProblems:
    """Every problem with an import's options is reported at once, each in ``errors``."""

    def test_several_problems_are_reported_together(self, start, staff_actor):
        with pytest.raises(imports.SwitchboardError) as error:
            start(
                "name,phone\nAnn,+447911123456\n",
                list_ids=[424242],
                default_region="ZZ",
                webhook_url="ftp://example.com/hook",
            )
        assert error.value.code == "invalid_import"
        assert error.value.details["errors"] == [
            {
                "field": "mapping",
                "code": "no_email_column",
                "message": "Map one column to Email: contacts are matched and created by "
                "email address.",
            },
            {
                "field": "list_id",
                "code": "unknown_list",
                "message": "There is no list with id 424242.",
            },
            {
                "field": "default_region",
                "code": "invalid_region",
                "message": "“ZZ” is not a country code such as GB, FR or US.",
            },
            {
                "field": "webhook_url",
                "code": "invalid_webhook_url",
                "message": "“ftp://example.com/hook” is not an http(s) URL.",
            },
        ]
        assert [p.code for p in error.value.problems] == [
            "no_email_column", "unknown_list", "invalid_region", "invalid_webhook_url",
        ]  # fmt: skip
        message = error.value.message
        assert message.startswith("4 problems with this import: Map one column to Email")
        assert "There is no list with id 424242." in message and "“ZZ”" in message
        assert not ImportJob.objects.exists()

    def test_each_problem_with_the_mapping_is_reported(self, start, custom_fields):
        with pytest.raises(imports.SwitchboardError) as error:
            start(
                "Email,Name,Rank\nann@example.com,Ann,1\n",
                mapping={"Email": "email", "Nope": "first_name", "Rank": "field:Height"},
            )
        assert [(p["code"], p["message"]) for p in error.value.details["errors"]] == [
            ("invalid_mapping", "This file has no column “Nope”."),
            ("unknown_field", "There is no custom field named “Height”."),
        ]
        assert error.value.code == "invalid_import"
        assert error.value.message.startswith("2 problems with this import: ")

    def test_an_email_column_the_file_lacks_is_one_problem_not_two(self, start):
        with pytest.raises(imports.SwitchboardError) as error:
            start("Email,Name\nann@example.com,Ann\n", mapping={"Mail": "email", "9": "phone"})
        assert [p["message"] for p in error.value.details["errors"]] == [
            "This file has no column “Mail”.",
            "There is no column 9 in this file.",
        ]

    @pytest.mark.parametrize(
        "mapping, keys",
        [
            ({"0": "email", "email": "phone"}, ("0", "email")),
            ({"Email": "email", "e-mail ": "phone"}, ("Email", "e-mail ")),
            ({"E-mail": "email", "00": ""}, ("E-mail", "00")),
        ],
        ids=["index-and-name", "two-spellings", "then-ignored"],
    )
    def test_one_column_named_twice_with_two_targets_is_refused(self, start, mapping, keys):
        # The last key silently won, and the error then said to map an Email column.
        with pytest.raises(imports.SwitchboardError) as error:
            start("E-mail,Phone\nann@example.com,+447911123456\n", mapping=mapping)
        assert (error.value.code, error.value.field) == ("invalid_mapping", "mapping")
        assert error.value.message == (
            f"“{keys[0]}” and “{keys[1]}” are the same column; give it one target."
        )
        assert not ImportJob.objects.exists()

    def test_a_header_two_columns_share_is_refused_rather_than_guessed(self, start):
        # "Phone" picked the last of the columns so named, without a word.
        data = "Email,Phone,Name,Phone\nann@example.com,+441632960001,Ann,+447911123456\n"
        with pytest.raises(imports.SwitchboardError) as error:
            start(data, mapping={"Email": "email", "Phone": "phone"})
        assert [p["message"] for p in error.value.details["errors"]] == [
            "This file has 2 columns named “Phone”; name the one you mean by its index instead "
            "(1, 3, counting from 0)."
        ]
        job = start(data, mapping={"Email": "email", "3": "phone"})
        assert job.mapping == {"0": "email", "3": "phone"}

    def test_one_column_named_twice_with_the_same_target_is_fine(self, start):
        job = start(
            "E-mail,Phone\nann@example.com,+447911123456\n",
            mapping={"0": "email", "e-mail": "email"},
        )
        assert job.mapping == {"0": "email"}

    def test_a_single_problem_keeps_its_own_code_and_message(self, start):
        with pytest.raises(imports.SwitchboardError) as error:
            start("email\nann@example.com\n", default_region="ZZ")
        assert (error.value.code, error.value.field) == ("invalid_region", "default_region")
        assert error.value.message == "“ZZ” is not a country code such as GB, FR or US."
        assert error.value.details["errors"] == [
            {"field": "default_region", "code": "invalid_region", "message": error.value.message}
        ]


def test_headers_are_matched_from_common_names(start, custom_fields):
    job = start("E-Mail Address;Given name;SURNAME;Cell;company;Labels\nann@example.com;;;;;\n")
    assert job.mapping == {
        "0": "email", "1": "first_name", "2": "last_name", "3": "phone",
        "4": "field:Company", "5": "tags",
    }  # fmt: skip


def test_accented_common_names_are_matched_too(start):
    # A French export's "Prénom" and "Téléphone" were left unmapped: an agent's import with
    # the suggested mapping dropped every first name and phone number without a word.
    job = start("Courriel;Prénom;Nom;Téléphone;Société\nann@example.com;;;;\n")
    assert job.mapping == {"0": "email", "1": "first_name", "2": "last_name", "3": "phone"}


class Crash(BaseException):
    """Stands in for a worker killed between batches (not an Exception: nothing catches it)."""


@pytest.fixture
def crash_after_first_batch(monkeypatch):
    calls = {"n": 0}
    real = csvreader.read_batch

    def read_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "read_batch", read_batch)
    return monkeypatch


DATA5 = "email\n" + "".join(f"p{i}@example.com\n" for i in range(5))


def test_a_crashed_worker_is_taken_over_after_its_lease_without_redoing_work(
    start, crash_after_first_batch
):
    job = start(DATA5)
    with pytest.raises(Crash):
        imports.run_import(job.pk)
    job.refresh_from_db()
    assert (job.status, job.rows_done, job.imported) == ("running", 2, 2)
    # Another worker does not take over while the lease is live…
    assert imports.run_import(job.pk).rows_done == 2
    crash_after_first_batch.undo()
    ImportJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert imports.is_stalled(ImportJob.objects.get(pk=job.pk))
    # …but does once it has run out, continuing after the committed batch.
    job = imports.run_import(job.pk)
    assert (job.status, job.rows_done, job.imported, job.skipped) == ("done", 5, 5, 0)
    assert Contact.objects.count() == 5
    assert AuditEntry.objects.filter(action="contact.create").count() == 5


def test_a_cancelled_import_stops_after_its_batch_and_resumes_without_duplicates(
    start, staff_actor, crash_after_first_batch
):
    job = start(DATA5)
    with pytest.raises(Crash):
        imports.run_import(job.pk)
    job = imports.cancel_import(actor=staff_actor, job=ImportJob.objects.get(pk=job.pk))
    assert job.cancel_requested and job.status == "running"
    crash_after_first_batch.undo()
    ImportJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    job = imports.run_import(job.pk)
    assert (job.status, job.rows_done) == ("cancelled", 2)
    assert Contact.objects.count() == 2

    job = imports.resume_import(actor=staff_actor, job=job)
    assert job.status == "queued"
    job = imports.run_import(job.pk)
    assert (job.status, job.rows_done, job.imported) == ("done", 5, 5)
    assert Contact.objects.count() == 5


def test_a_resumed_import_numbers_its_rows_after_the_blank_lines_before_it(
    start, crash_after_first_batch
):
    job = start("email\nann@example.com\n\nbob@example.com\n\n\nbad\ncid@example.com\nworse\n")
    with pytest.raises(Crash):
        imports.run_import(job.pk)
    crash_after_first_batch.undo()
    ImportJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))

    job = imports.run_import(job.pk)

    assert (job.status, job.imported, job.invalid) == ("done", 3, 2)
    assert issues(job) == [(7, "invalid_email", "invalid"), (9, "invalid_email", "invalid")]


def test_a_resumed_dry_run_counts_as_an_uninterrupted_one_would(
    start, run, staff_actor, make_existing, system_actor, crash_after_first_batch
):
    # It continued with what the stopped run remembered lost: a later row for an email an
    # earlier batch would create counted as new again, and the list as empty again.
    small = list_service.create_list(actor=system_actor, name="Small", limit=2)
    data = "email\na@example.com\nb@example.com\nc@example.com\na@example.com\nd@example.com\n"
    job = start(data, dry_run=True, list_ids=[small.pk])
    with pytest.raises(Crash):
        imports.run_import(job.pk)
    crash_after_first_batch.undo()
    ImportJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    imports.cancel_import(actor=staff_actor, job=job)
    job = imports.resume_import(actor=staff_actor, job=job, enqueue=False)

    resumed = imports.run_import(job.pk)
    whole = run(data, dry_run=True, list_ids=[small.pk])

    assert [getattr(resumed, c) for c in COUNTS] == [getattr(whole, c) for c in COUNTS]
    assert (resumed.imported, resumed.updated, resumed.rows_done) == (4, 1, 5)
    assert issues(resumed) == issues(whole)
    assert resumed.total_rows == 5 and not Contact.objects.exists()


def test_a_worker_killed_while_writing_a_batch_leaves_nothing_of_it_and_the_rerun_writes_it_once(
    start, monkeypatch
):
    """Killed while the batch's other rows are built (on PostgreSQL, during the contacts
    COPY): the batch rolls back whole, offset included, and the next worker redoes it."""
    job = start(DATA5)
    real = runner.Runner._created
    calls = {"n": 0}

    def created(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash
        return real(self, *args, **kwargs)

    monkeypatch.setattr(runner.Runner, "_created", created)
    with pytest.raises(Crash):
        imports.run_import(job.pk)
    job.refresh_from_db()
    assert (job.rows_done, job.imported) == (2, 2)
    assert Contact.objects.count() == 2
    monkeypatch.undo()
    ImportJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    job = imports.run_import(job.pk)
    assert (job.status, job.rows_done, job.imported, job.skipped) == ("done", 5, 5, 0)
    assert Contact.objects.count() == 5
    assert AuditEntry.objects.filter(action="contact.create").count() == 5
    assert Interaction.objects.filter(kind="created").count() == 5


def test_a_queued_import_is_cancelled_at_once(start, staff_actor):
    job = imports.cancel_import(actor=staff_actor, job=start(DATA5))
    assert job.status == "cancelled"
    assert imports.run_import(job.pk).status == "cancelled"
    assert not Contact.objects.exists()


def test_a_finished_import_cannot_be_cancelled_or_resumed(run, staff_actor):
    job = run(DATA5)
    for action in (imports.cancel_import, imports.resume_import):
        with pytest.raises(imports.SwitchboardError) as error:
            action(actor=staff_actor, job=job)
        assert error.value.code in ("import_not_running", "import_not_resumable")


@pytest.mark.parametrize("change", ["rename", "delete"])
def test_a_custom_field_renamed_since_the_mapping_is_followed_and_a_deleted_one_fails_it(
    start, custom_fields, staff_actor, change
):
    # The worker crashed on a KeyError before its first batch: the job stayed "running",
    # then "stalled", with no reason given, and every resume crashed the same way.
    job = start("email,Company\nann@example.com,Acme\n")
    company = custom_fields["Company"]
    if change == "rename":
        field_service.rename_field(actor=staff_actor, field=company, name="Employer")
    else:
        field_service.delete_field(actor=staff_actor, field=company)

    job = imports.run_import(job.pk)

    if change == "rename":
        # Followed to its name now: the import goes on.
        assert (job.status, job.imported) == ("done", 1)
        assert Contact.objects.get().field_values.get().value_text == "Acme"
        return
    assert (job.status, job.rows_done, job.lease_until) == ("failed", 0, None)
    assert job.error.startswith(
        "The custom field “Company” that the column “Company” was mapped to no longer exists"
    )
    assert not Contact.objects.exists()
    assert AuditEntry.objects.filter(action="import.failed", object_id=str(job.pk)).exists()


class TestRevert:
    def test_it_deletes_created_contacts_and_restores_changed_ones(
        self, run, make_existing, staff_actor, custom_fields, system_actor
    ):
        vip = list_service.create_list(actor=system_actor, name="VIP")
        old = make_existing(email="old@example.com", first_name="Old", fields={"Company": "Acme"})
        job = run(
            "email,first name,company,tags\nold@example.com,New,Globex,hot\nnew@example.com,N,,\n",
            list_ids=[vip.pk],
        )
        plan = imports.revert_preview(job)
        assert (plan.delete, plan.restore, plan.conflict_count) == (1, 1, 0)

        imports.revert_import(actor=staff_actor, job=job)
        assert list(Contact.objects.values_list("email", flat=True)) == ["old@example.com"]
        old.refresh_from_db()
        assert old.first_name == "Old"
        assert old.field_values.get().value_text == "Acme"
        assert not old.tags.exists() and not old.lists.exists()
        assert ImportJob.objects.get(pk=job.pk).status == "reverted"

    @pytest.mark.parametrize("change", ["rename", "delete"])
    def test_it_restores_values_of_a_custom_field_renamed_or_deleted_since(
        self, run, make_existing, staff_actor, custom_fields, change
    ):
        # Restoring by the name the import recorded failed ("There is no custom field named
        # “Company”"): the revert stopped part-way, and every retry stopped the same way.
        old = make_existing(email="old@example.com", first_name="Old", fields={"Company": "Acme"})
        job = run("email,first name,company\nold@example.com,New,Globex\nnew@example.com,N,X\n")
        company = custom_fields["Company"]
        if change == "rename":
            field_service.rename_field(actor=staff_actor, field=company, name="Employer")
            field_service.rename_field(actor=staff_actor, field=company, name="Organisation")
        else:
            field_service.delete_field(actor=staff_actor, field=company)

        plan = imports.revert_import(actor=staff_actor, job=job)

        assert (plan.delete, plan.restore) == (1, 1)
        job.refresh_from_db()
        assert (job.status, job.error) == ("reverted", "")
        old.refresh_from_db()
        assert old.first_name == "Old"
        values = list(old.field_values.values_list("field__name", "value_text"))
        assert values == ([("Organisation", "Acme")] if change == "rename" else [])

    def test_it_takes_off_tags_spelled_with_capitals(self, run, make_existing, staff_actor):
        old = make_existing(email="old@example.com")
        job = run("email,tags\nold@example.com,VIP\n", tag_names=["Spring Fair"])
        entry = AuditEntry.objects.get(action="contact.update", contact_id=old.pk)
        assert entry.changes["tags"] == [[], ["VIP", "Spring Fair"]]  # as the tags are spelled

        imports.revert_import(actor=staff_actor, job=job)
        assert not old.tags.exists()

    def test_it_refuses_contacts_changed_since_unless_confirmed(
        self, run, staff_actor, django_capture_on_commit_callbacks
    ):
        job = run("email,first name\nann@example.com,Ann\nbob@example.com,Bob\n")
        ann = Contact.objects.get(email="ann@example.com")
        contact_service.update_contact(actor=staff_actor, contact=ann, first_name="Anna")
        plan = imports.revert_preview(job)
        assert plan.conflict_count == 1 and plan.conflicts[0]["email"] == "ann@example.com"
        with pytest.raises(imports.SwitchboardError) as error:
            imports.request_revert(actor=staff_actor, job=job)
        assert error.value.code == "changed_since_import"

        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            imports.request_revert(actor=staff_actor, job=job, confirm_conflicts=True)
        assert len(callbacks) == 1  # the revert task is queued

    def test_it_can_leave_contacts_changed_since_out_of_the_revert(
        self, run, staff_actor, django_capture_on_commit_callbacks
    ):
        job = run("email,first name\nann@example.com,Ann\nbob@example.com,Bob\n")
        ann = Contact.objects.get(email="ann@example.com")
        contact_service.update_contact(actor=staff_actor, contact=ann, first_name="Anna")
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            plan = imports.request_revert(actor=staff_actor, job=job, leave_changed=True)
        assert plan.conflict_count == 1 and len(callbacks) == 1

    def test_a_contact_that_existed_before_is_not_deleted_after_a_merge(
        self, run, make_existing, staff_actor
    ):
        ann = make_existing(email="ann@example.com", first_name="Ann")
        job = run("email,first name\nann.lee@example.com,Annie\nbob@example.com,Bob\n")
        imported_ann = Contact.objects.get(email="ann.lee@example.com")
        merge_contacts(actor=staff_actor, survivor=ann, duplicate=imported_ann)
        plan = imports.revert_preview(job)
        assert (plan.delete, plan.gone, plan.conflict_count) == (1, 1, 0)

        imports.revert_import(actor=staff_actor, job=job, confirm_conflicts=True)
        assert list(Contact.objects.values_list("email", flat=True)) == ["ann@example.com"]

    def test_a_text_sent_to_an_imported_contact_is_not_a_change_since(self, run, staff_actor):
        job = run("email,first name\nann@example.com,Ann\n")
        ann = Contact.objects.get()
        # What sms.services.messages.send_message records with the message.
        audit.record(actor=staff_actor, action="sms.send", obj=ann, contact_id=ann.pk)
        assert imports.revert_preview(job).conflict_count == 0
        imports.request_revert(actor=staff_actor, job=job)  # not refused

    def test_a_revert_of_only_unchanged_contacts_records_which_it_left(
        self, run, make_existing, staff_actor
    ):
        make_existing(email="old@example.com", first_name="Old")
        job = run(
            "email,first name\nann@example.com,Ann\nbob@example.com,Bob\n"
            "cat@example.com,Cat\nold@example.com,New\n"
        )
        ann = Contact.objects.get(email="ann@example.com")
        contact_service.update_contact(actor=staff_actor, contact=ann, first_name="Anna")

        plan = imports.revert_import(actor=staff_actor, job=job)
        assert (plan.delete, plan.restore, plan.left_changed) == (2, 1, 1)
        job.refresh_from_db()
        assert (job.status, job.reverted_contacts, job.revert_left_changed) == ("reverted", 3, 1)
        entry = AuditEntry.objects.get(action="import.revert")
        assert entry.changes == {
            "deleted": [None, 2], "restored": [None, 1], "left_changed": [None, 1],
        }  # fmt: skip
        left = AuditEntry.objects.get(action="import.revert_left")
        assert (left.contact_id, left.object_id, left.actor_label) == (
            ann.pk, str(job.pk), staff_actor.label,
        )  # fmt: skip
        assert left.changes == {
            "reverted_import": [None, job.pk], "changed_since_by": [None, staff_actor.label],
        }  # fmt: skip

    def test_a_full_revert_records_that_it_left_none(self, run, staff_actor):
        job = run("email,first name\nann@example.com,Ann\nbob@example.com,Bob\n")
        ann = Contact.objects.get(email="ann@example.com")
        contact_service.update_contact(actor=staff_actor, contact=ann, first_name="Anna")

        imports.revert_import(actor=staff_actor, job=job, confirm_conflicts=True)
        job.refresh_from_db()
        assert (job.reverted_contacts, job.revert_left_changed) == (2, 0)
        entry = AuditEntry.objects.get(action="import.revert")
        assert entry.changes["left_changed"] == [None, 0]
        assert not AuditEntry.objects.filter(action="import.revert_left").exists()

    def test_a_changed_contact_deleted_since_is_not_counted_as_left(self, run, staff_actor):
        job = run("email,first name\nann@example.com,Ann\nbob@example.com,Bob\n")
        ann = Contact.objects.get(email="ann@example.com")
        contact_service.update_contact(actor=staff_actor, contact=ann, first_name="Anna")
        erase_contact(actor=staff_actor, contact=ann)

        plan = imports.revert_import(actor=staff_actor, job=job)
        assert (plan.delete, plan.left_changed, plan.gone) == (1, 0, 1)
        assert ImportJob.objects.get(pk=job.pk).revert_left_changed == 0

    def test_without_confirmation_changed_contacts_are_left_alone(self, run, staff_actor):
        job = run("email,first name\nann@example.com,Ann\nbob@example.com,Bob\n")
        ann = Contact.objects.get(email="ann@example.com")
        contact_service.update_contact(actor=staff_actor, contact=ann, first_name="Anna")
        plan = imports.revert_import(actor=staff_actor, job=job)
        assert plan.delete == 1
        assert list(Contact.objects.values_list("first_name", flat=True)) == ["Anna"]


def test_large_files_are_cleaned_in_worker_processes_with_the_same_outcome(
    run, monkeypatch, settings, custom_fields
):
    monkeypatch.setattr(runner, "PARALLEL_MIN_BYTES", 0)
    settings.IMPORT_WORKERS = 2
    rows = "".join(f"p{i}@example.com,+44 7400 {100000 + i},{i}\n" for i in range(30))
    job = run("email,phone,score\n" + rows + "bad,,\np3@example.com,,x\n")
    assert (job.status, job.rows_done, job.imported, job.invalid) == ("done", 32, 30, 2)
    assert [(row, code) for row, code, _ in issues(job)] == [
        (32, "invalid_email"), (33, "invalid_field_value"),
    ]  # fmt: skip
    assert Contact.objects.get(email="p29@example.com").phone == "+447400100029"


def test_a_contact_created_while_the_batch_runs_is_skipped_not_overwritten(
    run, staff_actor, monkeypatch
):
    """PostgreSQL: another writer inserted the email after the batch looked it up; its row
    wins, the import skips this one and creates the others."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite's IMMEDIATE transaction keeps other writers out during a batch")
    contact_service.create_contact(actor=staff_actor, email="ann@example.com", first_name="Own")
    real = runner.Runner._existing
    monkeypatch.setattr(
        runner.Runner,
        "_existing",
        lambda self, emails: {
            k: v for k, v in real(self, emails).items() if k != "ann@example.com"
        },
    )
    job = run("email,first name\nann@example.com,Ann\nbob@example.com,Bob\n")
    assert (job.imported, job.skipped) == (1, 1)
    assert "created_concurrently" in {code for _, code, _ in issues(job)}
    assert Contact.objects.get(email="ann@example.com").first_name == "Own"
    assert AuditEntry.objects.filter(action="contact.create", actor_ref=str(job.pk)).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_person_erased_while_a_batch_waits_for_their_row_is_not_imported_again(
    start, staff_actor, system_actor
):
    """PostgreSQL: the batch waits for the erasure's lock on the row, then finds it gone; the
    suppression the erasure committed with it must be read after that wait, or the person
    comes back as a new contact."""
    import threading
    import time

    from django.db import connection

    from contacts.services.erasure import _scrubbers, register_scrubber

    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writer at a time: the batch cannot start mid-erasure")
    jane = contact_service.create_contact(actor=system_actor, email="jane@example.com")
    job = start(HEADER + "jane@example.com,Jane,Doe,,,,\n", mode="upsert")
    erasing = threading.Event()

    def hold(subject) -> None:  # keeps the erasure's transaction (and lock) open a moment
        erasing.set()
        time.sleep(1.5)

    def run_batch() -> None:
        try:
            erasing.wait(10)
            imports.run_import(job.pk)
        finally:
            connection.close()

    register_scrubber(hold)
    worker = threading.Thread(target=run_batch)
    worker.start()
    try:
        erase_contact(actor=staff_actor, contact=jane)
    finally:
        _scrubbers.remove(hold)
        worker.join(20)

    job.refresh_from_db()
    assert not Contact.objects.filter(email="jane@example.com").exists()
    assert (job.imported, job.skipped) == (0, 1)
    assert issues(job) == [(2, "suppressed", "skipped")]
