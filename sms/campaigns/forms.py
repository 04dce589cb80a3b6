"""The campaign composer's form: it checks shapes; the campaign service checks the rules."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.conf import settings
from django.utils import timezone

from contacts.models import ContactList, Segment, Tag
from dashboard.forms import plain_line_breaks
from sms.campaigns.models import ScheduleMode
from sms.models import MessageKind


def audience_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    return [
        ("Segments", [(f"segment:{pk}", name) for pk, name in Segment.objects.values_list("pk", "name")]),
        ("Lists", [(f"list:{pk}", name) for pk, name in ContactList.objects.values_list("pk", "name")]),
        ("Tags", [(f"tag:{pk}", name) for pk, name in Tag.objects.values_list("pk", "name")]),
    ]  # fmt: skip


class WallClockField(forms.DateTimeField):
    """A date and time as typed, in no zone yet: the campaign's own zone (or each
    recipient's) gives it one, so the site's zone must not refuse it (its DST gaps)."""

    def to_python(self, value):
        with timezone.override(dt.UTC):  # UTC has no gaps or repeats: the typed wall clock
            moment = super().to_python(value)
        return moment.replace(tzinfo=None) if moment else None


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=120, required=False,
                           help_text="For your list of campaigns; we make one up if empty.")  # fmt: skip
    audience = forms.ChoiceField(choices=[], help_text="A segment, list or tag.")
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}), max_length=1600,
        help_text="Placeholders: {first_name}, {last_name}, {full_name}, {email}, {phone}, custom fields.",
    )  # fmt: skip
    kind = forms.ChoiceField(choices=MessageKind.choices, initial=MessageKind.MARKETING,
                             help_text="Marketing goes only to contacts with SMS consent.")  # fmt: skip
    schedule_mode = forms.ChoiceField(
        label="When", choices=ScheduleMode.choices, initial=ScheduleMode.NOW,
        widget=forms.RadioSelect,
    )  # fmt: skip
    send_at = WallClockField(
        label="Date and time", required=False, input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )  # fmt: skip
    time_zone = forms.CharField(max_length=64, initial=settings.TIME_ZONE,
                                help_text="For “at a date and time”, e.g. Europe/London.")  # fmt: skip
    quiet_hours = forms.CharField(
        max_length=11, required=False, initial=settings.SMS_QUIET_HOURS,
        help_text="Recipient's local hours when nothing is sent (HH:MM-HH:MM); empty for none.",
    )  # fmt: skip
    idempotency_key = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["audience"].choices = [("", "Choose an audience"), *audience_choices()]

    def clean_text(self) -> str:
        return plain_line_breaks(self.cleaned_data["text"])

    def clean_audience(self) -> tuple[str, int]:
        kind, _, pk = self.cleaned_data["audience"].partition(":")
        return kind, int(pk)

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        kind, pk = data["audience"]
        send_at = data.get("send_at")  # naive: a wall clock
        return {
            "name": data.get("name") or "", "text": data["text"], "kind": data["kind"],
            "audience_kind": kind, "audience_id": pk, "schedule_mode": data["schedule_mode"],
            "send_at": send_at,
            "time_zone": data["time_zone"], "quiet_hours": data.get("quiet_hours") or "",
        }  # fmt: skip
