"""Forms for deciding approval requests: they check shapes; the pipeline checks the rules."""

from __future__ import annotations

from typing import Any

from django import forms

from dashboard.forms import plain_line_breaks


class ApproveForm(forms.Form):
    # Absent when the action has no editable text (an erasure); present, maybe edited, for SMS.
    # As long as the API and the MCP tools let an agent write it (the send then judges the
    # length in segments): a shorter cap here would refuse to approve the text unedited.
    text = forms.CharField(required=False, max_length=2000, strip=False)
    note = forms.CharField(required=False, max_length=500)

    def clean_text(self) -> str:
        return plain_line_breaks(self.cleaned_data["text"])


class RejectForm(forms.Form):
    note = forms.CharField(
        required=False, max_length=500, label="Reason", help_text="Shown to the agent."
    )


class IdListField(forms.Field):
    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        try:
            ids = [int(v) for v in value or []]
        except (TypeError, ValueError):
            ids = [0]
        # No request id is past what the database's integer holds (a look-up would overflow).
        if not all(0 < pk < 2**63 for pk in ids):
            raise forms.ValidationError("Pick requests from the queue.")
        return ids

    def validate(self, value: list[int]) -> None:
        if not value:
            raise forms.ValidationError("Select at least one request first.")


class BulkForm(forms.Form):
    ids = IdListField()
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    note = forms.CharField(required=False, max_length=500)
