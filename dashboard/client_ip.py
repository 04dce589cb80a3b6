"""The address a request came from, for login throttling (django-axes).

Behind a load balancer every request comes from the balancer's own address: throttled per
username and that address, five wrong passwords from anywhere would pause the account for
everyone. With ``TRUSTED_PROXY_COUNT`` proxies in front, each appending the address it saw to
``X-Forwarded-For``, the client is the entry that many places from the right; the entries
left of it are whatever the client sent, so they are never believed. Without proxies (0, the
default) the header is ignored: anyone could write it.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if proxies > 0 and len(forwarded) >= proxies:
        try:
            # Stored in an address column: a malformed entry would fail the login with a 500.
            return str(ipaddress.ip_address(forwarded[-proxies]))
        except ValueError:
            pass
    return request.META.get("REMOTE_ADDR")
