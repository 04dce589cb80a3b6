"""Forms for the import pages: the upload, and the mapping with the job's options."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from django import forms
from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, QueryDict

from contacts.imports.mapping import STANDARD_TARGETS, meta_key
from contacts.imports.models import ImportMode
from contacts.models import ContactList, Field
from contacts.services import imports as import_service
from dashboard.errors import SwitchboardError
from dashboard.forms import checked


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, UTF-16 or Windows-1252; comma, semicolon or tab separated; "
        "the first line names the columns.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv"}),
    )


# Room in the mapping form, besides one choice per column, for the options and the CSRF token.
_OPTION_FIELDS = 100


def posted_mapping(request: HttpRequest, *, columns: int) -> QueryDict:
    """The mapping form as posted, read with room for one field per column of the file: Django's
    DATA_UPLOAD_MAX_NUMBER_FIELDS is set for any form, and a wide file's mapping has more."""
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    if limit is None or request.content_type != "application/x-www-form-urlencoded":
        return request.POST
    encoding = request.encoding or settings.DEFAULT_CHARSET
    try:
        pairs = parse_qsl(
            request.body.decode(encoding, errors="replace"),
            keep_blank_values=True,
            max_num_fields=max(limit, columns + _OPTION_FIELDS),
        )
    except ValueError:
        raise TooManyFieldsSent("More fields than this file has columns and options.") from None
    form = QueryDict(mutable=True, encoding=encoding)
    for key, value in pairs:
        form.appendlist(key, value)
    return form


class MappingForm(forms.Form):
    """One choice per CSV column (``col_<index>``) plus the job's options.

    It runs the import service's own checks of the mapping and options, so a submission shows
    every problem at once; ``configure_import`` checks them again when it queues the job.
    """

    mode = forms.ChoiceField(
        choices=ImportMode.choices, initial=ImportMode.UPSERT, widget=forms.RadioSelect
    )
    lists = forms.ModelMultipleChoiceField(
        queryset=ContactList.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Add to lists",
    )
    tags = forms.CharField(
        required=False, max_length=500, label="Tags to apply", help_text="Comma-separated."
    )
    default_region = forms.CharField(
        max_length=2,
        label="Default phone region",
        help_text="For numbers written without +country code, e.g. GB, FR, US.",
    )
    dry_run = forms.BooleanField(
        required=False, label="Dry run: check the whole file and report, write nothing"
    )
    webhook_url = forms.URLField(
        required=False,
        assume_scheme="https",
        max_length=500,
        label="Webhook URL",
        help_text="Optional: receives a signed JSON summary when the import ends.",
    )

    def __init__(self, *args, headers: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.headers = headers
        base = [("", "— ignore —"), *STANDARD_TARGETS.items()]
        base += [(f"field:{f.name}", f"Custom field: {f.name}") for f in Field.objects.all()]
        columns = {}
        for index, header in enumerate(headers):
            key = meta_key(header, index)
            columns[f"col_{index}"] = forms.ChoiceField(
                choices=[*base, (f"meta:{key}", f"Metadata “{key}”")],
                required=False,
                label=header or f"Column {index + 1}",
            )
        # Column choices first, in file order, then the options.
        self.fields = {**columns, **self.fields}

    @property
    def column_fields(self) -> list[forms.BoundField]:
        return [self[f"col_{i}"] for i in range(len(self.headers))]

    @property
    def option_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if not name.startswith("col_")]

    def clean_default_region(self) -> str:
        return checked(import_service.clean_region, self.cleaned_data["default_region"])

    def clean_webhook_url(self) -> str:
        return checked(import_service.clean_webhook_url, self.cleaned_data["webhook_url"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # A refused column choice is missing from the mapping: judging the mapping without it
        # would add a misleading error (say, "map a column to Email") to the column's own.
        if not any(self.has_error(f"col_{i}") for i in range(len(self.headers))):
            try:
                import_service.clean_mapping(self.mapping(), self.headers)
            except SwitchboardError as exc:
                for problem in exc.problems:
                    self.add_error(None, problem.message)
        return cleaned

    def mapping(self) -> dict[str, str]:
        return {
            str(i): self.cleaned_data[f"col_{i}"]
            for i in range(len(self.headers))
            if self.cleaned_data.get(f"col_{i}")
        }

    def tag_names(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data["tags"].split(",") if t.strip()]
