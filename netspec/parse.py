"""Plain spec data to the Pydantic IR, with every validation error located in the source.

Pydantic reports errors by `loc` (`("layers", 3, "conv2d", "filters")`); here each becomes
`file:line:col: layers[3].filters: message`, with messages rewritten where pydantic's wording
would puzzle a spec author (an unknown key suggests the closest valid one; an unknown layer type
lists the valid ones and suggests the closest). A misspelt key is one problem, the unknown key
and its suggestion, not also the required key it was meant to be.

When validation fails, what is valid of the spec is still handed on (`InvalidSpec.remains`), so
that the later stages can check it too: a shape error of a valid layer is reported with the
invalid fields of another, not once they are fixed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from pydantic_core.core_schema import ErrorType

from netspec.errors import MAX_PROBLEMS, Problem, SpecError
from netspec.ir import BlockDef, InputSpec, Layer, LayerBase, Name, NetworkSpec, Scalar
from netspec.spec import Document, Path_, SourceMap


@dataclass(frozen=True)
class BrokenLayer:
    """Stands in for a layer that failed validation (and is reported): it keeps the layer's
    place, its name and its `type`, so that the layers around it keep theirs, while the layers
    that take its output are held back, unchecked, since its output is unknown."""

    name: str | None
    type: str

    @classmethod
    def stand_in(cls, data: Any) -> BrokenLayer:
        fields = data if isinstance(data, dict) else {}
        name, kind = fields.get("name"), fields.get("type")
        return cls(
            name if isinstance(name, str) else None, kind if isinstance(kind, str) else "broken"
        )


@dataclass(frozen=True)
class Remains:
    """What of a spec that failed validation the later stages can still check."""

    spec: NetworkSpec
    """Built from the valid parts, unvalidated as a whole: each layer validated on its own, or a
    `BrokenLayer`; the blocks whose own fields are valid; no `outputs:` or `train:`."""
    broken_blocks: frozenset[str]
    """Blocks whose definitions are invalid: their uses are held back."""


class InvalidSpec(SpecError):
    """The spec failed validation; `remains` is what of it can still be checked (None when
    nothing can: no valid input or layer list, or too many problems already)."""

    def __init__(self, problems: list[Problem], remains: Remains | None) -> None:
        super().__init__(problems)
        self.remains = remains


_LAYER: TypeAdapter[LayerBase] = TypeAdapter(Layer)
_PARAMS: TypeAdapter[dict[str, Any]] = TypeAdapter(
    dict[Name, Scalar | None], config=ConfigDict(strict=True, allow_inf_nan=False)
)


def parse(document: Document) -> NetworkSpec:
    """Validate a loaded document against the IR, raising `SpecError` with every problem."""
    if not isinstance(document.data, dict):
        raise SpecError([document.source.problem((), "a spec is a mapping (key: value lines)")])
    # `input` and `inputs` are each optional to pydantic (a spec has one or the other): when
    # other problems stop validation before NetworkSpec's own check, a spec with neither is
    # said here, with them
    data = document.data
    try:
        return NetworkSpec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        misspelt = _misspelt(errors, data, NetworkSpec)
        given = ({"input", "inputs"} & set(data)) or {("input",), ("inputs",)} & misspelt
        missing = (
            []
            if given
            else [document.source.problem((), "input: missing required key (or inputs:)")]
        )
        found = [*missing, *problems(exc, data, document.source, NetworkSpec)]
        remains = None if missing or len(found) > MAX_PROBLEMS else _remains(data, errors)
        raise InvalidSpec(found, remains) from None


def problems(
    exc: ValidationError, data: Any, source: SourceMap, model: type[BaseModel], prefix: Path_ = ()
) -> list[Problem]:
    """Translate a pydantic error into located problems; `data` is what was validated, found
    at `prefix` in the source."""
    result = []
    errors = exc.errors(include_url=False)[: MAX_PROBLEMS + 1]  # SpecError shows no more
    misspelt = _misspelt(errors, data, model)
    said = set()
    for error in errors:
        path, owner = _data_path(error["loc"], data, model)
        if error["type"] == "missing" and path in misspelt:
            continue  # said by the unknown key's "did you mean"
        key = error["type"] == "extra_forbidden"
        text, where = _message(error, owner), prefix + path
        problem = source.problem(where, f"{_dotted(where)}: {text}" if where else text, key=key)
        field = where[:-1] if where and isinstance(where[-1], int) else where
        if (problem.line, problem.col, field, text) in said:
            continue  # one value written once, checked twice (`padding: $p`, both sides)
        said.add((problem.line, problem.col, field, text))
        result.append(problem)
    return result


def _misspelt(errors: list[ErrorDetails], data: Any, model: type[BaseModel]) -> set[Path_]:
    """The required keys that an unknown key beside them misspells (its closest valid key)."""
    meant = set()
    for error in errors:
        if error["type"] == "extra_forbidden":
            path, owner = _data_path(error["loc"], data, model)
            fields = list(owner.model_fields) if isinstance(owner, type) else []
            close = closest(str(path[-1]), fields)
            if close is not None:
                meant.add((*path[:-1], close))
    return meant


def _remains(data: dict[str, Any], errors: list[ErrorDetails]) -> Remains | None:
    """The valid parts of `data`, which failed validation with `errors` (None: too little is
    valid to check anything, or the input is ambiguous)."""
    broken_layers: set[Path_] = set()
    broken_blocks: set[str] = set()
    for error in errors:
        path, _ = _data_path(error["loc"], data, NetworkSpec)
        if path[:1] == ("layers",) and len(path) > 1:
            broken_layers.add(path[:2])
        elif path[:1] == ("blocks",) and path[2:3] == ("layers",) and len(path) > 3:
            broken_layers.add(path[:4])
        elif path[:1] == ("blocks",) and len(path) > 1:
            broken_blocks.add(str(path[1]))
        elif not path or path[0] in ("input", "inputs", "layers", "blocks"):
            return None

    def layers(items: list[Any], base: Path_) -> list[LayerBase | BrokenLayer]:
        return [
            BrokenLayer.stand_in(item)
            if (*base, i) in broken_layers
            else _LAYER.validate_python(item)
            for i, item in enumerate(items)
        ]

    single, several = data.get("input"), data.get("inputs")
    if (single is None) == (several is None):
        return None
    blocks = {
        name: BlockDef.model_construct(
            params=_PARAMS.validate_python(block.get("params", {})),
            layers=layers(block["layers"], ("blocks", name, "layers")),
        )
        for name, block in data.get("blocks", {}).items()
        if name not in broken_blocks
    }
    spec = NetworkSpec.model_construct(
        input=None if single is None else InputSpec.model_validate(single),
        inputs=None
        if several is None
        else {k: InputSpec.model_validate(v) for k, v in several.items()},
        blocks=blocks,
        layers=layers(data["layers"], ("layers",)),
    )
    return Remains(spec, frozenset(broken_blocks))


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
    """The model (or union members) that the value at `key` of an `owner` is validated by."""
    if isinstance(owner, type) and issubclass(owner, BaseModel):
        if key not in owner.model_fields:  # a name in a mapping field (`blocks: {b: ...}`),
            return owner  # whose values `owner` already is
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


def closest(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(word: str, choices: list[str]) -> str:
    close = closest(word, choices)
    return f"; did you mean {close!r}?" if close else ""


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
        none = "; leave the key out for none" if tag == "none" and "none" not in tags else ""
        return (
            f"unknown type {ascii(tag)}{suggest(str(tag), tags)}{none} "
            f"(valid types: {', '.join(tags)})"
        )
    if kind == "union_tag_not_found":
        return "missing key 'type'"
    if kind == "missing":
        return "missing required key"
    if isinstance(value, str) and value.startswith("$") and kind in (*_EXPECTED, "literal_error"):
        return f"{shown}: this field cannot take a block parameter"
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
