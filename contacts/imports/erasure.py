"""Erasure (GDPR): remove a person from imports' error reports.

Registered with ``contacts.services.erasure`` from ``ImportsConfig.ready``. An issue's reason
can quote what the file held: the start of the rows an unclosed quote read into one value
(an address and a name, as typed), a value that looked like a formula. Issues are not linked
to contacts, so they are found by the person's email, phone or full name in that text; the
issue stays in the report (row, column, code) and only its reason goes.
"""

from __future__ import annotations

from django.db.models import Q

from contacts.imports.models import ImportIssue

ERASED_REASON = "[erased] The reason quoted a person who has since been erased."


def scrub_import_issues(subject) -> None:
    # A file imported before an email change or a merge quotes the former address or number.
    needles = [
        n
        for n in (subject.email, subject.phone, *subject.full_names, *subject.former_emails,
                  *subject.former_phones)
        if n
    ]  # fmt: skip
    query = Q()
    for needle in needles:
        query |= Q(reason__icontains=needle)
    ImportIssue.objects.filter(query).update(reason=ERASED_REASON)
