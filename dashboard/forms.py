"""Form helpers shared by every app's views."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django import forms

from dashboard.errors import SwitchboardError

T = TypeVar("T")


def plain_line_breaks(text: str) -> str:
    """A textarea's text with its line breaks as ``\n``. Browsers post them as CR LF: kept, a
    text message would spend two characters (and send a CR) on each, and a text unchanged but
    for its line endings would read as edited."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def valid_fields(form: forms.Form) -> dict:
    """The form's fields that are valid, even when others are not: a filter with one stale
    value (an agent deleted since) still applies the rest instead of widening to everything."""
    form.is_valid()
    return getattr(form, "cleaned_data", {})


def add_domain_error(form: forms.Form, error: SwitchboardError) -> None:
    """Show a service's error next to the field it names, or above the form; an error that
    stands for several problems shows each of them in its place."""
    for problem in error.problems:
        field = problem.field if problem.field in form.fields else None
        form.add_error(field, problem.message)


def checked(check: Callable[[T], T], value: T) -> T:
    """Run a service's check from a form's ``clean_<field>``: its error becomes the field's, so
    the form reports it together with every other field's instead of one at a time."""
    try:
        return check(value)
    except SwitchboardError as exc:
        raise forms.ValidationError(exc.message, code=exc.code) from None
