"""Normalising what people and agents send before it is stored or compared."""

from __future__ import annotations

import functools
import unicodedata

import idna
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from dashboard.errors import SwitchboardError

NAME_MAX = 100
# The contacts.email column, and the longest address SMTP carries (RFC 5321).
EMAIL_MAX = 254


@functools.lru_cache(maxsize=4096)  # imports ask for the same few domains row after row
def canonical_domain(domain: str) -> str:
    """The one spelling of an internationalised domain (UTS #46, as browsers and mail
    servers read it): composed accents, full-width letters made plain, invisible characters
    such as a zero-width space dropped. Otherwise "exämple.com" typed two ways, or an address
    pasted with a hidden character, would be a second contact for the same mailbox.
    ``idna.IDNAError`` (a ValueError) for characters no domain may hold."""
    if domain.isascii():
        return domain
    return idna.uts46_remap(domain, std3_rules=False, transitional=False)


def visible(address: str) -> str:
    """An address as typed, less what copying it from a web page or a document slips in:
    invisible characters (a zero-width space, a soft hyphen, a direction mark) are dropped and
    full-width forms (＠, ｊｏｈｎ) made plain. No valid address holds either (the part before
    the @ is ASCII), so this only rescues addresses that would otherwise be refused."""
    if address.isascii():
        return address
    plain = unicodedata.normalize("NFKC", address)
    return "".join(ch for ch in plain if unicodedata.category(ch) != "Cf")


def email_key(raw: str) -> str:
    """An address as stored, for looking one up: never refuses (what is not a valid address
    simply matches nothing)."""
    email = visible(raw).strip().lower()
    local, at, domain = email.rpartition("@")
    try:
        return f"{local}{at}{canonical_domain(domain)}"
    except (ValueError, UnicodeError):
        return email


def normalise_email(raw: str | None) -> str:
    email = visible(raw or "").strip().lower()
    if not email:
        raise SwitchboardError("invalid_email", "An email address is required.", field="email")
    invalid = SwitchboardError(
        "invalid_email", f"“{raw}” is not a valid email address.", field="email"
    )
    local, _, domain = email.rpartition("@")
    try:
        email = f"{local}@{canonical_domain(domain)}" if local else email
    except (ValueError, UnicodeError):
        raise invalid from None
    if len(email) > EMAIL_MAX:
        raise SwitchboardError(
            "invalid_email",
            f"An email address can be at most {EMAIL_MAX} characters; this one has {len(email)}.",
            field="email",
        )
    try:
        validate_email(email)
    except ValidationError:
        raise invalid from None
    return email


def clean_name(raw: str | None, *, field: str) -> str:
    name = " ".join((raw or "").split())
    if len(name) > NAME_MAX:
        raise SwitchboardError(
            "invalid_name", f"A name can be at most {NAME_MAX} characters.", field=field
        )
    return name


def search_key(text: str) -> str:
    """Lower-case, accent-free form used for name search ("José" -> "jose")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
