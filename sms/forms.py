"""Forms for the SMS pages: they check shapes; the services check the rules."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from dashboard.forms import plain_line_breaks
from sms.models import MessageKind, Status

SENDERS = [("", "Any sender"), ("staff", "Staff"), ("agent", "Agent"), ("campaign", "Campaign"),
           ("system", "System")]  # fmt: skip


class SiteTimeField(forms.DateTimeField):
    """A date and time typed in the site's zone. One the clocks skip is read as just after the
    gap, one they repeat as its first occurrence (as campaigns read them): Django's own field
    refuses both as "ambiguous or may not exist", which says neither which nor what to type."""

    def to_python(self, value):
        with timezone.override(dt.UTC):  # UTC has no gaps or repeats: the typed wall clock
            moment = super().to_python(value)
        if moment is None:
            return None
        return moment.replace(tzinfo=timezone.get_current_timezone())  # fold=0: the first


class SendForm(forms.Form):
    contact = forms.UUIDField(required=False, widget=forms.HiddenInput)
    to = forms.CharField(
        label="To", required=False, max_length=254,
        help_text="A phone number (+44…, 0044…, or national) or a contact's email.",
    )  # fmt: skip
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}), max_length=1600, required=False,
        help_text="Placeholders: {first_name}, {last_name}, {full_name}, {email}, custom fields.",
    )  # fmt: skip
    kind = forms.ChoiceField(
        choices=MessageKind.choices, initial=MessageKind.TRANSACTIONAL,
        help_text="Marketing needs SMS consent and waits for the end of quiet hours.",
    )  # fmt: skip
    allow_non_mobile = forms.BooleanField(
        required=False, label="Send even if the number is not a mobile"
    )
    schedule_at = SiteTimeField(
        required=False, label="Send at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )  # fmt: skip

    def clean_text(self) -> str:
        return plain_line_breaks(self.cleaned_data["text"])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Named: staff elsewhere cannot guess which zone "the site's" is.
        self.fields[
            "schedule_at"
        ].help_text = (
            f"Leave empty to send now; the time is in {timezone.get_current_timezone_name()}."
        )


class HistoryFilterForm(forms.Form):
    sender = forms.ChoiceField(choices=SENDERS, required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *Status.choices], required=False)
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    contact = forms.CharField(required=False, max_length=254)
    country = forms.CharField(required=False, max_length=2)


class LookupForm(forms.Form):
    number = forms.CharField(max_length=40)


class OptOutForm(forms.Form):
    phone = forms.CharField(max_length=40)
    reason = forms.CharField(max_length=200)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=200)


class TopUpForm(forms.Form):
    amount = forms.DecimalField(min_value=0, max_digits=14, decimal_places=4)
    note = forms.CharField(max_length=200, required=False)
    idempotency_key = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)


class PriceForm(forms.Form):
    country = forms.CharField(max_length=2, help_text="Two letters, or * for every other country.")
    per_segment = forms.DecimalField(max_digits=8, decimal_places=4, label="Credits per segment")
