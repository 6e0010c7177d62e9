"""The JSON Schema of the spec format, generated from the IR models.

Draft-07, because yaml-language-server (the YAML support of VS Code and many editors) reads
only that draft: pydantic's `$defs` become `definitions` and the `$ref`s follow.
"""

from __future__ import annotations

import json
from typing import Any

from netspec.ir import NetworkSpec

SCHEMA_ID = "https://netspec.dev/schema/netspec-1.json"


def schema() -> dict[str, Any]:
    raw = NetworkSpec.model_json_schema(ref_template="#/definitions/{model}")
    text = json.dumps(raw).replace('"$defs"', '"definitions"')
    result = json.loads(text)
    result["$schema"] = "http://json-schema.org/draft-07/schema#"
    result["$id"] = SCHEMA_ID
    result["title"] = "netspec network spec"
    return result
