"""Form helpers shared by every app's views."""

from __future__ import annotations

from django import forms

from dashboard.errors import SwitchboardError


def add_domain_error(form: forms.Form, error: SwitchboardError) -> None:
    """Show a service's error next to the field it names, or above the form."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)
