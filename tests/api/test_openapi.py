"""docs/openapi.json is the schema the code serves: `make openapi` after changing the API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api import openapi


def test_the_committed_schema_is_the_one_the_code_generates():
    committed = openapi.COMMITTED.read_text()
    assert committed == openapi.generate(), (
        "docs/openapi.json differs from the API's schema: run `make openapi` and commit it"
    )


@pytest.mark.django_db
def test_the_served_schema_is_the_committed_one(client):
    served = client.get("/api/v1/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(openapi.COMMITTED.read_text())


def test_the_schema_has_no_duplicate_keys():
    # json.loads keeps the last of two equal keys silently; the docs' YAML parser refuses
    # the document (an int 200 from ninja beside a "200" from openapi_extra did that).
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _value in pairs]
        assert len(keys) == len(set(keys)), keys
        return dict(pairs)

    json.loads(openapi.COMMITTED.read_text(), object_pairs_hook=unique)


def test_every_operation_documents_its_refusals_and_security():
    schema = json.loads(openapi.COMMITTED.read_text())
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            assert {"400", "401", "403", "404"} <= set(operation["responses"]), (method, path)
            schemes = {name for entry in operation["security"] for name in entry}
            assert schemes == {"TokenAuth", "ApiKeyAuth", "SessionAuth"}, (method, path)
