"""Forms for the agents pages: they check shapes; the services check the rules."""

from __future__ import annotations

from django import forms

from dashboard.agents.models import SCOPES, Mode
from dashboard.forms import plain_line_breaks


class AgentSettingsForm(forms.Form):
    description = forms.CharField(max_length=500, required=False)
    mode = forms.ChoiceField(
        choices=Mode.choices,
        help_text="Gated: texts, campaigns and erasures wait for approval. "
        "Monitored: acts at once, shown in the activity feed.",
    )
    scopes = forms.MultipleChoiceField(
        choices=list(SCOPES.items()), widget=forms.CheckboxSelectMultiple, required=False
    )
    rate_limit_per_minute = forms.IntegerField(min_value=1, max_value=100_000, initial=120)
    monthly_request_cap = forms.IntegerField(
        min_value=0, required=False, help_text="Requests a month; empty for no cap."
    )
    monthly_sms_budget = forms.DecimalField(
        min_value=0, max_digits=12, decimal_places=4, required=False,
        label="Monthly SMS budget", help_text="SMS credits a month; empty for no budget.",
    )  # fmt: skip
    # The settings as the page showed them: a colleague's save since is not quietly undone.
    expected_version = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


class AgentCreateForm(AgentSettingsForm):
    name = forms.CharField(max_length=64)
    expected_version = None  # a new agent has no settings anyone could have saved
    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}),
        required=False,
        label="System prompt",
        help_text="Optional; becomes version 1.",
    )

    field_order = ["name", "description", "mode", "scopes"]

    def clean_prompt(self) -> str:
        return plain_line_breaks(self.cleaned_data["prompt"])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A new agent with no scope could only ever be refused (403): say so now, not when its
        # first call fails. (Settings may still clear them, to pause an agent.)
        self.fields["scopes"].required = True
        self.fields["scopes"].error_messages["required"] = (
            "Pick at least one scope: an agent without any can call nothing."
        )


class PromptForm(forms.Form):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "data-line-numbers": ""}),
        strip=False,
        max_length=50_000,
        label="System prompt",
    )
    note = forms.CharField(
        max_length=300, label="Why this change", help_text="Shown in the version list."
    )
    # The newest version when the editor was opened: a version saved since is not overwritten.
    latest = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def clean_text(self) -> str:
        return plain_line_breaks(self.cleaned_data["text"])


# The format the browser's datetime-local input shows and sends.
LOCAL_DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class UndoWindowForm(forms.Form):
    start = forms.DateTimeField(widget=LOCAL_DATETIME)
    end = forms.DateTimeField(widget=LOCAL_DATETIME)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            raise forms.ValidationError("The end of the window is before its start.")
        return data


class FlagForm(forms.Form):
    comment = forms.CharField(max_length=500, label="Why should someone look at this?")
