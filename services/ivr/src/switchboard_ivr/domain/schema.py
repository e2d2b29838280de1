"""The published JSON Schema of flow documents, generated from the models.

`flow_schema.json` in the package is this schema, kept in sync by a unit test. Regenerate:
`.venv/bin/python -c "from switchboard_ivr.domain.schema import render_flow_schema as r;
print(r(), end='')" > services/ivr/src/switchboard_ivr/flow_schema.json`
"""

from __future__ import annotations

import json
from typing import Any, Final

from switchboard_ivr.domain.model import Flow

FLOW_SCHEMA_ID: Final = "urn:switchboard:schema:ivr-flow:v1"


def flow_json_schema() -> dict[str, Any]:
    schema = Flow.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": FLOW_SCHEMA_ID,
        **schema,
    }


def render_flow_schema() -> str:
    return json.dumps(flow_json_schema(), indent=2, ensure_ascii=False) + "\n"
