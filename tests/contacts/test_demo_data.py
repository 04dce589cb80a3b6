"""`manage.py load_demo_data`: what a newcomer sees first must add up."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from contacts.models import ContactList, ListMembership
from dashboard.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_the_load_is_recorded_with_each_lists_own_member_count():
    call_command("load_demo_data", "--contacts", "300", stdout=io.StringIO())
    entries = AuditEntry.objects.filter(action="demo.load")
    assert entries.count() == ContactList.objects.count()
    for entry in entries:
        members = ListMembership.objects.filter(list_id=entry.object_id).count()
        # Not the whole load's 300 contacts, shown as if one list had received them all.
        assert entry.changes == {"members": [0, members]}


def test_the_overview_says_what_the_demo_load_did(staff_client):
    call_command("load_demo_data", "--contacts", "300", stdout=io.StringIO())
    page = staff_client.get(reverse("home")).content.decode()
    assert "loaded the demo data into" in page
    key_accounts = ContactList.objects.get(name="Key accounts")
    members = ListMembership.objects.filter(list=key_accounts).count()
    assert members and f"<ins>{members}</ins>" in page
