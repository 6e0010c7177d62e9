"""The JSON Schema editors use (draft-07, for yaml-language-server): it accepts every form the
IR accepts, shorthands and `$param` references included, and refuses unknown keys and wrong
types, so a spec author sees the same mistakes in the editor that `netspec validate` reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import netspec
from netspec.cli import main
from netspec.schema import schema

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
COMMITTED = ROOT / "netspec.schema.json"
VALIDATOR = jsonschema.Draft7Validator(schema())


def errors(text: str) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(yaml.safe_load(text))]


def test_the_schema_is_valid_draft_07() -> None:
    assert schema()["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema())
    assert "prefixItems" not in json.dumps(schema())  # a 2020-12 keyword draft-07 would ignore


def test_the_committed_schema_is_what_netspec_schema_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regenerate with `netspec schema > netspec.schema.json`."""
    assert main(["schema"]) == 0
    assert COMMITTED.read_text() == capsys.readouterr().out


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_shipped_spec_is_valid_against_the_schema(path: Path) -> None:
    assert errors(path.read_text()) == []


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_shipped_spec_points_editors_at_the_schema(path: Path) -> None:
    assert (
        path.read_text().splitlines()[0] == "# yaml-language-server: $schema=../netspec.schema.json"
    )


HEAD = "netspec: 1\nname: Net\ninput: {shape: [3, 32, 32]}\n"
BLOCK = (
    HEAD
    + """\
blocks:
  b:
    params: {n: 2, f: null, r: 0.5, b: false}
    layers:
      - %s
layers:
  - {type: block, block: b, args: {f: 8}}
"""
)


@pytest.mark.parametrize(
    "layer",
    [
        "{type: conv2d, filters: 8, kernel: 3}",
        "{type: conv2d, filters: 8, kernel: [3, 5], stride: 2, padding: same, dilation: 1}",
        "{type: conv2d, filters: 8, kernel: 3, padding: 1, activation: relu}",
        "{type: conv2d, filters: 8, kernel: 3, padding: [0, 1], activation: {type: elu, alpha: 2}}",
        "{type: maxpool2d, size: 2, padding: 1}",
        "{type: conv2d, filters: 8, kernel: 1, activation: softmax}",
    ],
)
def test_shorthands_are_accepted(layer: str) -> None:
    text = HEAD + f"layers:\n  - {layer}\n"
    assert errors(text) == []
    netspec.load(text)  # and the IR agrees


@pytest.mark.parametrize(
    "layer",
    [
        "{type: conv2d, filters: $f, kernel: $n, stride: [1, $n], padding: $n, repeat: $n}",
        "{type: dropout, rate: $r}",
        "{type: conv2d, filters: $f, kernel: 1, bias: $b}",
    ],
)
def test_param_references_are_accepted(layer: str) -> None:
    assert errors(BLOCK % layer) == []
    netspec.load(BLOCK % layer)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEAD + "layers:\n  - {type: conv2d, filter: 8, kernel: 3}\n", "is not valid under any"),
        (HEAD + "layers:\n  - {type: conv2d, filters: '8', kernel: 3}\n", "is not valid under any"),
        (
            HEAD + "layers:\n  - {type: conv2d, filters: 8, kernel: [1, 2, 3]}\n",
            "is not valid under any",
        ),
        (HEAD + "layers:\n  - {type: conv3d, filters: 8, kernel: 3}\n", "is not valid under any"),
        (
            HEAD + "layers:\n  - {type: dense, units: 8, activation: rleu}\n",
            "is not valid under any",
        ),
        (HEAD + "layers:\n  - {type: relu}\ntrain: {optimizer: sgdd}\n", "is not valid under any"),
        (HEAD + "layers:\n  - {type: relu}\ntrain: {schedule: step}\n", "is not valid under any"),
        (
            HEAD + "layers:\n  - {type: relu}\ntrain: {epochs: ten}\n",
            "'ten' is not of type 'integer'",
        ),
        (
            HEAD + "layer:\n  - {type: relu}\n",
            "Additional properties are not allowed ('layer' was unexpected)",
        ),
        ("netspec: 2\nname: Net\ninput: {shape: [4]}\nlayers: [{type: relu}]\n", "1 was expected"),
    ],
)
def test_unknown_keys_and_wrong_types_are_refused(text: str, message: str) -> None:
    found = errors(text)
    assert found and any(message in error for error in found), found


def _properties(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [found for item in node for found in _properties(item)]
    if not isinstance(node, dict):
        return []
    own = [node] if "properties" in node else []
    return own + [found for value in node.values() for found in _properties(value)]


def test_every_object_refuses_unknown_keys() -> None:
    objects = _properties(schema())
    assert len(objects) > 30
    assert all(obj.get("additionalProperties") is False for obj in objects)
