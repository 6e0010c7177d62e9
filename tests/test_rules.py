"""Every validation rule has a spec that breaks it.

The rules are listed from the source, not by hand: every message that the stages of
`netspec.load` can refuse a spec with (`raise ShapeError(...)`, `PydanticCustomError(kind,
template, ...)`, `self.fail(...)`, `source.problem(...)`, a `Problem(...)`, a `ValueError` in a
validator, and the messages a helper returns for one of those to report) in every netspec module
that `netspec.network` imports, directly or not, save the YAML loader and the translation of
pydantic's errors (`spec`, `parse`: their messages are tested verbatim in test_frontend.py and
test_hostile.py). A rule's key is its module, its function and its message with `{}` for what is
computed, so a new rule, or a reworded one, fails here until `CASES` has a spec that triggers
it; a rule that is gone fails here until its case goes.

The bounds of the IR's numeric fields (`Field(ge=..., lt=...)`) are not written out one by one:
`test_every_numeric_bound_is_enforced_and_located` writes, for every field of every layer kind
(and of the input and training sections), a value just outside each bound and expects the one
located error that names it.
"""

# ruff: noqa: E501  (keys are the messages, verbatim)

from __future__ import annotations

import ast
import functools
import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

import netspec
from netspec import ir

PACKAGE = Path(netspec.__file__).parent
FRONT = {"spec", "parse", "errors"}
"""Modules whose messages are not rules listed here (see the module docstring)."""

HOLE = "{}"

# ----------------------------------------------------------------------------- listing the rules

REPORTERS = {"ShapeError": 0, "PydanticCustomError": 1, "ValueError": 0, "Problem": 3}
"""Constructors that carry a message, and the position of the message."""
REPORTING_METHODS = {"fail": 1, "problem": 1}
"""`self.fail(path, message)`, `source.problem(path, message)`."""


@dataclass(frozen=True)
class Rule:
    key: str
    """`module.function: message`, `{}` where the message is computed."""
    template: str
    where: str
    """`netspec/passes/expansion.py:123`."""

    def pattern(self) -> re.Pattern[str]:
        return re.compile(".*".join(re.escape(part) for part in self.template.split(HOLE)))


def _source(module: str) -> Path:
    """The file of a netspec module (`ir.conv`), or of a package (`ir`)."""
    path = PACKAGE.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def pipeline_modules() -> list[str]:
    """The netspec modules `netspec.network` imports, transitively, and itself; less `FRONT`."""
    seen, todo = set(), ["network"]
    while todo:
        module = todo.pop()
        if module in seen or not _source(module).exists():
            continue
        seen.add(module)
        tree = ast.parse(_source(module).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "netspec":
                todo.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("netspec."):
                todo.append(node.module.removeprefix("netspec."))
            elif isinstance(node, ast.Import):
                todo.extend(
                    a.name.removeprefix("netspec.")
                    for a in node.names
                    if a.name.startswith("netspec.")
                )
    return sorted(seen - FRONT)


def _scopes(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    """Every function by qualified name (`Class.method`)."""
    found: dict[str, ast.FunctionDef] = {}

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[prefix + child.name] = child
                walk(child, f"{prefix}{child.name}.")

    walk(tree, "")
    return found


def _own_nodes(func: ast.FunctionDef) -> list[ast.AST]:
    """The nodes of `func`, not of the functions defined inside it."""
    nodes, todo = [], list(ast.iter_child_nodes(func))
    while todo:
        node = todo.pop()
        nodes.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))
    return nodes


class _Lister:
    def __init__(self, module: str) -> None:
        self.module = module
        self.file = str(_source(module).relative_to(PACKAGE.parent))
        self.tree = ast.parse(_source(module).read_text(), self.file)
        self.scopes = _scopes(self.tree)
        self.rules: list[Rule] = []

    def run(self) -> list[Rule]:
        for qualname, func in self.scopes.items():
            for node in sorted(_own_nodes(func), key=_position):
                if self._message(node) is not None:
                    self._add(qualname, func, node, node.lineno)
        return self.rules

    def _message(self, node: ast.AST) -> ast.expr | None:
        if not isinstance(node, ast.Call):
            return None
        callee = node.func
        if isinstance(callee, ast.Name) and callee.id in REPORTERS:
            index = REPORTERS[callee.id]
        elif isinstance(callee, ast.Attribute) and callee.attr in REPORTING_METHODS:
            index = REPORTING_METHODS[callee.attr]
        else:
            return None
        if len(node.args) > index:
            return node.args[index]
        keywords = {k.arg: k.value for k in node.keywords}
        return keywords.get("message", keywords.get("message_template"))

    def _add(self, qualname: str, func: ast.FunctionDef, call: ast.Call, line: int) -> None:
        message = self._message(call)
        assert message is not None
        pydantic = isinstance(call.func, ast.Name) and call.func.id == "PydanticCustomError"
        for owner, template, at in self._templates(qualname, func, message, line, pydantic):
            if template is None:
                continue  # a message passed in: the reporting helper itself (`fail`)
            key = f"{self.module}.{owner}: {template}"
            while any(r.key == key for r in self.rules):
                key += " #"
            self.rules.append(Rule(key, template, f"{self.file}:{at}"))

    def _templates(
        self, qualname: str, func: ast.FunctionDef, node: ast.expr, line: int, pydantic: bool
    ) -> list[tuple[str, str | None, int]]:
        """(function, template, line) of each message `node` can be: a string, an f-string (a
        local name in it that holds a string is written out), a sum of those, a local name
        holding one, or a local name holding what a helper function of the module returns
        (each message the helper returns, at its line). None: a parameter (a message passed in)."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = re.sub(r"\{\w*\}", HOLE, node.value) if pydantic else node.value
            return [(qualname, text, line)]
        if isinstance(node, ast.JoinedStr):
            results: list[tuple[str, str | None, int]] = [(qualname, "", line)]
            for part in node.values:
                if isinstance(part, ast.Constant):
                    pieces = [(qualname, part.value, line)]
                else:
                    value = part.value
                    pieces = self._name(qualname, func, value, line, inline=True) or [
                        (qualname, HOLE, line)
                    ]
                results = _joined(results, pieces, qualname)
            return results
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left = self._templates(qualname, func, node.left, line, pydantic)
            right = self._templates(qualname, func, node.right, line, pydantic)
            return _joined(left, right, qualname)
        found = self._name(qualname, func, node, line, inline=False, pydantic=pydantic)
        return found or [(qualname, HOLE, line)]

    def _name(
        self,
        qualname: str,
        func: ast.FunctionDef,
        node: ast.expr,
        line: int,
        *,
        inline: bool,
        pydantic: bool = False,
    ) -> list[tuple[str, str | None, int]] | None:
        """The messages a local name holds (see `_templates`); None: not known here."""
        if not isinstance(node, ast.Name):
            return None
        if node.id in _parameters(func):
            return None if inline else [(qualname, None, line)]
        values = _assigned(func, node.id)
        found: list[tuple[str, str | None, int]] = []
        for value in values:
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id in self.scopes
            ):
                helper = self.scopes[value.func.id]
                found += [
                    t
                    for ret in _own_nodes(helper)
                    if isinstance(ret, ast.Return)
                    and ret.value is not None
                    and not (isinstance(ret.value, ast.Constant) and ret.value.value is None)
                    for t in self._templates(value.func.id, helper, ret.value, ret.lineno, False)
                ]
            elif isinstance(value, (ast.Constant, ast.JoinedStr, ast.BinOp)):
                found += self._templates(qualname, func, value, line, pydantic)
            else:
                return None
        return found or None


def _joined(
    left: list[tuple[str, str | None, int]], right: list[tuple[str, str | None, int]], qualname: str
) -> list[tuple[str, str | None, int]]:
    """Every message of `left` followed by every message of `right` (the function and line of a
    helper's message win over the caller's)."""
    return [
        (
            q2 if q2 != qualname else q1,
            None if t1 is None or t2 is None else t1 + t2,
            a2 if q2 != qualname else a1,
        )
        for q1, t1, a1 in left
        for q2, t2, a2 in right
    ]


def _position(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "lineno", 0), getattr(node, "col_offset", 0)


def _parameters(func: ast.FunctionDef) -> set[str]:
    args = func.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {a.arg for a in every if a is not None}


def _assigned(func: ast.FunctionDef, name: str) -> list[ast.expr]:
    return [
        node.value
        for node in _own_nodes(func)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    ]


@functools.cache
def listed_rules() -> dict[str, Rule]:
    return {r.key: r for module in pipeline_modules() for r in _Lister(module).run()}


# ----------------------------------------------------------------------------- the cases


def net(*layers: str, shape: str = "[16]", blocks: str = "", train: str = "") -> str:
    """A spec: `layers` (flow mappings), after `blocks` (YAML text), then `train:` if given."""
    text = f"netspec: 1\nname: Net\ninput: {{shape: {shape}}}\n{blocks}layers:\n"
    text += "".join(f"  - {layer}\n" for layer in layers)
    return text + (f"train: {train}\n" if train else "")


TWO = "netspec: 1\nname: Net\ninputs:\n  a: {shape: [4]}\n  b: {shape: [4]}\nlayers:\n"
"""The start of a spec with two named inputs (the layers follow, each a line of its own)."""
IMAGE = "[3, 8, 8]"
SEQUENCE = "[6, 4]"
TOKENS = "[4], dtype: int64, vocab: 9"
TOK = "{type: embedding, name: tok, vocab: 9, dim: 4}"
LOGITS = ("{type: flatten}", "{type: dense, units: 2}")
"""Ends an image network in logits, as the loss cross_entropy wants."""
FC = """\
blocks:
  fc:
    params: {units: 8}
    layers:
      - {type: dense, units: $units}
"""


def block(body: str, name: str = "b", params: str = "") -> str:
    """`blocks:` with one block of one layer."""
    params = f"    params: {params}\n" if params else ""
    return f"blocks:\n  {name}:\n{params}    layers:\n      - {body}\n"


CASES: dict[str, list[tuple[str, str]]] = {
    # --- names
    "ir.base._check_identifier: names are at most 64 characters": [
        (net(f"{{type: relu, name: {'a' * 65}}}"), "names are at most 64 characters"),
    ],
    "ir.base._check_identifier: {} is reserved in generated code; choose another name": [
        (net("{type: relu, name: len}"), "'len' is reserved in generated code"),
        (net("{type: relu, name: forward}"), "'forward' is reserved in generated code"),
    ],
    "ir.base._check_identifier: {}: names may not start with '_'": [
        (net("{type: relu, name: _act}"), "'_act': names may not start with '_'"),
    ],
    "ir.base._check_identifier: {} is a Python keyword": [
        (net("{type: relu, name: lambda}"), "'lambda' is a Python keyword"),
    ],
    "ir.base._as_pair: expected an integer or a list of two, got float {}": [
        (
            net("{type: upsample, scale: 1.5}", shape=IMAGE),
            "layers[0].scale: expected an integer or a list of two, got float 1.5",
        ),
    ],
    "ir.base._as_pair: expected a number or a list of two, got a list of {}": [
        (
            net("{type: conv2d, filters: 2, kernel: [3]}", shape=IMAGE),
            "layers[0].kernel: expected a number or a list of two, got a list of 1",
        ),
    ],
    "ir.base._as_pair: expected a number or a list of two, got str {}": [
        (
            net("{type: maxpool2d, size: 2, padding: same}", shape="[1, 8, 8]"),
            "padding: expected a number or a list of two, got str 'same'",
        ),
    ],
    "ir.base._check_identifier: {} is not a plain ASCII Python identifier": [
        (net("{type: relu, name: a-b}"), "'a-b' is not a plain ASCII Python identifier"),
    ],
    "passes.expansion._Expander._local_names: name {} is already used on line {}": [
        (
            net("{type: relu, name: act}", "{type: dense, name: act, units: 2}"),
            "name 'act' is already used on line 5",
        ),
    ],
    # --- block parameters
    "ir.base._param_or_value: {} is not a valid parameter reference": [
        (net("{type: dense, units: $1st}"), "'$1st' is not a valid parameter reference"),
    ],
    "ir.base._tagged_shorthand: {}: this field cannot take a block parameter": [
        (
            net(
                "{type: block, block: b}",
                blocks=block("{type: dense, units: 2, activation: $act}", params="{act: relu}"),
            ),
            "'$act': this field cannot take a block parameter",
        ),
    ],
    "passes.expansion._Expander._bind: unknown parameter {}{}": [
        (
            net("{type: block, block: fc}", blocks=FC.replace("$units", "$unit")),
            "unknown parameter '$unit'; did you mean '$units'?",
        ),
    ],
    "passes.expansion._Expander._bind: {} is used outside a block (only a block's layers can use its parameters)": [
        (net("{type: dense, units: $units}"), "'$units' is used outside a block"),
    ],
    # --- the spec's header and input
    "ir._check_version: unsupported format version {}; this netspec reads version {}": [
        (
            net("{type: dense, units: 2}").replace("netspec: 1", "netspec: 2"),
            "unsupported format version 2; this netspec reads version 1",
        ),
    ],
    "ir.InputSpec._tokens: an int64 input needs `vocab`, the bound of its token ids": [
        (
            net("{type: embedding, vocab: 9, dim: 2}", shape="[4], dtype: int64"),
            "an int64 input needs `vocab`, the bound of its token ids",
        ),
    ],
    "ir.InputSpec._tokens: token ids are (T,): one id per step; got {} dimensions": [
        (
            net("{type: embedding, vocab: 9, dim: 2}", shape="[4, 2], dtype: int64, vocab: 9"),
            "token ids are (T,): one id per step; got 2 dimensions",
        ),
    ],
    "ir.InputSpec._tokens: `vocab` is for token inputs (dtype: int64)": [
        (net("{type: relu}", shape="[4], vocab: 9"), "`vocab` is for token inputs (dtype: int64)"),
    ],
    "passes.shapes._check_dtype: {} takes float features, not token ids; embed them first": [
        (
            net("{type: dense, units: 2}", shape="[4], dtype: int64, vocab: 9"),
            "dense_1: dense takes float features, not token ids; embed them first",
        ),
    ],
    "passes.shapes._check_dtype: {} takes token ids (an input of dtype int64), not float features": [
        (
            net("{type: embedding, vocab: 9, dim: 2}", shape="[4]"),
            "embedding takes token ids (an input of dtype int64), not float features",
        ),
    ],
    "passes.shapes._check_dtype: vocab {} is smaller than the input's vocab {}: ids up to {} would index past the table": [
        (
            net("{type: embedding, vocab: 9, dim: 2}", shape="[4], dtype: int64, vocab: 10"),
            "vocab 9 is smaller than the input's vocab 10: ids up to 9 would index past the table",
        ),
    ],
    "passes.expansion._Expander._tie: share: a dense layer tied to an embedding has no bias (bias: false)": [
        (
            net(TOK, "{type: dense, units: 9, share: tok}", shape=TOKENS),
            "share: a dense layer tied to an embedding has no bias (bias: false)",
        ),
    ],
    "passes.expansion._Expander._tie: share: a dense layer tied to an embedding of vocab {} has {} units, not {}": [
        (
            net(TOK, "{type: dense, units: 8, bias: false, share: tok}", shape=TOKENS),
            "share: a dense layer tied to an embedding of vocab 9 has 9 units, not 8",
        ),
    ],
    "passes.expansion._Expander._tie: share: a tied dense layer and its embedding cannot repeat": [
        (
            net(TOK, "{type: dense, units: 9, bias: false, share: tok, repeat: 1}", shape=TOKENS),
            "share: a tied dense layer and its embedding cannot repeat",
        ),
    ],
    "passes.shapes.check_shared: {}: is tied to {} but its input {} has {} features, not the embedding's {}": [
        (
            net(
                TOK,
                "{type: dense, units: 3}",
                "{type: dense, units: 9, bias: false, share: tok}",
                shape=TOKENS,
            ),
            "dense_2: is tied to 'tok' but its input (4, 3) has 3 features, not the embedding's 4",
        ),
    ],
    "ir.sequence.Embedding._padding_in_vocab: padding_index {} is outside the vocab of {}": [
        (
            net("{type: embedding, vocab: 9, dim: 2, padding_index: 9}", shape=TOKENS),
            "padding_index 9 is outside the vocab of 9",
        ),
    ],
    # --- several inputs and outputs
    "ir.NetworkSpec._one_way_of_input: give the input as `input: {shape: [...]}` or several as `inputs: {name: {shape: [...]}, ...}`, not both": [
        (
            TWO.replace("layers:", "input: {shape: [4]}\nlayers:") + "  - {type: relu}\n",
            "give the input as `input: {shape: [...]}` or several as",
        ),
    ],
    "ir.NetworkSpec._one_way_of_input: input: missing required key (or inputs:)": [
        ("netspec: 1\nname: Net\nlayers:\n  - {type: relu}\n", "input: missing required key"),
    ],
    "ir.NetworkSpec._one_way_of_input: output {} is listed twice": [
        (
            net("{type: relu, name: r}") + "outputs: [r, r]\n",
            "output 'r' is listed twice",
        ),
    ],
    "passes.expansion._Expander.body: name {} is the name of an input": [
        (
            TWO + "  - {type: add, name: a, inputs: [a, b]}\n",
            "name 'a' is the name of an input",
        ),
    ],
    "passes.expansion._Expander._inputs: the network has several inputs: name this layer's in its inputs: [...]": [
        (
            TWO + "  - {type: relu}\n",
            "the network has several inputs: name this layer's in its inputs: [...]",
        ),
    ],
    "passes.expansion._outputs: output {} is not a layer{}": [
        (
            TWO + "  - {type: add, name: total, inputs: [a, b]}\noutputs: [totl]\n",
            "output 'totl' is not a layer; did you mean 'total'?",
        ),
        (
            TWO + "  - {type: add, name: total, inputs: [a, b]}\noutputs: [a]\n",
            "output 'a' is not a layer",
        ),
    ],
    "passes.expansion._check_used: input {} is never used": [
        (TWO + "  - {type: relu, inputs: [a]}\n", "input 'b' is never used"),
    ],
    # --- wiring
    "ir.base.LayerBase._unique_inputs: input {} is listed twice": [
        (net("{type: relu, name: a}", "{type: add, inputs: [a, a]}"), "input 'a' is listed twice"),
    ],
    "passes.expansion._Expander._inputs: input {} {}{}": [
        (
            net("{type: relu, name: act}", "{type: dense, units: 2, inputs: [atc]}"),
            "input 'atc' is not defined; did you mean 'act'?",
        ),
        (
            net("{type: relu, name: a, inputs: [b]}", "{type: dense, name: b, units: 2}"),
            "input 'b' is defined later (inputs must come first)",
        ),
    ],
    "passes.expansion._Expander._inputs: {} takes {}, got {}{}": [
        (
            net("{type: relu}", "{type: add}"),
            "add takes 2 to 64 inputs, got 1 (the previous layer); name them in inputs: [...]",
        ),
        (
            net("{type: relu, name: a}", "{type: dense, units: 2, inputs: [input, a]}"),
            "dense takes 1 input, got 2",
        ),
    ],
    "passes.expansion._check_used: output of {} is never used": [
        (
            net("{type: relu, name: branch}", "{type: dense, units: 2, inputs: [input]}"),
            "output of 'branch' is never used",
        ),
    ],
    "passes.expansion._Expander._add: network expands to more than {} layers (at {}); check the repeat counts": [
        (
            net(
                "{type: block, block: b, repeat: 1000}", blocks=block("{type: relu, repeat: 1000}")
            ),
            "network expands to more than 100,000 layers",
        ),
    ],
    # --- blocks
    "passes.expansion._Expander._call: unknown block {}{}": [
        (net("{type: block, block: fcc}", blocks=FC), "unknown block 'fcc'; did you mean 'fc'?"),
    ],
    "passes.expansion._Expander._call: block {} uses itself ({})": [
        (
            net("{type: block, block: loop}", blocks=block("{type: block, block: loop}", "loop")),
            "block 'loop' uses itself (loop -> loop)",
        ),
    ],
    "passes.expansion._Expander._call: block {} has no parameter {}{} (parameters: {})": [
        (
            net("{type: block, block: fc, args: {unit: 2}}", blocks=FC),
            "block 'fc' has no parameter 'unit'; did you mean 'units'? (parameters: units)",
        ),
    ],
    "passes.expansion._Expander._call: block {} needs parameter {}": [
        (
            net("{type: block, block: fc}", blocks=FC.replace("units: 8", "units: null")),
            "block 'fc' needs parameter 'units'",
        ),
    ],
    # --- sharing
    "passes.expansion._Expander._share: share: {} is not an earlier layer here{}": [
        (
            net("{type: dense, name: enc, units: 16}", "{type: dense, units: 16, share: ecn}"),
            "share: 'ecn' is not an earlier layer here; did you mean 'enc'?",
        ),
    ],
    "passes.expansion._Expander._share: share: {} is a {}, not a {}": [
        (
            net("{type: dense, name: enc, units: 16}", "{type: batchnorm, share: enc}"),
            "share: 'enc' is a dense, not a batchnorm",
        ),
    ],
    "passes.expansion._Expander._share: share: a {} that shares cannot repeat (drop repeat)": [
        (
            net(
                "{type: dense, name: enc, units: 16}",
                "{type: dense, units: 16, share: enc, repeat: 2}",
            ),
            "share: a dense that shares cannot repeat (drop repeat)",
        ),
    ],
    "passes.expansion._Expander._share: share: {} repeats; only an unrepeated {} can be shared": [
        (
            net(
                "{type: dense, name: enc, units: 16, repeat: 2}",
                "{type: dense, units: 16, share: enc}",
            ),
            "share: 'enc' repeats; only an unrepeated dense can be shared",
        ),
    ],
    "passes.expansion._Expander._share: share: {} shares {} itself; share that one": [
        (
            net(
                "{type: dense, name: a, units: 16}",
                "{type: dense, name: b, units: 16, share: a}",
                "{type: dense, units: 16, share: b}",
            ),
            "share: 'b' shares 'a' itself; share that one",
        ),
    ],
    "passes.expansion._Expander._share: share: {} is configured differently: {}": [
        (
            net(
                "{type: dense, name: enc, units: 16}",
                "{type: dense, units: 16, bias: false, share: enc}",
            ),
            "share: 'enc' is configured differently: bias",
        ),
    ],
    "passes.shapes.check_shared: {}: shares {} but its input {} differs from {}": [
        (
            net(
                "{type: block, name: one, block: b}",
                "{type: maxpool2d, size: 2}",
                "{type: block, name: two, block: b, share: one}",
                *LOGITS,
                shape=IMAGE,
                blocks=block("{type: conv2d, filters: 3, kernel: 3, padding: same}"),
            ),
            "two: shares 'one' but its input (3, 4, 4) differs from (3, 8, 8)",
        ),
    ],
    "passes.shapes.check_shared: {}: shares {} but its input {} differs from {} #": [
        (
            net(
                "{type: conv2d, name: a, filters: 3, kernel: 3, padding: same}",
                "{type: maxpool2d, size: 2}",
                "{type: conv2d, name: b, filters: 3, kernel: 3, padding: same, share: a}",
                *LOGITS,
                shape=IMAGE,
            ),
            "b: shares 'a' but its input (3, 4, 4) differs from (3, 8, 8)",
        ),
    ],
    # --- shapes
    "ir.base._image: {} needs a (C, H, W) image, got {}{}": [
        (
            net("{type: maxpool2d, size: 2}"),
            "maxpool2d_1: maxpool2d needs a (C, H, W) image, got features (16,)",
        ),
        (
            net("{type: conv2d, filters: 2, kernel: 1}", shape=SEQUENCE),
            "conv2d needs a (C, H, W) image, got a sequence (6, 4); conv1d, maxpool1d and "
            "avgpool1d take sequences",
        ),
        (net("{type: global_avgpool2d}"), "global_avgpool2d needs a (C, H, W) image, got features"),
    ],
    "ir.base._sequence: {} needs a (T, F) sequence, got {}{}": [
        (
            net("{type: conv1d, filters: 2, kernel: 1}", *LOGITS, shape=IMAGE),
            "conv1d needs a (T, F) sequence, got an image (3, 8, 8); to_sequence turns an image "
            "into one",
        ),
        (net("{type: lstm, units: 2}"), "lstm needs a (T, F) sequence, got features (16,)"),
    ],
    "ir.base._vector_or_image: {} needs (F,) features or a (C, H, W) image, got {}": [
        (
            net("{type: batchnorm}", shape=SEQUENCE),
            "batchnorm needs (F,) features or a (C, H, W) image, got a sequence (6, 4)",
        ),
    ],
    "ir.sequence.PositionEmbedding.output_shape: max_length {} is shorter than the {} steps": [
        (
            net("{type: position_embedding, max_length: 5}", shape=SEQUENCE),
            "max_length 5 is shorter than the 6 steps",
        ),
    ],
    "ir.sequence.Select.output_shape: index {} is outside the {} steps": [
        (net("{type: select, index: -7}", shape=SEQUENCE), "index -7 is outside the 6 steps"),
    ],
    "ir.sequence.Conv1d.output_shape: kernel {} is longer than its input {}": [
        (
            net("{type: conv1d, filters: 2, kernel: 7}", shape=SEQUENCE),
            "kernel 7 is longer than its input (6, 4)",
        ),
    ],
    "ir.sequence._Pool1d.output_shape: pool size {} is longer than its input {}": [
        (
            net("{type: avgpool1d, size: 7}", shape=SEQUENCE),
            "pool size 7 is longer than its input (6, 4)",
        ),
    ],
    "ir.sequence.MultiheadAttention.output_shape: heads={} must divide the {} features": [
        (
            net("{type: multihead_attention, heads: 3}", shape=SEQUENCE),
            "heads=3 must divide the 4 features",
        ),
    ],
    "ir.sequence.MultiheadAttention.output_shape: a causal attention attends to its own earlier steps; it takes no context": [
        (
            net(
                "{type: dense, units: 4, name: c}",
                "{type: multihead_attention, heads: 2, causal: true, inputs: [input, c]}",
                shape=SEQUENCE,
            ),
            "a causal attention attends to its own earlier steps; it takes no context",
        ),
    ],
    "ir.sequence.MultiheadAttention.output_shape: the context's {} features must equal the query's {}": [
        (
            net(
                "{type: dense, units: 2, name: c}",
                "{type: multihead_attention, heads: 2, inputs: [input, c]}",
                shape=SEQUENCE,
            ),
            "the context's 2 features must equal the query's 4",
        ),
    ],
    "ir.conv.Conv2d.output_shape: groups={} must divide input channels {} and filters {}": [
        (
            net("{type: conv2d, filters: 6, kernel: 3, groups: 2}", *LOGITS, shape=IMAGE),
            "groups=2 must divide input channels 3 and filters 6",
        ),
        (
            net("{type: conv2d, filters: 6, kernel: 3, groups: 4}", *LOGITS, shape="[4, 8, 8]"),
            "groups=4 must divide input channels 4 and filters 6",
        ),
    ],
    "ir.conv.Conv2d._filters_or_depthwise: depthwise convolutions take `multiplier`, not `filters` (filters = input channels x multiplier)": [
        (
            net("{type: conv2d, depthwise: true, filters: 6, kernel: 3}", *LOGITS, shape=IMAGE),
            "depthwise convolutions take `multiplier`, not `filters`",
        ),
    ],
    "ir.conv.Conv2d._filters_or_depthwise: depthwise sets groups to the input channels; leave out `groups`": [
        (
            net("{type: conv2d, depthwise: true, groups: 3, kernel: 3}", *LOGITS, shape=IMAGE),
            "depthwise sets groups to the input channels",
        ),
    ],
    "ir.conv.Conv2d._filters_or_depthwise: conv2d needs `filters` (or `depthwise: true`)": [
        (net("{type: conv2d, kernel: 3}", *LOGITS, shape=IMAGE), "conv2d needs `filters`"),
    ],
    "ir.conv.Conv2d._filters_or_depthwise: `multiplier` is for depthwise convolutions (`depthwise: true`)": [
        (
            net("{type: conv2d, filters: 4, multiplier: 2, kernel: 3}", *LOGITS, shape=IMAGE),
            "`multiplier` is for depthwise convolutions",
        ),
    ],
    "ir.conv.ConvTranspose2d.output_shape: output_padding {} must be smaller than the stride {}": [
        (
            net(
                "{type: conv_transpose2d, filters: 4, kernel: 2, stride: 2, output_padding: 2}",
                *LOGITS,
                shape=IMAGE,
            ),
            "output_padding 2 must be smaller than the stride 2",
        ),
    ],
    "ir.conv.ConvTranspose2d.output_shape: padding {} leaves no output: {} -> {}": [
        (
            net(
                "{type: conv_transpose2d, filters: 4, kernel: 1, padding: 4}", *LOGITS, shape=IMAGE
            ),
            "padding (4, 4) leaves no output: (3, 8, 8) -> (4, 0, 0)",
        ),
    ],
    "ir.core.Multiply.output_shape: multiply cannot broadcast {}: sizes must be equal or 1 (a (C,) gate scales the channels of images)": [
        (
            net(
                "{type: global_avgpool2d, name: g}",
                "{type: dense, name: d, units: 4}",
                "{type: multiply, inputs: [input, d]}",
                *LOGITS,
                shape=IMAGE,
            ),
            "multiply cannot broadcast (3, 8, 8) and (4,): sizes must be equal or 1",
        ),
        (
            net("{type: dense, name: d, units: 4}", "{type: multiply, inputs: [input, d]}"),
            "multiply cannot broadcast (16,) and (4,)",
        ),
    ],
    "ir.norm.GroupNorm.output_shape: groups={} must divide the {} channels": [
        (net("{type: groupnorm, groups: 5}"), "groupnorm_1: groups=5 must divide the 16 channels"),
    ],
    "ir.conv.Conv2d.output_shape: kernel {} is larger than its input {}": [
        (
            net("{type: conv2d, filters: 4, kernel: 9}", *LOGITS, shape=IMAGE),
            "kernel (9, 9) is larger than its input (3, 8, 8)",
        ),
        (
            net("{type: conv2d, filters: 4, kernel: 3, dilation: 4}", *LOGITS, shape=IMAGE),
            "kernel (3, 3) dilated by (4, 4) to (9, 9) is larger than its input (3, 8, 8)",
        ),
    ],
    "ir.conv._Pool2d.output_shape: padding {} is more than half the pool size {}": [
        (
            net("{type: maxpool2d, size: 2, padding: 2}", *LOGITS, shape=IMAGE),
            "padding 2 is more than half the pool size 2",
        ),
        (
            net("{type: avgpool2d, size: [4, 3], padding: [1, 2]}", *LOGITS, shape=IMAGE),
            "padding 2 is more than half the pool size 3",
        ),
    ],
    "ir.conv._Pool2d.output_shape: pool size {} is larger than its input {}": [
        (
            net("{type: maxpool2d, size: 9}", *LOGITS, shape=IMAGE),
            "pool size (9, 9) is larger than its input (3, 8, 8)",
        ),
    ],
    "ir.core._one_value: NaN and infinity are not allowed, got {}": [
        (
            net(
                "{type: block, block: b, args: {k: .nan}}",
                blocks=block("{type: dropout, rate: $k}", params="{k: 0.5}"),
            ),
            "layers[0].args.k: NaN and infinity are not allowed, got nan",
        ),
    ],
    "ir.core._one_value: a block argument needs a value, got null (leave it out to take the default)": [
        (
            net(
                "{type: block, block: b, args: {k: null}}",
                blocks=block("{type: dense, units: $k}", params="{k: 2}"),
            ),
            "layers[0].args.k: a block argument needs a value, got null (leave it out to take "
            "the default)",
        ),
    ],
    "ir.core._one_value: a block parameter holds one number, string or true/false, got {} {}; for a pair, give the block a parameter for each value ([$height, $width] in its layer)": [
        (
            net(
                "{type: block, block: b, args: {k: [1, 7]}}",
                blocks=block("{type: dense, units: $k}", params="{k: 2}"),
            ),
            "layers[0].args.k: a block parameter holds one number, string or true/false, got list "
            "[1, 7]; for a pair, give the block a parameter for each value ([$height, $width] in "
            "its layer)",
        ),
        (
            net(
                "{type: block, block: b}",
                blocks=block("{type: dense, units: $k}", params="{k: {a: 1}}"),
            ),
            "blocks.b.params.k: a block parameter holds one number, string or true/false, got "
            "mapping {'a': 1}; for a pair",
        ),
    ],
    "ir.core.Dense.output_shape: dense needs (F,) features or a (T, F) sequence, got {}; add a flatten or a global pool": [
        (
            net("{type: dense, units: 2}", shape=IMAGE),
            "dense needs (F,) features or a (T, F) sequence, got an image (3, 8, 8); add a "
            "flatten or a global pool",
        ),
    ],
    "ir.core.Add.output_shape: add needs inputs of one shape, got {}": [
        (
            net("{type: dense, name: a, units: 8}", "{type: add, inputs: [input, a]}"),
            "add needs inputs of one shape, got (16,) and (8,)",
        ),
    ],
    "ir.core.Concat.output_shape: concat axis {} is out of range for {}": [
        (
            net("{type: dense, name: a, units: 8}", "{type: concat, axis: 1, inputs: [input, a]}"),
            "concat axis 1 is out of range for (16,)",
        ),
    ],
    "ir.core.Concat.output_shape: concat along axis {} needs other axes equal, got {} and {}": [
        (
            net(
                "{type: maxpool2d, name: p, size: 2}",
                "{type: concat, inputs: [input, p]}",
                *LOGITS,
                shape=IMAGE,
            ),
            "concat along axis 0 needs other axes equal, got (3, 8, 8) and (3, 4, 4)",
        ),
    ],
    # --- training
    "ir.train.Sgd._nesterov_needs_momentum: nesterov needs momentum above 0": [
        (
            net(
                "{type: dense, units: 2}",
                train="{optimizer: {type: sgd, momentum: 0.0, nesterov: true}}",
            ),
            "train.optimizer.nesterov: nesterov needs momentum above 0",
        ),
    ],
    # --- size
    "network.analyse: network has {} parameters, over the budget of {} (raise it with --max-params)": [
        (
            net("{type: dense, units: 4096}", "{type: dense, units: 2}", shape="[1048576]"),
            "network has 4,294,979,586 parameters, over the budget of 2,000,000,000",
        ),
    ],
    # --- the output against the loss
    "objective._needs: {}: loss {} needs one vector per sample{}, but the network outputs {}; {}{}": [
        (
            net(
                "{type: conv2d, name: conv, filters: 2, kernel: 3}",
                shape=IMAGE,
                train="{loss: cross_entropy}",
            ),
            "conv: loss cross_entropy needs one vector per sample or, per step, a (T, K) "
            "sequence, but the network outputs (2, 6, 6); end it in global_avgpool2d or flatten "
            "and a dense layer",
        ),
        (
            net("{type: dense, units: 3}", shape=SEQUENCE, train="{loss: kl_div}"),
            "loss kl_div needs one vector per sample, but the network outputs (6, 3); end it in "
            "global_avgpool1d or select and a dense layer",
        ),
        (
            net(
                "{type: conv2d, filters: 2, kernel: 3}",
                shape=IMAGE,
                train="{loss: binary_cross_entropy}",
            ),
            "loss binary_cross_entropy needs one vector per sample",
        ),
    ],
    "ir.train.Train._warmup_within_the_run: schedule.warmup_epochs {} leaves none of the {} epochs to decay over; warm up for fewer epochs": [
        (
            net(
                "{type: dense, units: 3}",
                train="{epochs: 2, schedule: {type: cosine, warmup_epochs: 2}}",
            ),
            "schedule.warmup_epochs 2 leaves none of the 2 epochs to decay over",
        ),
    ],
    "ir.train.RandomResizedCrop._ranges_ascend: {} [{}, {}] is not [low, high]": [
        (
            net(
                "{type: dense, units: 3}",
                train="{data: {augment: {random_resized_crop: {ratio: [2.0, 0.5]}}}}",
            ),
            "ratio [2.0, 0.5] is not [low, high]",
        ),
    ],
    "ir.train.RandomResizedCrop._ranges_ascend: scale is a share of the image's area, at most 1.0": [
        (
            net(
                "{type: dense, units: 3}",
                train="{data: {augment: {random_resized_crop: {scale: [0.5, 2.0]}}}}",
            ),
            "scale is a share of the image's area, at most 1.0",
        ),
    ],
    "ir.train.Data._mean_and_std_together: give mean and std together": [
        (
            net("{type: dense, units: 3}", train="{data: {mean: [0.5]}}"),
            "give mean and std together",
        ),
    ],
    "ir.train.Data._mean_and_std_together: std must be above 0": [
        (
            net("{type: dense, units: 3}", train="{data: {mean: [0.5], std: [0.0]}}"),
            "std must be above 0",
        ),
    ],
    "ir.train.Data._mean_and_std_together: mean and std need one value per channel each": [
        (
            net("{type: dense, units: 3}", train="{data: {mean: [0.5, 0.5], std: [0.2]}}"),
            "mean and std need one value per channel each",
        ),
    ],
    "objective._check_data: data: prepares images, and the network takes none": [
        (
            net("{type: dense, units: 3}", train="{data: {eval_resize: 20}}"),
            "data: prepares images, and the network takes none",
        ),
    ],
    "objective._check_data: mean and std have {} values, the images have {} channels": [
        (
            net(
                "{type: conv2d, filters: 2, kernel: 3}",
                *LOGITS,
                shape=IMAGE,
                train="{data: {mean: [0.5], std: [0.2]}}",
            ),
            "mean and std have 1 values, the images have 3 channels",
        ),
    ],
    "objective._check_data: eval_resize {} is below the input size {}: the center crop would not fit": [
        (
            net(
                "{type: conv2d, filters: 2, kernel: 3}",
                *LOGITS,
                shape=IMAGE,
                train="{data: {eval_resize: 4}}",
            ),
            "eval_resize 4 is below the input size 8: the center crop would not fit",
        ),
    ],
    "objective._check_mixing: {} mixes class targets: the loss must be cross_entropy, not {}": [
        (
            net(
                "{type: conv2d, filters: 2, kernel: 3}",
                *LOGITS,
                shape=IMAGE,
                train="{loss: mse, data: {mixup: 0.2}}",
            ),
            "mixup mixes class targets: the loss must be cross_entropy, not mse",
        ),
    ],
    "objective._check_mixing: {} mixes one class target per sample: the output must be (K,) class scores, not {}": [
        (
            net(
                "{type: to_sequence}",
                "{type: dense, units: 4}",
                shape=IMAGE,
                train="{loss: cross_entropy, data: {cutmix: 1.0}}",
            ),
            "cutmix mixes one class target per sample: the output must be (K,) class scores, "
            "not (64, 4)",
        ),
    ],
    "objective._check_mixing: {} with ignore_index: a mixed target has no class index to ignore; leave one out": [
        (
            net(
                "{type: conv2d, filters: 2, kernel: 3}",
                *LOGITS,
                shape=IMAGE,
                train="{ignore_index: 0, data: {cutmix: 1.0}}",
            ),
            "cutmix with ignore_index: a mixed target has no class index to ignore",
        ),
    ],
    "objective._check_mixing: {} mixes the images of one input; the network takes {}": [
        (
            "netspec: 1\nname: Net\ninputs:\n  a: {shape: [3, 8, 8]}\n  b: {shape: [4]}\n"
            "layers:\n  - {type: flatten, name: f, inputs: [a]}\n  - {type: concat, inputs: [f, b]}\n"
            "  - {type: dense, units: 2}\ntrain: {data: {mixup: 0.2}}\n",
            "mixup mixes the images of one input; the network takes 2",
        ),
    ],
    "objective.check: train.output {} is not an output of the network (outputs: {})": [
        (
            net("{type: dense, name: a, units: 3}", "{type: dense, name: b, units: 2}")
            + "outputs: [a, b]\ntrain: {output: c}\n",
            "train.output 'c' is not an output of the network (outputs: a, b)",
        ),
    ],
    "ir.NetworkSpec._inputs_name_their_arrays: input {} would be read from the same .npz array as {}; rename it": [
        (
            "netspec: 1\nname: Net\ninputs:\n  y: {shape: [4]}\nlayers:\n"
            "  - {type: dense, units: 2}\n",
            "input 'y' would be read from the same .npz array as the targets (y)",
        ),
        (
            "netspec: 1\nname: Net\ninputs:\n  a: {shape: [4]}\n  a_val: {shape: [4]}\n"
            "layers:\n  - {type: add, inputs: [a, a_val]}\n",
            "input 'a_val' would be read from the same .npz array as input a's held-out",
        ),
    ],
    "objective.check: label_smoothing is for the loss cross_entropy; the loss is {}": [
        (
            net("{type: dense, units: 3}", train="{loss: mse, label_smoothing: 0.1}"),
            "label_smoothing is for the loss cross_entropy; the loss is mse",
        ),
    ],
    "objective.check: label_smoothing with ignore_index is not supported (Keras has no "
    "sparse loss that does both); leave one out": [
        (
            net("{type: dense, units: 3}", train="{label_smoothing: 0.1, ignore_index: 0}"),
            "label_smoothing with ignore_index is not supported",
        ),
    ],
    "objective.check: ignore_index is for the loss cross_entropy; the loss is {}": [
        (
            net("{type: dense, units: 3}", train="{loss: mse, ignore_index: 0}"),
            "ignore_index is for the loss cross_entropy; the loss is mse",
        ),
    ],
    "objective._needs: {}: loss {} needs at least 2 classes, but the network outputs {}; for one output unit use binary_cross_entropy{}": [
        (
            net("{type: dense, units: 1}", train="{loss: cross_entropy}"),
            "loss cross_entropy needs at least 2 classes, but the network outputs (1,)",
        ),
    ],
    "objective._needs: {}: loss cross_entropy takes logits, but {}: {}{}": [
        (
            net("{type: dense, units: 4, activation: softmax}", train="{loss: cross_entropy}"),
            "loss cross_entropy takes logits, but the network ends in softmax: remove the softmax",
        ),
        (
            net(
                "{type: dense, units: 4}",
                "{type: log_softmax}",
                "{type: dropout, rate: 0.5}",
                train="{loss: cross_entropy}",
            ),
            "loss cross_entropy takes logits, but the network ends in log_softmax: use loss nll",
        ),
        (
            net("{type: dense, units: 4, activation: sigmoid}", train="{loss: cross_entropy}"),
            "but the network ends in sigmoid: remove the sigmoid",
        ),
    ],
    "objective._needs: {}: loss {} takes log-probabilities, but {}: end the network in log_softmax (a layer, or activation: log_softmax){}{}": [
        (
            net("{type: dense, units: 4}", train="{loss: nll}"),
            "loss nll takes log-probabilities, but the network ends in a linear layer",
        ),
        (
            net("{type: dense, units: 4, activation: softmax}", train="{loss: kl_div}"),
            "loss kl_div takes log-probabilities, but the network ends in softmax",
        ),
    ],
    "objective._needs: {}: loss binary_cross_entropy takes one probability (sigmoid) or one logit per unit, but {}: use sigmoid or no activation, or loss {} for exclusive classes{}": [
        (
            net(
                "{type: dense, units: 4, activation: softmax}", train="{loss: binary_cross_entropy}"
            ),
            "but the network ends in softmax: use sigmoid or no activation, or loss cross_entropy",
        ),
        (
            net(
                "{type: dense, units: 4, activation: log_softmax}",
                train="{loss: binary_cross_entropy}",
            ),
            "or loss nll for exclusive classes",
        ),
    ],
    "objective.check: accuracy needs class scores (K,) with K >= 2, but the network outputs {}; remove it from metrics": [
        (
            net("{type: dense, units: 1}", train="{loss: mse, metrics: [accuracy]}"),
            "accuracy needs class scores (K,) with K >= 2, but the network outputs (1,)",
        ),
    ],
}
"""Rule key -> specs that break the rule, each with a fragment of the message it must give."""

NOT_TESTED = {
    "passes.expansion.expand: network has no output": "a fallback: every way the expansion loses its "
    "output reports a problem first",
    "passes.shapes.infer_shapes: {}: {}": "passes a layer's ShapeError on, prefixed with the layer's "
    "name (each ShapeError is a rule of its own here)",
}
"""Rules no spec can reach, with the reason; like a case, each must still be in the source."""


def test_every_rule_has_a_case() -> None:
    rules = listed_rules()
    missing = [r for key, r in rules.items() if key not in CASES and key not in NOT_TESTED]
    assert not missing, "rules without a case in tests/test_rules.py CASES:\n" + "\n".join(
        f"  {r.where}: {r.key!r}" for r in missing
    )
    assert len(rules) > 30, "the listing found too few rules: has the source changed form?"


def test_no_case_is_stale() -> None:
    rules = listed_rules()
    stale = sorted(k for k in [*CASES, *NOT_TESTED] if k not in rules)
    assert not stale, "cases for rules no longer in the source (reworded, moved or gone):\n" + (
        "\n".join(f"  {k!r}" for k in stale)
    )


@pytest.mark.parametrize(
    ("key", "text", "fragment"),
    [(key, text, fragment) for key, cases in CASES.items() for text, fragment in cases],
    ids=[
        f"{key.split(':')[0]}:{fragment[:40]}"
        for key, cases in CASES.items()
        for _, fragment in cases
    ],
)
def test_each_case_breaks_its_rule(key: str, text: str, fragment: str) -> None:
    with pytest.raises(netspec.SpecError) as caught:
        netspec.load(text, name="spec.yaml")
    messages = [p.message for p in caught.value.problems]
    assert any(fragment in m for m in messages), f"{fragment!r} not in:\n{caught.value}"
    rule = listed_rules().get(key)
    if rule is not None:  # a stale key fails test_no_case_is_stale
        assert any(rule.pattern().search(m) for m in messages), (
            f"no message of rule {key!r} ({rule.where}) in:\n{caught.value}"
        )


# ----------------------------------------------------------------------------- numeric bounds

BOUNDS = {
    annotated_types.Ge: ("at least", "ge"),
    annotated_types.Gt: ("more than", "gt"),
    annotated_types.Le: ("at most", "le"),
    annotated_types.Lt: ("less than", "lt"),
}
REQUIRED = {
    "filters": "4",
    "groups": "1",
    "scale": "2",
    "kernel": "3",
    "size": "2",
    "units": "4",
    "rate": "0.5",
    "stddev": "0.1",
    "block": "b",
    "step_size": "1",
    "vocab": "9",
    "dim": "2",
    "heads": "1",
    "index": "0",
    "shape": "[4]",
}
"""A valid value for each required field, to write a model with one field out of bounds."""


def _numeric(annotation: Any, metadata: list[Any], index: Any = None) -> list[tuple]:
    """(where: None, or `(i, n)` for item i of a list (n = 1) or a pair (n = 2); int or float;
    bounds) of each bounded number that a field of `annotation` (with pydantic's `metadata`)
    holds."""
    bounds = [m for m in metadata if type(m) in BOUNDS]
    bounds += [
        b for m in metadata if isinstance(m, FieldInfo) for b in m.metadata if type(b) in BOUNDS
    ]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _numeric(args[0], [*metadata, *annotation.__metadata__], index)
    if annotation in (int, float):
        return [(index, annotation, bounds)] if bounds else []
    if origin in (tuple, list):
        assert index is None, f"a bounded number nested two deep: {annotation}"
        size = 1 if origin is list or Ellipsis in args else len(args)
        elements = args[:1] if size == 1 or len(set(args)) == 1 else args
        return [r for i, a in enumerate(elements) for r in _numeric(a, [], (i, size))]
    if origin in (typing.Union, types.UnionType):
        return [r for a in args for r in _numeric(a, [], index)]
    return []


def _bounded_fields(cls: type[BaseModel]) -> list[tuple[str, Any, type, Any]]:
    return [
        (name, index, kind, bound)
        for name, info in cls.model_fields.items()
        for index, kind, bounds in _numeric(info.annotation, list(info.metadata))
        for bound in bounds
    ]


def _tag(cls: type[BaseModel]) -> str | None:
    field = cls.model_fields.get("type")
    return typing.get_args(field.annotation)[0] if field is not None else None


def _places() -> dict[type[BaseModel], tuple[str, str]]:
    """Where a model is written in a spec: (YAML before its flow mapping, dotted path), the
    mapping being the rest of that line."""
    places: dict[type[BaseModel], tuple[str, str]] = {
        ir.InputSpec: ("input: ", "input"),
        ir.Train: ("train: ", "train"),
        ir.Data: ("train:\n  data: ", "train.data"),
        ir.RandomResizedCrop: (
            "train:\n  data:\n    augment:\n      random_resized_crop: ",
            "train.data.augment.random_resized_crop",
        ),
    }
    for cls in ir.LAYER_KINDS.values():
        places[cls] = ("layers:\n  - ", "layers[0]")
    for cls in _members(ir.Activation):
        places[cls] = ("layers:\n  - {type: dense, units: 4, activation: ", "layers[0].activation")
    for field in ("optimizer", "schedule"):
        for cls in _members(ir.Train.model_fields[field].annotation):
            places[cls] = (f"train:\n  {field}: ", f"train.{field}")
    return places


def _members(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _members(arg)]


def _outside(kind: type, bound: Any) -> tuple[Any, Any]:
    """A value just outside `bound`, and one inside it."""
    (attr,) = (a for a in ("ge", "gt", "le", "lt") if hasattr(bound, a))
    limit = kind(getattr(bound, attr))
    down = limit - 1 if kind is int else math.nextafter(limit, -math.inf)
    up = limit + 1 if kind is int else math.nextafter(limit, math.inf)
    return {"ge": (down, limit), "gt": (limit, up), "le": (up, limit), "lt": (limit, down)}[attr]


def _yaml(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _bound_cases() -> list[Any]:
    cases = []
    for cls, (before, where) in _places().items():
        for name, index, kind, bound in _bounded_fields(cls):
            bad, good = _outside(kind, bound)
            if index is None:
                value = _yaml(bad)
            else:  # the item out of bounds, the others in
                value = (
                    "["
                    + ", ".join(_yaml(bad if i == index[0] else good) for i in range(index[1]))
                    + "]"
                )
            items = [f"type: {_tag(cls)}"] if _tag(cls) else []
            items += [
                f"{k}: {REQUIRED.get(k, '?')}"
                for k, f in cls.model_fields.items()
                if f.is_required() and k not in ("type", name)
            ]
            line = "{" + ", ".join([*items, f"{name}: {value}"]) + "}"
            rest = "}" if where.endswith("activation") else ""
            text = "netspec: 1\nname: Net\n"
            text += "" if cls is ir.InputSpec else "input: {shape: [3, 8, 8]}\n"
            text += "" if where.startswith("layers") else "layers:\n  - {type: relu}\n"
            text += before + line + rest + "\n"
            at = f"{where}.{name}" + ("" if index is None else f"[{index[0]}]")
            words, attr = BOUNDS[type(bound)]
            message = f"{at}: must be {words} {getattr(bound, attr)}, got {bad!r}"
            cases.append(
                pytest.param(text, message, id=f"{cls.__name__}.{at.split('.', 1)[-1]}-{attr}")
            )
    return cases


def test_every_model_with_bounded_numbers_is_placed() -> None:
    """So that the bounds test below writes every bounded field: a new model with one must say
    where it is written in a spec (`_places`), unless a placed model inherits the field."""
    placed = _places()
    subclasses, todo = [], [ir.IRModel]
    while todo:
        cls = todo.pop()
        subclasses.append(cls)
        todo.extend(cls.__subclasses__())
    missing = [
        cls.__name__
        for cls in subclasses
        if _bounded_fields(cls) and not any(issubclass(p, cls) for p in placed)
    ]
    assert not missing, (
        f"models with bounded fields that no spec in the bounds test writes: {missing}"
    )
    missing_required = {
        k
        for cls in placed
        for k, f in cls.model_fields.items()
        if f.is_required() and k != "type" and k not in REQUIRED
    }
    assert not missing_required, f"add a valid value for {sorted(missing_required)} to REQUIRED"


@pytest.mark.parametrize(("text", "message"), _bound_cases())
def test_every_numeric_bound_is_enforced_and_located(text: str, message: str) -> None:
    """One value just outside one bound (the bound itself where it is excluded, the nearest
    float past it otherwise): one error, at that value, naming the bound."""
    with pytest.raises(netspec.SpecError) as caught:
        netspec.load(text, name="spec.yaml")
    (problem,) = caught.value.problems
    assert problem.message == message
    line = text.splitlines()[problem.line - 1]
    value = message.rsplit("got ", 1)[1]
    assert line[problem.col - 1 :].startswith(value), f"{problem} points at {line!r}"


if __name__ == "__main__":
    for rule in listed_rules().values():
        print(f"{rule.where:28} {rule.key!r}")


OPTIMIZER_LIMITS = {"sgd": 10.0, "adam": 10.0, "adamw": 10.0}
"""The learning-rate limits docs/spec.md states, written here rather than read from the code,
so that a changed bound fails (the bound tests above take their edges from the models)."""


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZER_LIMITS))
def test_the_documented_learning_rate_limits_hold(optimizer: str) -> None:
    limit = OPTIMIZER_LIMITS[optimizer]
    spec = "netspec: 1\nname: N\ninput: {{shape: [4]}}\nlayers:\n  - {{type: dense, units: 2}}\n"
    train = "train: {{optimizer: {{type: {0}, lr: {1}}}}}\n"
    netspec.load(spec.format() + train.format(optimizer, limit))
    with pytest.raises(netspec.SpecError, match=r"lr: must be at most 10\.0"):
        netspec.load(spec.format() + train.format(optimizer, limit * 1.05))
