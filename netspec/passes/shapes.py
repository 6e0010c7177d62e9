"""The passes after expansion: shapes inferred, sharing checked against them, parameters,
buffers and MACs counted."""

from __future__ import annotations

import math
from dataclasses import dataclass

from netspec.errors import Problem
from netspec.ir import InputSpec, LayerBase, Shape, ShapeError, fmt
from netspec.passes.nodes import Graph
from netspec.spec import SourceMap


@dataclass(frozen=True)
class Stats:
    """Per-node counts: trainable parameters, non-trainable buffers, multiply-accumulates."""

    params: int
    buffers: int
    macs: int


def infer_shapes(
    graph: Graph, sources: dict[str, InputSpec], source: SourceMap
) -> tuple[dict[str, Shape], list[Problem]]:
    """Output shape of every node, by the layer formulas, and a located problem for each
    impossible one (that node has no shape, and the nodes it feeds are skipped).

    An input of token ids (below its `vocab`) goes only into an embedding (of at least that
    many rows); every other layer takes float features."""
    shapes: dict[str, Shape] = {name: tuple(spec.shape) for name, spec in sources.items()}
    vocabs = {name: spec.vocab for name, spec in sources.items() if spec.vocab is not None}
    problems = []
    for node in graph.nodes:
        if any(i not in shapes for i in node.inputs):
            continue
        ins = [shapes[i] for i in node.inputs]
        tokens = [vocabs[i] for i in node.inputs if i in vocabs]
        try:
            _check_dtype(node.layer, bool(tokens), max(tokens, default=None))
            shapes[node.name] = node.layer.output_shape(ins)
        except ShapeError as exc:
            problems.append(source.problem(node.path, f"{node.name}: {exc}"))
    return shapes, problems


def _check_dtype(layer: LayerBase, tokens: bool, vocab: int | None) -> None:
    kind = layer.type  # type: ignore[attr-defined]
    if tokens and not layer.takes_tokens:
        raise ShapeError(f"{kind} takes float features, not token ids; embed them first")
    if not layer.takes_tokens:
        return
    if not tokens:
        raise ShapeError(f"{kind} takes token ids (an input of dtype int64), not float features")
    rows = layer.vocab  # type: ignore[attr-defined]
    if vocab is not None and rows < vocab:
        raise ShapeError(
            f"vocab {rows} is smaller than the input's vocab {vocab}: ids up to {vocab - 1} "
            "would index past the table"
        )


def check_shared(graph: Graph, shapes: dict[str, Shape], source: SourceMap) -> list[Problem]:
    """A shared layer or block use must see inputs of the shape its weights were made for (a
    block use whose input differs is reported once, at its `share:`, not at each layer).
    Uses whose shapes are unknown (after a broken layer) are skipped."""
    problems = []
    uses = {i.name: i for i in graph.instances}
    reported: list[str] = []
    for use in graph.instances:
        if use.shares is None or not {use.input, uses[use.shares].input} <= shapes.keys():
            continue
        mine, theirs = shapes[use.input], shapes[uses[use.shares].input]
        if mine != theirs:
            message = f"{use.name}: shares {use.shares!r} but its input {fmt(mine)} differs from"
            problems.append(source.problem((*use.path, "share"), f"{message} {fmt(theirs)}"))
            reported.append(use.name + ".")
    by_name = {n.name: n for n in graph.nodes}
    for node in graph.nodes:
        if node.shares is None or node.name.startswith(tuple(reported)):
            continue
        owner = by_name[node.shares]
        if not {*node.inputs, *owner.inputs} <= shapes.keys():
            continue
        mine = [shapes[i] for i in node.inputs]
        theirs = [shapes[i] for i in owner.inputs]
        if node.layer.type != owner.layer.type:  # type: ignore[attr-defined]  # a tied dense
            dim = owner.layer.dim  # type: ignore[attr-defined]
            if mine[0][-1] != dim:
                problems.append(
                    source.problem(
                        (*node.path, "share"),
                        f"{node.name}: is tied to {owner.name!r} but its input {fmt(mine[0])} "
                        f"has {mine[0][-1]} features, not the embedding's {dim}",
                    )
                )
            continue
        if node.layer.param_count(mine) != owner.layer.param_count(theirs) or mine != theirs:
            problems.append(
                source.problem(
                    (*node.path, "share"),
                    f"{node.name}: shares {owner.name!r} but its input {fmt(mine[0])} differs from "
                    f"{fmt(theirs[0])}",
                )
            )
    return problems


def count(graph: Graph, shapes: dict[str, Shape]) -> dict[str, Stats]:
    """Parameters (a shared layer counts zero), buffers and MACs of every node."""
    result = {}
    for node in graph.nodes:
        ins = [shapes[i] for i in node.inputs]
        params, buffers = (0, 0) if node.shares else node.layer.param_count(ins)
        result[node.name] = Stats(params, buffers, node.layer.macs(ins, shapes[node.name]))
    return result


def activation_elements(graph: Graph, shapes: dict[str, Shape]) -> int:
    """Elements of every layer output for one sample (what a forward pass keeps for backward)."""
    return sum(math.prod(shapes[n.name]) for n in graph.nodes)
