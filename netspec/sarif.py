"""`netspec validate --format sarif`: the problems as a SARIF 2.1.0 log, for GitHub code scanning.

One run of one tool, `netspec`, with a rule per stage of `netspec.load` (`netspec.errors.Stage`):
netspec knows what kind a problem is only by the stage that refused the spec, so that is the
rule. Every result is an error at a file's line and column, both 1-based, columns counted in
Unicode code points (the run's `columnKind`), exactly as in the text format.
"""

from __future__ import annotations

import os
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from netspec import __version__
from netspec.errors import SpecError, Stage, one_line

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
"""The OASIS standard's schema, the one a log names (`$schema`)."""

RULES: dict[Stage, tuple[str, str]] = {
    "yaml": (
        "InvalidYaml",
        "The file is not YAML a spec may be: not UTF-8, too large or too deeply nested, a "
        "syntax error, or outside the safe subset (tags, merge keys, non-string or duplicate "
        "keys, several documents).",
    ),
    "spec": (
        "InvalidKeyOrValue",
        "A key or value breaks the spec format: an unknown key or layer type, a missing key, a "
        "value of the wrong type or out of its bounds.",
    ),
    "network": (
        "InvalidNetwork",
        "The keys and values describe no network that can be built: an unknown input, block or "
        "parameter, weights shared with a layer that does not fit, incompatible shapes, a "
        "training section that does not fit the network, or more parameters than the budget.",
    ),
}
"""The rules, by id: a name and a description."""


def log(errors: list[SpecError]) -> dict[str, Any]:
    """The SARIF log of the problems of `errors`; without errors, a log of no results."""
    ids = list(RULES)
    rules = [
        {
            "id": rule,
            "name": name,
            "shortDescription": {"text": description},
            "defaultConfiguration": {"level": "error"},
        }
        for rule, (name, description) in RULES.items()
    ]
    results = []
    for error in errors:
        assert error.stage is not None, "netspec.load marks every SpecError with its stage"
        for problem in error.problems:
            location = {
                "artifactLocation": {"uri": artifact_uri(problem.file)},
                "region": {"startLine": problem.line, "startColumn": problem.col},
            }
            results.append(
                {
                    "ruleId": error.stage,
                    "ruleIndex": ids.index(error.stage),
                    "level": "error",
                    "message": {"text": one_line(problem.message)},
                    "locations": [{"physicalLocation": location}],
                }
            )
    driver = {"name": "netspec", "version": __version__, "rules": rules}
    run = {"tool": {"driver": driver}, "columnKind": "unicodeCodePoints", "results": results}
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def artifact_uri(file: str) -> str:
    """A spec file as a URI reference: a relative path stays relative (code scanning resolves
    it from the checkout's root), an absolute one becomes a `file:` URI; both percent-encoded
    from the name's bytes (a file name need not be valid UTF-8)."""
    path = PurePath(file)
    return path.as_uri() if path.is_absolute() else quote(os.fsencode(path.as_posix()))
