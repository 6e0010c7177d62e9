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

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from netspec.errors import MAX_PROBLEMS, Problem, SpecError

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_NODES = 200_000
MAX_EVENTS = 50_000
"""YAML events (scalars, keys, starts and ends of collections) read before giving up. The pure
Python parser spends tens of microseconds on each, so this, not the size in bytes, bounds the time
a hostile spec can take. It allows some 8,000 layers written out one by one (blocks and `repeat`
build larger networks); alias expansion is bounded separately by `MAX_NODES`."""
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


_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)  # UTF-32's little-endian mark starts with UTF-16's, so it is tried first


def load_bytes(raw: bytes, file: str) -> Document:
    """Decode UTF-8 strictly (with a located error for the first bad byte), then load."""
    if len(raw) > MAX_BYTES:
        raise SpecError([Problem(file, 1, 1, f"spec is larger than {MAX_BYTES} bytes")])
    body = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        for bom, encoding in _WIDE_BOMS:
            if raw.startswith(bom):
                message = f"spec is {encoding} (it starts with a byte-order mark); save it as UTF-8"
                raise SpecError([Problem(file, 1, 1, message)]) from None
        before = body[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1 :].decode("utf-8")) + 1  # in characters
        message = f"spec is not valid UTF-8 (byte 0x{body[exc.start]:02x})"
        raise SpecError([Problem(file, line, col, message)]) from None
    return load_text(text, file)


def load_text(text: str, file: str) -> Document:
    """Parse YAML text into a `Document`, refusing anything outside the safe subset."""
    source = SourceMap(file)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise SpecError([Problem(file, 1, 1, f"spec is larger than {MAX_BYTES} bytes")])
    if not text.strip():
        raise SpecError([Problem(file, 1, 1, "spec is empty")])
    builder = _Builder(source)
    try:
        data = builder.build(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        builder.problems.append(Problem(file, line, col, f"invalid YAML: {exc.problem}"))
    except yaml.reader.ReaderError as exc:
        line, col = _position(text, exc.position)
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        builder.problems.append(Problem(file, line, col, f"invalid character U+{char:04X} in spec"))
    except yaml.YAMLError as exc:  # remaining YAML errors carry no position
        builder.problems.append(Problem(file, 1, 1, f"invalid YAML: {exc}"))
    except _Stop:
        pass
    if builder.problems:
        raise SpecError(builder.problems)
    if data is _NOTHING:
        raise SpecError([Problem(file, 1, 1, "spec is empty")])
    return Document(data, source, text)


def _position(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _shorthand(tag: str) -> str:
    """A tag as it is usually written: `!!int` for `tag:yaml.org,2002:int`."""
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix) :] if tag.startswith(prefix) else tag


class _Stop(Exception):
    """Building cannot go on (several documents, too deep, too many values)."""


_NOTHING: Any = object()
_SKIP: Any = object()
_STR = "tag:yaml.org,2002:str"
_Position = tuple[Path_, tuple[int, int], bool]
_NodeStart = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent, yaml.AliasEvent)


@dataclass
class _Open:
    """A mapping or sequence being built, and (for a mapping) the key whose value comes next."""

    path: Path_
    value: Any
    anchor: tuple[str, int, int] | None
    key: Any = _NOTHING
    first_line: dict[str, int] = field(default_factory=dict)


class _Builder:
    """Builds plain data and the source map straight from the YAML event stream, in one pass.

    Iterative, so a hostile nesting depth is refused before it could exhaust Python's stack, and
    single-pass, so a spec is scanned once. Tags, merge keys, non-string and duplicate keys and
    oversized numbers are collected as problems; several documents, too deep a nesting or too
    many values (an alias bomb) stop the build.
    """

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.nodes = 0
        self.stack: list[_Open] = []
        self.skipping = 0
        """Depth inside a subtree being skipped (a bad key, or a duplicate key's value)."""
        self.skipping_key = False
        """Whether that subtree is a key, so that its value is skipped next."""
        self.log: list[_Position] = []
        """Every position recorded, in order, so an alias can copy its anchor's positions."""
        self.anchors: dict[str, tuple[Any, int, list[_Position], int]] = {}
        """Each complete anchored node: its value, path length, positions and value count."""
        self.open_anchors: set[str] = set()

    def _fail(self, mark: yaml.Mark, message: str) -> None:
        self.problems.append(Problem(self.source.file, mark.line + 1, mark.column + 1, message))
        if len(self.problems) > MAX_PROBLEMS:
            raise _Stop  # SpecError shows only the first MAX_PROBLEMS anyway

    def _stop(self, mark: yaml.Mark, message: str) -> None:
        self._fail(mark, message)
        raise _Stop

    def build(self, text: str) -> Any:
        self.loader = loader = _CoreLoader(text)
        try:
            root = _NOTHING
            documents = events = 0
            while loader.check_event():
                event = loader.get_event()
                events += 1
                if events > MAX_EVENTS:
                    self._stop(event.start_mark, f"spec has more than {MAX_EVENTS:,} YAML nodes")
                if isinstance(event, yaml.DocumentStartEvent):
                    documents += 1
                    if documents > 1:
                        self._stop(event.start_mark, "a spec is one YAML document, found more")
                elif isinstance(event, _NodeStart) or isinstance(event, yaml.CollectionEndEvent):
                    done = self._event(event)
                    if done is not _NOTHING:
                        root = done
            return root
        finally:
            loader.dispose()

    def _event(self, event: yaml.Event) -> Any:
        """Handle one node event; returns the root value once it is complete."""
        opens = isinstance(event, yaml.CollectionStartEvent)
        if opens and len(self.stack) + self.skipping >= MAX_DEPTH:
            self._stop(event.start_mark, f"spec is nested deeper than {MAX_DEPTH} levels")
        if self.skipping:
            if isinstance(event, yaml.CollectionStartEvent):
                self.skipping += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                self.skipping -= 1
            if not self.skipping:
                if self.skipping_key:
                    self.skipping_key = False
                else:
                    self._after_value()
            return _NOTHING
        if isinstance(event, yaml.CollectionEndEvent):
            return self._close()
        top = self.stack[-1] if self.stack else None
        if top is not None and isinstance(top.value, dict) and top.key is _NOTHING:
            self._key(event, top)
            return _NOTHING
        if top is not None and top.key is _SKIP:
            return self._skip(event)
        if top is None:
            path: Path_ = ()
        else:
            path = (*top.path, top.key if isinstance(top.value, dict) else len(top.value))
        tag = getattr(event, "tag", None)
        if tag is not None:
            self._fail(event.start_mark, f"YAML tags are not allowed (found {_shorthand(tag)!r})")
            return self._skip(event)
        if isinstance(event, yaml.AliasEvent):
            return self._store(path, self._alias(event, path))
        self._count(event.start_mark, 1)
        self._record(path, event.start_mark, key=False)
        anchor = None
        if event.anchor is not None:
            if event.anchor in self.anchors or event.anchor in self.open_anchors:
                message = f"invalid YAML: anchor {event.anchor!r} is defined twice"
                self._fail(event.start_mark, message)
            self.open_anchors.add(event.anchor)
            anchor = (event.anchor, len(self.log) - 1, self.nodes - 1)
        if isinstance(event, yaml.ScalarEvent):
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            value = self._scalar(event, tag)
            if anchor is not None:
                self._anchor(anchor, value, path)
            return self._store(path, value)
        empty: Any = {} if isinstance(event, yaml.MappingStartEvent) else []
        self.stack.append(_Open(path, empty, anchor))
        return _NOTHING

    def _count(self, mark: yaml.Mark, nodes: int) -> None:
        self.nodes += nodes
        if self.nodes > MAX_NODES:
            self._stop(mark, f"spec expands to more than {MAX_NODES} values (alias bomb?)")

    def _record(self, path: Path_, mark: yaml.Mark, *, key: bool) -> None:
        position = (mark.line + 1, mark.column + 1)
        table = self.source.keys if key else self.source.values
        if path not in table:
            table[path] = position
            self.log.append((path, position, key))

    def _key(self, event: yaml.Event, top: _Open) -> None:
        top.key = _SKIP  # unless the key is good: then its value is built
        tag = getattr(event, "tag", None)
        if tag is not None:
            self._fail(event.start_mark, f"YAML tags are not allowed (found {_shorthand(tag)!r})")
            self.skipping_key = isinstance(event, yaml.CollectionStartEvent)
            self.skipping = int(self.skipping_key)
        elif isinstance(event, yaml.ScalarEvent) and event.implicit[0] and event.value == "<<":
            self._fail(event.start_mark, "YAML merge keys ('<<') are not allowed")
        elif (
            not isinstance(event, yaml.ScalarEvent)
            or self.loader.resolve(yaml.ScalarNode, event.value, event.implicit) != _STR
        ):
            self._fail(event.start_mark, "keys must be plain strings")
            self.skipping_key = isinstance(event, yaml.CollectionStartEvent)
            self.skipping = int(self.skipping_key)
        elif event.value in top.value:
            first = top.first_line[event.value]
            message = f"duplicate key {event.value!r} (first defined on line {first})"
            self._fail(event.start_mark, message)
        else:
            top.first_line[event.value] = event.start_mark.line + 1
            self._record((*top.path, event.value), event.start_mark, key=True)
            top.key = event.value

    def _skip(self, event: yaml.Event) -> Any:
        if isinstance(event, yaml.CollectionStartEvent):
            self.skipping = 1
            return _NOTHING
        return self._after_value()

    def _after_value(self) -> Any:
        """A skipped value is complete: the enclosing mapping waits for its next key."""
        if self.stack:
            top = self.stack[-1]
            if isinstance(top.value, dict):
                top.key = _NOTHING
            else:
                top.value.append(None)
            return _NOTHING
        return None

    def _close(self) -> Any:
        done = self.stack.pop()
        if done.anchor is not None:
            self._anchor(done.anchor, done.value, done.path)
        return self._store(done.path, done.value)

    def _store(self, path: Path_, value: Any) -> Any:
        if not self.stack:
            return value
        top = self.stack[-1]
        if isinstance(top.value, dict):
            top.value[top.key] = value
            top.key = _NOTHING
        else:
            top.value.append(value)
        return _NOTHING

    def _anchor(self, anchor: tuple[str, int, int], value: Any, path: Path_) -> None:
        name, first, nodes = anchor
        self.open_anchors.discard(name)
        self.anchors.setdefault(name, (value, len(path), self.log[first:], self.nodes - nodes))

    def _alias(self, event: yaml.AliasEvent, path: Path_) -> Any:
        name = event.anchor
        if name not in self.anchors:
            word = "recursive" if name in self.open_anchors else "undefined"
            self._fail(event.start_mark, f"invalid YAML: {word} alias {name!r}")
            return None
        value, depth, positions, nodes = self.anchors[name]
        self._count(event.start_mark, nodes)
        self._record(path, event.start_mark, key=False)
        for where, position, key in positions[1:]:
            table = self.source.keys if key else self.source.values
            table.setdefault((*path, *where[depth:]), position)
        return value

    def _scalar(self, event: yaml.ScalarEvent, tag: str) -> Any:
        value = event.value
        if tag == "tag:yaml.org,2002:null":
            return None
        if tag == "tag:yaml.org,2002:bool":
            return value.lower() == "true"
        if tag == "tag:yaml.org,2002:int":
            digits = value.lstrip("+-")
            if len(digits) > MAX_INT_DIGITS:
                self._fail(event.start_mark, f"integer with {len(digits)} digits is too large")
                return None
            return int(value, 0) if digits.startswith(("0x", "0o")) else int(value)
        if tag == "tag:yaml.org,2002:float":
            if len(value) > 64:
                self._fail(event.start_mark, "number literal is too long")
                return None
            return float(value.lower().replace(".inf", "inf").replace(".nan", "nan"))
        return value
