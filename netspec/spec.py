"""The spec loader: untrusted YAML text to plain Python data plus a source map.

Specs come from pull requests and strangers, so this module is deliberately strict:

* only YAML's safe constructors, with the YAML 1.2 core schema (``no`` and ``off`` are strings,
  ``1e-3`` is a float), and no tags at all;
* bounded size, nesting depth and alias expansion (no "billion laughs"), and integers of sane
  length (Python refuses to parse 4,300+ digit integers, and no spec needs one);
* duplicate keys are an error naming both lines, instead of YAML's silent "last one wins".

Every node's position is kept in a `SourceMap` keyed by its path (``("layers", 3, "filters")``),
so later stages can report ``file:line:col`` for any value they reject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from netspec.errors import Problem, SpecError

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_NODES = 200_000
MAX_INT_DIGITS = 18

Path_ = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Positions (1-based line, column) of the values and keys of a loaded spec."""

    file: str
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """Position of `path`, or of its nearest ancestor that has one (a missing key, say)."""
        table = self.keys if key else self.values
        while path:
            if path in table:
                return table[path]
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), (1, 1))

    def problem(self, path: Path_, message: str, *, key: bool = False) -> Problem:
        line, col = self.locate(path, key=key)
        return Problem(self.file, line, col, message)


@dataclass(frozen=True)
class Document:
    """A loaded spec: plain data (dicts, lists, scalars) and where each piece came from."""

    data: Any
    source: SourceMap
    text: str


class _CoreLoader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core schema's implicit types instead of YAML 1.1's."""


_CoreLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", list("~nN") + [""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+.0123456789"),
    ),
]:
    _CoreLoader.add_implicit_resolver(_tag, re.compile(_pattern), _first)


def load(source: str | Path, *, name: str | None = None) -> Document:
    """Load a spec from a path or from YAML text (`name` labels text in messages)."""
    if isinstance(source, Path) or (isinstance(source, str) and _looks_like_path(source)):
        path = Path(source)
        label = name or str(source)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise SpecError([Problem(label, 1, 1, f"cannot read spec: {exc.strerror}")]) from None
        return load_bytes(raw, label)
    return load_text(str(source), name or "<spec>")


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and text.endswith((".yaml", ".yml"))


def load_bytes(raw: bytes, file: str) -> Document:
    """Decode UTF-8 strictly (with a located error for the first bad byte), then load."""
    if len(raw) > MAX_BYTES:
        raise SpecError([Problem(file, 1, 1, f"spec is larger than {MAX_BYTES} bytes")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        message = f"spec is not valid UTF-8 (byte 0x{raw[exc.start]:02x})"
        raise SpecError([Problem(file, line, col, message)]) from None
    return load_text(text, file)


def load_text(text: str, file: str) -> Document:
    """Parse YAML text into a `Document`, refusing anything outside the safe subset."""
    source = SourceMap(file)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise SpecError([Problem(file, 1, 1, f"spec is larger than {MAX_BYTES} bytes")])
    if not text.strip():
        raise SpecError([Problem(file, 1, 1, "spec is empty")])
    try:
        _check_events(text, file)
        node = yaml.compose(text, Loader=_CoreLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError([Problem(file, line, col, f"invalid YAML: {exc.problem}")]) from None
    except yaml.reader.ReaderError as exc:
        line, col = _position(text, exc.position)
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"invalid character U+{char:04X} in spec"
        raise SpecError([Problem(file, line, col, message)]) from None
    except yaml.YAMLError as exc:  # remaining YAML errors carry no position
        raise SpecError([Problem(file, 1, 1, f"invalid YAML: {exc}")]) from None
    if node is None:
        raise SpecError([Problem(file, 1, 1, "spec is empty")])
    problems: list[Problem] = []
    data = _Builder(source, problems).build(node, ())
    if problems:
        raise SpecError(problems)
    return Document(data, source, text)


def _position(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _check_events(text: str, file: str) -> None:
    """Refuse tags, several documents and deep nesting from the event stream.

    The event parser is iterative, so this runs before the recursive composer could hit
    Python's recursion limit on a hostile file.
    """
    depth = 0
    documents = 0
    for event in yaml.parse(text, Loader=_CoreLoader):
        mark = event.start_mark
        where = (mark.line + 1, mark.column + 1)
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise SpecError([Problem(file, *where, "a spec is one YAML document, found more")])
        tag = getattr(event, "tag", None)
        if tag is not None:
            raise SpecError([Problem(file, *where, f"YAML tags are not allowed (found {tag!r})")])
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                message = f"spec is nested deeper than {MAX_DEPTH} levels"
                raise SpecError([Problem(file, *where, message)])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


class _Builder:
    """Turns composed YAML nodes into plain data, recording positions and problems."""

    def __init__(self, source: SourceMap, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        self.nodes = 0

    def _fail(self, node: yaml.Node, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.source.file, mark.line + 1, mark.column + 1, message))

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            if self.nodes == MAX_NODES + 1:
                self._fail(node, f"spec expands to more than {MAX_NODES} values (alias bomb?)")
            return None
        self.source.values.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self._fail(key_node, "YAML merge keys ('<<') are not allowed")
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                self._fail(key_node, "keys must be plain strings")
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in result:
                self._fail(
                    key_node, f"duplicate key {key!r} (first defined on line {first_line[key]})"
                )
                continue
            first_line[key] = line
            self.source.keys[(*path, key)] = (line, key_node.start_mark.column + 1)
            result[key] = self.build(value_node, (*path, key))
        return result

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        tag, value = node.tag, node.value
        if tag == "tag:yaml.org,2002:null":
            return None
        if tag == "tag:yaml.org,2002:bool":
            return value.lower() == "true"
        if tag == "tag:yaml.org,2002:int":
            digits = value.lstrip("+-")
            if len(digits) > MAX_INT_DIGITS:
                self._fail(node, f"integer with {len(digits)} digits is too large")
                return None
            return int(value, 0) if digits.startswith(("0x", "0o")) else int(value)
        if tag == "tag:yaml.org,2002:float":
            if len(value) > 64:
                self._fail(node, "number literal is too long")
                return None
            return float(value.lower().replace(".inf", "inf").replace(".nan", "nan"))
        return value
