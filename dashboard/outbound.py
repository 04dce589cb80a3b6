"""Requests to URLs that staff and agents give us (an import's "finished" webhook).

Such a URL must not let its author reach into the network Switchboard runs in (server-side
request forgery): the database, a cloud metadata service at 169.254.169.254, an admin port on
localhost. Unless ``WEBHOOK_ALLOW_PRIVATE`` is on (default: ``DEBUG``; the test suite and
``make run`` turn it on for their local receivers), a URL whose host is, or resolves to, a
loopback, private, link-local or otherwise non-public address is refused when it is given,
and again when it is called. At call time the name is resolved once and the request goes to
the address that was checked (TLS still checks the certificate against the name), so a name
whose answer changed in between (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket

import httpx
from django.conf import settings

from dashboard.errors import SwitchboardError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` stands for (a literal IP, in any spelling: itself); [] when the
    name does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    # A scoped IPv6 address comes back as "fe80::1%eth0".
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def _host_and_port(url: str) -> tuple[str, int]:
    parsed = httpx.URL(url)
    # raw_host: an international name in its ASCII (IDNA) form, as DNS and TLS want it.
    return parsed.raw_host.decode("ascii"), parsed.port or (443 if parsed.scheme == "https" else 80)


def _refusal(url: str, address: Address, field: str | None) -> SwitchboardError:
    return SwitchboardError(
        "private_webhook_url",
        f"“{url}” leads to {address}, an address inside a private network (loopback, private, "
        "link-local or reserved); Switchboard calls public addresses only. Give the "
        "receiver's public URL.",
        field=field,
    )


def check_public(url: str, *, field: str | None = None) -> None:
    """Refuse (``private_webhook_url``) a URL whose host is or resolves to a non-public
    address, unless WEBHOOK_ALLOW_PRIVATE. A name that does not resolve now passes: it may
    by the time it is called, and ``post`` checks it again then."""
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return
    host, port = _host_and_port(url)
    for address in resolve(host, port):
        if not is_public(address):
            raise _refusal(url, address, field)


def post(
    url: str, *, content: bytes, headers: dict[str, str], timeout: httpx.Timeout
) -> httpx.Response:
    """POST to ``url`` (no redirects followed), at the public address its name resolves to
    now; a SwitchboardError when it resolves to none or to a non-public one."""
    if settings.WEBHOOK_ALLOW_PRIVATE:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            return client.post(url, content=content, headers=headers)
    target = httpx.URL(url)
    host, port = _host_and_port(url)
    addresses = resolve(host, port)
    if not addresses:
        raise SwitchboardError("unresolvable_webhook_url", f"{host} does not resolve.")
    for address in addresses:
        if not is_public(address):
            raise _refusal(url, address, None)
    # Connect to the address just checked; the Host header and TLS (SNI and the certificate
    # check) still use the name.
    pinned = target.copy_with(host=str(addresses[0]))
    extensions = {"sni_hostname": host} if target.scheme == "https" else {}
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        return client.post(
            pinned,
            content=content,
            headers={**headers, "Host": target.netloc.decode("ascii")},
            extensions=extensions,
        )
