"""Who may do what: admins alone manage credits, prices, agents' credentials and erasure.

The walk covers every URL pattern, so a new admin-only view that is not listed here, or a
listed one that lost its check, fails the suite.
"""

from __future__ import annotations

import pytest
from django.urls import get_resolver

from tests.test_url_permissions import _concrete, _walk

ADMIN_ONLY = {
    "sms:top_up": "credits",
    "sms:price_set": "prices",
    "agents:create": "agents",
    "agents:update": "agents (scopes, mode, limits)",
    "agents:rotate": "agent credentials",
    "agents:revoke": "agent credentials",
    "contacts:erase": "erasure",
    "operations:queue_retry": "re-running background jobs",
}


def _patterns():
    return {name: (route, entry) for name, route, entry in _walk(get_resolver())}


def test_exactly_the_listed_views_are_admin_only():
    marked = {
        name
        for name, (_, entry) in _patterns().items()
        if getattr(entry.callback, "admin_only", False)
    }
    assert marked == set(ADMIN_ONLY)


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(ADMIN_ONLY))
def test_staff_members_who_are_not_admins_are_refused(staff_client, name):
    route, _ = _patterns()[name]
    url = _concrete(route)
    assert staff_client.get(url).status_code in (403, 405)
    assert staff_client.post(url).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(ADMIN_ONLY))
def test_admins_get_past_the_permission_check(admin_client, name):
    route, _ = _patterns()[name]
    url = _concrete(route)
    # Sample ids do not exist: a 404 or a form error is fine; a refusal is not.
    assert admin_client.post(url).status_code != 403
