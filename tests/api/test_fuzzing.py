"""Property-based fuzzing of every API operation from its own OpenAPI document (schemathesis).

Whatever a generated request holds, the API answers without a server error and with a status,
content type and body its document declares. Bounded (a few examples per operation) so the
suite stays fast; raise FUZZ_EXAMPLES locally for a deeper run.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dashboard.agents.services import issue_token

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# Reading the document touches no database, so it can load when the module is collected.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    # Schemathesis calls the WSGI app directly, not through Django's test client: stop Django
    # closing the database connection after each request (it holds the test's transaction).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _sandbox(settings, tmp_path):
    # Fuzzed uploads and sends stay in the test's own directory and the sandbox gateway.
    settings.IMPORT_DIR = tmp_path / "imports"
    settings.SMS_GATEWAY = "sandbox"


@pytest.fixture
def bearer(make_agent) -> dict[str, str]:
    agent = make_agent("fuzzer", rate_limit_per_minute=1_000_000)
    token, _ = issue_token(client_id=agent.client_id, client_secret=agent.client_secret)
    return {"Authorization": f"Bearer {token}"}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_input_makes_the_api_fail_or_break_its_document(case, bearer):
    case.call_and_validate(headers=bearer, checks=CHECKS)
