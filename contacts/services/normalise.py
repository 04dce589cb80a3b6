"""Normalising what people and agents send before it is stored or compared."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from dashboard.errors import SwitchboardError

NAME_MAX = 100


def normalise_email(raw: str | None) -> str:
    email = (raw or "").strip().lower()
    if not email:
        raise SwitchboardError("invalid_email", "An email address is required.", field="email")
    try:
        validate_email(email)
    except ValidationError:
        raise SwitchboardError(
            "invalid_email", f"“{raw}” is not a valid email address.", field="email"
        ) from None
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
