"""Errors are values: every stage collects `Problem`s and raises one `SpecError` holding them all.

A user fixing a spec wants every problem of the file at once, each on one line that an editor or
CI can jump to (`file:line:col: message`), so nothing in the compiler stops at the first problem
it sees unless continuing would only produce noise.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in a spec; sorts by position."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{_one_line(self.file)}:{self.line}:{self.col}: {_one_line(self.message)}"


def _one_line(text: str) -> str:
    """Escape control and bidi characters: a message is exactly one line, shown as written."""
    return "".join(ch if ch.isprintable() and not _is_bidi(ch) else ascii(ch)[1:-1] for ch in text)


def _is_bidi(ch: str) -> bool:
    return "\u202a" <= ch <= "\u202e" or "\u2066" <= ch <= "\u2069" or ch in "\u200e\u200f\u061c"


class SpecError(Exception):
    """A spec is invalid. `problems` holds every problem found, sorted by position."""

    def __init__(self, problems: list[Problem]) -> None:
        assert problems, "SpecError needs at least one problem"
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))
