"""How contact values read on the pages."""

from __future__ import annotations

from django import template

from contacts.phones import format_national

register = template.Library()


@register.filter
def phone(e164: str) -> str:
    """ "+447700123456" -> "+44 7700 123456": easier to read and to compare with what was typed."""
    return format_national(e164 or "")
