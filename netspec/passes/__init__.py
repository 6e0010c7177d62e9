"""Passes over the IR: expand blocks and repeats, resolve names and sharing, infer shapes, count.

Each pass is a function from IR (and earlier results) to new results; nothing here mutates the
IR. Problems are collected and raised together; a layer whose inputs already failed is skipped
rather than reported again.

The stages, each a module: `nodes` (what expansion produces), `expansion` (blocks, repeats,
names, sharing), `shapes` (shapes, shared-input checks, counts).
"""

from netspec.passes.expansion import expand, expand_remains, spec_text
from netspec.passes.nodes import INPUT, MAX_LAYERS, Graph, Instance, Node
from netspec.passes.shapes import Stats, activation_elements, check_shared, count, infer_shapes

__all__ = [
    "INPUT",
    "MAX_LAYERS",
    "Graph",
    "Instance",
    "Node",
    "Stats",
    "activation_elements",
    "check_shared",
    "count",
    "expand",
    "expand_remains",
    "infer_shapes",
    "spec_text",
]
