from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from dashboard.reports.embeds import WINDOWS
from dashboard.reports.queries import GROUPINGS, MAX_DAYS, Period

GROUPING_CHOICES = [(g, g.capitalize()) for g in GROUPINGS]
# Nothing in Switchboard predates this; far-off dates (year 9999) overflow the period's bounds.
EARLIEST = dt.date(2000, 1, 1)


class PeriodForm(forms.Form):
    """The period a report covers: a preset window or explicit dates, and the grouping."""

    days = forms.TypedChoiceField(
        choices=[(d, f"Last {d} days") for d in WINDOWS] + [("", "Custom dates")],
        coerce=int, empty_value=None, required=False, initial=30, label="Period",
    )  # fmt: skip
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    grouping = forms.ChoiceField(
        choices=GROUPING_CHOICES, initial="day", required=False, label="Group by"
    )

    def clean(self):
        data = super().clean()
        today = timezone.localdate()
        if data.get("days"):
            data["start"], data["end"] = today - dt.timedelta(days=data["days"] - 1), today
        elif not (data.get("start") and data.get("end")):
            raise forms.ValidationError("Choose a preset period, or both a start and an end date.")
        latest = today + dt.timedelta(days=366)
        if data["start"] < EARLIEST or data["end"] > latest:
            raise forms.ValidationError(
                f"Choose dates from {EARLIEST:%-d %b %Y} to {latest:%-d %b %Y}."
            )
        if data["start"] > data["end"]:
            raise forms.ValidationError("The start date is after the end date.")
        if (data["end"] - data["start"]).days > MAX_DAYS:
            raise forms.ValidationError(f"A report covers at most {MAX_DAYS} days.")
        data["grouping"] = data.get("grouping") or "day"
        return data

    def period(self) -> Period:
        data = self.cleaned_data
        return Period(start=data["start"], end=data["end"], grouping=data["grouping"])


class EmbedLinkForm(forms.Form):
    label = forms.CharField(
        max_length=100, help_text="Where it will be shown, e.g. “Ops wiki: weekly SMS”."
    )
    days = forms.TypedChoiceField(
        choices=[(d, f"Last {d} days") for d in WINDOWS], coerce=int, initial=30
    )
    grouping = forms.ChoiceField(choices=GROUPING_CHOICES, initial="day")
    valid_days = forms.IntegerField(
        min_value=1, max_value=366, initial=90, label="Valid for (days)"
    )
