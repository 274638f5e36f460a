"""The conversation API's OpenAPI document, as committed in docs/openapi.json.

`make openapi` (manage.py openapi --write) rewrites the file from the code; a test fails
while the committed file and the code disagree, so CI catches a schema change that was
not committed with it.
"""

from __future__ import annotations

import json
from pathlib import Path

from api.v1 import api

COMMITTED = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


def generate() -> str:
    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
