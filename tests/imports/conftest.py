"""Helpers for the import tests: CSV files in any encoding, and running a job to the end."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from contacts.imports.models import ImportJob
from contacts.models import Field
from contacts.services import fields as field_service
from contacts.services import imports
from dashboard.actors import Actor


@pytest.fixture(autouse=True)
def _import_settings(settings, tmp_path):
    settings.IMPORT_DIR = tmp_path / "imports"
    # Small batches, so a few rows already cross batch boundaries.
    settings.IMPORT_BATCH_SIZE = 2


@pytest.fixture
def custom_fields(system_actor: Actor) -> dict[str, Field]:
    return {
        "Company": field_service.create_field(actor=system_actor, name="Company", type="text"),
        "Score": field_service.create_field(actor=system_actor, name="Score", type="number"),
    }


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


@pytest.fixture
def start(staff_actor: Actor) -> Callable[..., ImportJob]:
    """Upload ``data`` and queue it with the suggested (or given) mapping."""

    def start(data: bytes | str, *, actor: Actor | None = None, **options: Any) -> ImportJob:
        if isinstance(data, str):
            data = data.encode()
        options.setdefault("file_name", "leads.csv")
        return imports.start_import(
            actor=actor or staff_actor, file=io.BytesIO(data), size=len(data), **options
        )

    return start


@pytest.fixture
def run(start) -> Callable[..., ImportJob]:
    """Upload, queue and run an import to the end, as the worker would."""

    def run(data: bytes | str, **options: Any) -> ImportJob:
        job = start(data, **options)
        return imports.run_import(job.pk)

    return run
