"""The JSON Schema of the spec format, generated from the IR models.

Draft-07, because yaml-language-server (the YAML support of VS Code and many editors) reads
only that draft. Pydantic writes draft 2020-12, so two of its spellings are translated here:
`$defs` become `definitions` (and the `$ref`s follow), and a tuple's `prefixItems` become
draft-07's `items` list with `additionalItems: false`. The shorthands a spec may use (`kernel: 3`,
`activation: relu`, `$param` references in blocks) are described next to their validators in
`netspec.ir`, so the schema accepts exactly the forms the IR does, and refuses unknown keys.
It has no `$id`: no server hosts it, and editors find it by the path a spec's
`# yaml-language-server: $schema=...` line gives.
"""

from __future__ import annotations

from typing import Any

from netspec.ir import NetworkSpec

DRAFT_07 = "http://json-schema.org/draft-07/schema#"


def schema() -> dict[str, Any]:
    raw = NetworkSpec.model_json_schema(ref_template="#/definitions/{model}")
    result = _draft07(raw)
    result["definitions"] = result.pop("$defs", {})
    result["$schema"] = DRAFT_07
    result["title"] = "netspec network spec"
    return result


def _draft07(node: Any) -> Any:
    """Rewrite pydantic's 2020-12 tuple spelling into draft-07's, recursively."""
    if isinstance(node, list):
        return [_draft07(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _draft07(value) for key, value in node.items()}
    if "prefixItems" in result:
        result["items"] = result.pop("prefixItems")
        result.setdefault("additionalItems", False)
    return result
