"""How contact values read on the pages."""

from __future__ import annotations

import json
from typing import Any

from django import template

from contacts.phones import format_national

register = template.Library()


@register.filter
def phone(e164: str) -> str:
    """ "+447700123456" -> "+44 7700 123456": easier to read and to compare with what was typed."""
    return format_national(e164 or "")


@register.filter
def metadata_value(value: Any) -> str:
    """A metadata value as it is typed into the metadata form: text as is, anything else as
    JSON (true, 42, {"k": 1}). Python's repr ({'k': 1}, True) typed back would be saved as
    text, silently turning an object or a boolean into a string."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
