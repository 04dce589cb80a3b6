"""Forms validate the shape of what staff type; the services enforce the business rules."""

from __future__ import annotations

from django import forms

from contacts.models import Consent, ContactList, FieldType, Tag
from dashboard import jsonvalues
from dashboard.forms import plain_line_breaks


class ContactForm(forms.Form):
    email = forms.CharField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    phone = forms.CharField(
        max_length=40,
        required=False,
        help_text="Any format; numbers without +country use the default region.",
    )
    first_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100, required=False)
    email_consent = forms.ChoiceField(choices=Consent.choices, initial=Consent.UNKNOWN)
    sms_consent = forms.ChoiceField(
        choices=Consent.choices, initial=Consent.UNKNOWN, label="SMS consent"
    )


class ContactEditForm(ContactForm):
    unsubscribed = forms.BooleanField(required=False, label="Permanently unsubscribed")
    # The version the editor loaded: a save based on an older one is refused, not merged.
    version = forms.IntegerField(widget=forms.HiddenInput)


class TextValueField(forms.CharField):
    """Text as typed in a textarea, with the CRLF line breaks browsers send read as the LF
    they were stored with (so an untouched value is not taken for a change)."""

    def to_python(self, value):
        value = super().to_python(value)
        return plain_line_breaks(value) if value else value


def field_values_form(fields: list, initial: dict) -> forms.Form:
    """A form with one input per custom field definition, typed by the field's type."""
    form_fields: dict[str, forms.Field] = {}
    for field in fields:
        name = f"field_{field.pk}"
        match field.type:
            case FieldType.NUMBER:
                form_fields[name] = forms.CharField(
                    required=False,
                    label=field.name,
                    widget=forms.TextInput(attrs={"inputmode": "decimal"}),
                )
            case FieldType.DATE:
                form_fields[name] = forms.CharField(
                    required=False, label=field.name, widget=forms.DateInput(attrs={"type": "date"})
                )
            case FieldType.BOOLEAN:
                form_fields[name] = forms.ChoiceField(
                    required=False,
                    label=field.name,
                    choices=[("", "—"), ("true", "Yes"), ("false", "No")],
                )
            case _:
                # A textarea: an <input> drops the line breaks of a value imported or set by
                # an agent ("Gate code 1234\nRing twice"), and saving any other field of the
                # form then stored the text run together.
                form_fields[name] = TextValueField(
                    required=False,
                    label=field.name,
                    max_length=2000,
                    widget=forms.Textarea(attrs={"rows": 2}),
                )
    # The contact version the editor loaded: a save based on an older one is refused.
    form_fields["version"] = forms.IntegerField(widget=forms.HiddenInput)
    form_class = type("FieldValuesForm", (forms.Form,), form_fields)
    return form_class(initial=initial)


class TagForm(forms.Form):
    name = forms.CharField(max_length=64, label="Tag")


class TagCreateForm(TagForm):
    # The newest tag when the form was drawn: the same form sent twice is not "already exists".
    after_tag = forms.IntegerField(
        required=False, min_value=0, max_value=2**63 - 1, widget=forms.HiddenInput
    )


class TagRenameForm(TagForm):
    # The name as the page showed it: a colleague's rename since is not quietly replaced.
    expected_version = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


class TagMergeForm(forms.Form):
    """The tag another is merged into (tag edit page)."""

    into = forms.ModelChoiceField(
        Tag.objects.all(),
        error_messages={
            "required": "Choose a tag.",
            # The page's dropdown offered it: someone deleted or merged it away since.
            "invalid_choice": "The tag chosen to merge into no longer exists. Choose another.",
        },
    )


class ListForm(forms.Form):
    name = forms.CharField(max_length=100)
    # A textarea: a one-line input drops the line breaks of a description an agent set, and
    # saving the page for a new limit then stored the lines run together.
    description = TextValueField(
        max_length=300, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    limit = forms.IntegerField(min_value=1, required=False, help_text="Leave empty for no limit.")


class ListCreateForm(ListForm):
    # The newest list when the form was drawn: the same form sent twice makes one list.
    after_list = forms.IntegerField(
        required=False, min_value=0, max_value=2**63 - 1, widget=forms.HiddenInput
    )


class ListEditForm(ListForm):
    # The list as the page showed it: a colleague's save since is not quietly undone.
    expected_version = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


class FieldForm(forms.Form):
    name = forms.CharField(max_length=64)
    type = forms.ChoiceField(choices=FieldType.choices)


class FieldRenameForm(forms.Form):
    name = forms.CharField(max_length=64)


class AddToListForm(forms.Form):
    list_id = forms.ModelChoiceField(
        queryset=ContactList.objects.all(), label="List", empty_label="Choose a list…"
    )


class MetadataForm(forms.Form):
    key = forms.CharField(max_length=100)
    value = forms.CharField(
        max_length=2000,
        required=False,
        help_text='Text, or JSON (42, true, ["a"], {"k": 1}). Empty removes the key.',
    )

    def clean_value(self):
        raw = self.cleaned_data["value"].strip()
        if raw == "":
            return None
        try:
            # NaN, Infinity and 1e400 are not JSON (no database stores them): they are text.
            return jsonvalues.loads(raw)
        except ValueError:
            return raw
