"""Schemathesis against the OpenAPI document, through the WSGI app, with an admin token: for
inputs that fit the document and inputs that break it, on every operation, no server error and
no response that breaks the document (its status, content type, headers and body); on SQLite
and on PostgreSQL, which refuses more (NUL in text, out-of-range numbers).

The operations are taken from the document inside the test (schemathesis' lazy pytest loader
reads a private attribute that pytest 9 no longer has), each fuzzed by Hypothesis in turn."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api_calls import ON_BOTH, bearer

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
EXAMPLES = 20  # per operation and mode: the whole test stays under a minute
# operations whose every call takes seconds: starting a pipeline run waits for its process to
# record the run
FEWER_EXAMPLES = {"start_pipeline_run": 3}


@pytest.mark.parametrize("settings", ON_BOTH, indirect=True)
def test_no_input_yields_a_server_error_or_breaks_the_document(app: Any, tokens: Any):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = bearer(tokens.admin)
    fuzzed = []
    for result in schema.get_all_operations():
        operation = result.ok()
        inputs = [operation.path_parameters, operation.query, operation.body]
        # an operation that takes no input has nothing to break
        modes = [GenerationMode.POSITIVE] + [GenerationMode.NEGATIVE] * any(map(len, inputs))
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=FEWER_EXAMPLES.get(operation.definition.raw["operationId"], EXAMPLES),
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: Any) -> None:
                # a query parameter whose value is an empty array is sent as no parameter at
                # all: a negative case that breaks the document only by adding one is, as
                # sent, a valid request (schemathesis then calls its 200 a failure)
                assume(not any(value == [] for value in (case.query or {}).values()))
                case.call_and_validate(headers=headers, checks=CHECKS)

            fuzz()
        fuzzed.append(operation.label)
    assert len(fuzzed) >= 10, fuzzed
