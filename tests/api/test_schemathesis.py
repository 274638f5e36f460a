"""Schemathesis against the served schema of a real daphne, with a test token: every
operation gets generated requests (bounded, so the run stays short); none may answer 5xx,
and every response must match the schema (status, content type, headers, body).

One check is left out: positive_data_acceptance (a request the schema allows must not get
a 400). The API refuses, with a 400 and a code, what no JSON schema can say: a text of
only whitespace, a model this user may not use, a title that shows nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api import live

pytestmark = pytest.mark.slow

EXAMPLES = 12


@pytest.fixture(scope="module")
def server(api_server: live.Live) -> live.Live:
    # A conversation with an answer, so small generated ids also reach an owner's path.
    with api_server.client() as api:
        conversation = api.post("/conversations", json={"title": "fuzzed"}).json()["id"]
        api.post(
            f"/conversations/{conversation}/messages", json={"text": "[[fake tokens=3]]"}
        ).raise_for_status()
    return api_server


def test_every_operation_answers_within_its_schema(server: live.Live) -> None:
    # schemathesis' own pytest plugin does not run under this pytest: each operation's
    # cases come from its hypothesis strategy instead, the same generation and checks.
    schema = schemathesis.openapi.from_url(f"{server.server.url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {server.token}"}
    tested: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operation = result.ok()
        # A stream lasts as long as its answer: tests/api/test_events_live.py tests it.
        if operation.path.endswith("/events"):
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            response = case.call_and_validate(
                headers=headers, timeout=20, excluded_checks=[positive_data_acceptance]
            )
            assert response.status_code < 500

        check()
        tested.append(operation.label)
    assert len(tested) >= 20, tested


def test_the_schema_names_every_operation(server: live.Live) -> None:
    served = httpx.get(f"{server.server.url}/api/v1/openapi.json", timeout=10).json()
    assert len(served["paths"]) >= 15
