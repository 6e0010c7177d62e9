"""Errors are values: every stage collects `Problem`s and raises one `SpecError` holding them all.

A user fixing a spec wants every problem of the file at once, each on one line that an editor or
CI can jump to (`file:line:col: message`), so nothing in the compiler stops at the first problem
it sees unless continuing would only produce noise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

MAX_PROBLEMS = 100
"""Most problems a `SpecError` shows: a hostile file can hold a million mistakes, and a reader
wants the first ones, fast."""


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in a spec; sorts by position."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{one_line(self.file)}:{self.line}:{self.col}: {one_line(self.message)}"


def one_line(text: str) -> str:
    """Escape control and bidi characters: a message is exactly one line, shown as written."""
    if text.isprintable() and not _BIDI.search(text):
        return text
    return "".join(ch if ch.isprintable() and not _is_bidi(ch) else ascii(ch)[1:-1] for ch in text)


_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def _is_bidi(ch: str) -> bool:
    return _BIDI.match(ch) is not None


Stage = Literal["yaml", "spec", "network"]
"""The stages of `netspec.load`, in order, each refusing a spec for problems of its own kind:
`yaml` the file (its encoding and size, YAML syntax, the safe subset of YAML), `spec` each key
and value (known keys and layer types, types, bounds), `network` what they describe together
(references, shapes, sharing, training, the parameter budget)."""


class SpecError(Exception):
    """A spec is invalid. `problems` holds the problems found, sorted by position: all of them,
    or the first `MAX_PROBLEMS` and a last one saying that more were left out."""

    stage: Stage | None = None
    """The stage that refused the spec, once the error has left it (see `stage`). A spec the
    "spec" stage refuses also carries the shape problems of its valid layers (every problem
    at once), under that stage."""

    def __init__(self, problems: list[Problem]) -> None:
        assert problems, "SpecError needs at least one problem"
        unique = sorted(set(problems))
        if len(unique) > MAX_PROBLEMS:
            hidden = unique[MAX_PROBLEMS]
            message = f"too many problems; only the first {MAX_PROBLEMS} are shown"
            note = Problem(hidden.file, hidden.line, hidden.col, message)
            unique = [*unique[:MAX_PROBLEMS], note]
        self.problems = unique
        super().__init__("\n".join(str(p) for p in self.problems))


@contextmanager
def stage(name: Stage) -> Iterator[None]:
    """Mark a `SpecError` raised inside as refused by stage `name`: what kind of problem it
    holds, for tools that sort problems by kind (SARIF's rules), is known only here."""
    try:
        yield
    except SpecError as exc:
        exc.stage = name
        raise
