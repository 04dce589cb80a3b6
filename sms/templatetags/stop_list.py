"""The STOP list as pages outside the SMS app show it (a contact's consent is not the whole story)."""

from __future__ import annotations

from django import template

from sms.models import OptOut
from sms.services.optouts import opt_out_for

register = template.Library()


@register.simple_tag
def stop_list_entry(phone: str) -> OptOut | None:
    """The number's STOP-list entry, or None: a contact who replied STOP keeps the consent they
    gave, but no text reaches them until they reply START or staff take them off the list."""
    return opt_out_for(phone) if phone else None
