"""Mount the agent API: routers per area on the one NinjaAPI instance."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from dashboard.api import agent, campaigns, contacts, imports, segments, sms
from dashboard.api.core import api, json_method_not_allowed, not_found

api.add_router("", agent.router)
api.add_router("", contacts.router)
api.add_router("", segments.router)
api.add_router("", imports.router)
api.add_router("", sms.router)
api.add_router("", campaigns.router)

# Agents authenticate with bearer tokens, not staff sessions: the staff-login middleware must
# let every API URL (and its public docs) through to Ninja's own auth.
patterns, app_name, namespace = api.urls
for pattern in patterns:
    pattern.callback = login_not_required(json_method_not_allowed(pattern.callback))
    if pattern.name == "api-root":
        # Ninja's root (kept: it reverses its paths from it) answers the site's HTML 404.
        pattern.callback = login_not_required(csrf_exempt(not_found))
# Last: a path no endpoint matches answers JSON like the rest of the API.
patterns.append(re_path(r"^(?P<rest>.*)$", login_not_required(csrf_exempt(not_found))))
urls = (patterns, app_name, namespace)
