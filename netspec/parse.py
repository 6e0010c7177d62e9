"""Plain spec data to the Pydantic IR, with every validation error located in the source.

Pydantic reports errors by `loc` (`("layers", 3, "conv2d", "filters")`); here each becomes
`file:line:col: layers[3].filters: message`, with messages rewritten where pydantic's wording
would puzzle a spec author (an unknown key suggests the closest valid one; an unknown layer type
lists the valid ones and suggests the closest).
"""

from __future__ import annotations

import difflib
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core.core_schema import ErrorType

from netspec.errors import MAX_PROBLEMS, Problem, SpecError
from netspec.ir import NetworkSpec
from netspec.spec import Document, Path_, SourceMap


def parse(document: Document) -> NetworkSpec:
    """Validate a loaded document against the IR, raising `SpecError` with every problem."""
    if not isinstance(document.data, dict):
        raise SpecError([document.source.problem((), "a spec is a mapping (key: value lines)")])
    # `input` and `inputs` are each optional to pydantic (a spec has one or the other): when
    # other problems stop validation before NetworkSpec's own check, a spec with neither is
    # said here, with them
    missing = (
        []
        if {"input", "inputs"} & set(document.data)
        else [document.source.problem((), "input: missing required key (or inputs:)")]
    )
    try:
        return NetworkSpec.model_validate(document.data)
    except ValidationError as exc:
        found = problems(exc, document.data, document.source, NetworkSpec)
        raise SpecError(sorted([*missing, *found], key=lambda p: (p.line, p.col))) from None


def problems(
    exc: ValidationError, data: Any, source: SourceMap, model: type[BaseModel], prefix: Path_ = ()
) -> list[Problem]:
    """Translate a pydantic error into located problems; `data` is what was validated, found
    at `prefix` in the source."""
    result = []
    for error in exc.errors(include_url=False)[: MAX_PROBLEMS + 1]:  # SpecError shows no more
        path, owner = _data_path(error["loc"], data, model)
        key = error["type"] == "extra_forbidden"
        message = (
            f"{_dotted(prefix + path)}: {_message(error, owner)}"
            if prefix + path
            else _message(error, owner)
        )
        result.append(source.problem(prefix + path, message, key=key))
    return result


def _data_path(loc: tuple[Any, ...], data: Any, model: Any) -> tuple[Path_, Any]:
    """Drop the union tags pydantic puts in `loc`, returning the path into the data and the
    model class that owns the last key (for suggestions)."""
    path: list[str | int] = []
    owner = model
    node = data
    tagged: Any = None  # the node whose union tag was seen (a tag can also be a field name)
    for part in loc:
        if (
            node is not tagged
            and isinstance(part, str)
            and (node == part or isinstance(node, dict) and node.get("type") == part)
        ):
            owner = _tagged_model(owner, part)  # a union member's tag, written out or as shorthand
            node = tagged = {"type": part} if node == part else node
        elif isinstance(node, dict) and part in node:
            owner = _field_model(owner, part) if part != loc[-1] else owner
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        elif part == loc[-1] and isinstance(node, dict):
            path.append(part)  # a missing or unknown key
        # else: a union member's tag or other pydantic-internal step
    return tuple(path), owner


def _classes(annotation: Any) -> list[type[BaseModel]]:
    """Model classes reachable through an annotation (Optional, list, dict, union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in get_args(annotation):
        found.extend(_classes(arg))
    return found


def _field_model(owner: Any, key: Any) -> Any:
    if isinstance(owner, type) and issubclass(owner, BaseModel) and key in owner.model_fields:
        classes = _classes(owner.model_fields[key].annotation)
        return classes if len(classes) > 1 else (classes[0] if classes else None)
    return owner if isinstance(owner, list) else None


def _tagged_model(owner: Any, tag: str) -> Any:
    for cls in owner if isinstance(owner, list) else []:
        annotation = cls.model_fields.get("type")
        if annotation is not None and tag in get_args(annotation.annotation):
            return cls
    return owner


def _dotted(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


_EXPECTED = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "tuple_type": "a list of two",
}
_BOUNDS = {
    "greater_than": ("more than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}
_PYDANTIC_ERRORS = frozenset(get_args(ErrorType))


def _message(error: dict[str, Any], owner: Any) -> str:
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx", {})
    shown = ascii(value) if isinstance(value, str) else repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        fields = sorted(owner.model_fields) if isinstance(owner, type) else []
        valid = ", ".join(f for f in fields if f != "type")
        return f"unknown key {ascii(key)}{suggest(key, fields)} (valid keys: {valid})"
    if kind == "union_tag_invalid":
        tag = ctx["tag"]
        tags = [t.strip(" '") for t in ctx["expected_tags"].split(",")]
        return (
            f"unknown type {ascii(tag)}{suggest(str(tag), tags)} (valid types: {', '.join(tags)})"
        )
    if kind == "union_tag_not_found":
        return "missing key 'type'"
    if kind == "missing":
        return "missing required key"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {type(value).__name__} {shown}"
    if kind == "finite_number":
        return f"NaN and infinity are not allowed, got {shown}"
    if kind == "literal_error":
        return f"expected {ctx['expected']}, got {shown}"
    if kind in _BOUNDS:
        words, bound = _BOUNDS[kind]
        return f"must be {words} {ctx[bound]}, got {shown}"
    if kind in ("too_long", "too_short"):
        longest = kind == "too_long"
        words, bound = ("at most", "max_length") if longest else ("at least", "min_length")
        items = "item" if ctx[bound] == 1 else "items"
        return f"expected {words} {ctx[bound]} {items}, got {ctx['actual_length']}"
    if kind not in _PYDANTIC_ERRORS:  # our own errors (netspec.ir) say what they need to
        return error["msg"]
    return f"{error['msg']} (got {shown})" if "input" in error else error["msg"]
