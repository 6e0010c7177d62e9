"""The expanded network: concrete layers (`Node`), block uses (`Instance`) and the graph they
form, in the order of the spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netspec.ir import SINGLE_INPUT, LayerBase
from netspec.spec import Path_

INPUT = SINGLE_INPUT
"""The name by which a layer list refers to its own input (the network's one `input:`, or the
block's); a network with several `inputs:` names each."""

MAX_LAYERS = 100_000
"""Most concrete layers a network may expand to: nested blocks and repeats multiply."""


@dataclass(frozen=True)
class Node:
    """One concrete layer of the expanded network."""

    name: str
    """Hierarchical name (`block3.conv.1`): the torch module path and the Keras layer name."""
    layer: LayerBase
    inputs: tuple[str, ...]
    """Names of the nodes feeding this one; `INPUT` is the network input."""
    path: Path_
    """Where the layer is written in the spec."""
    shares: str | None = None
    """Name of the node whose weights this layer uses."""


@dataclass(frozen=True)
class Instance:
    """One use of a block: the node-name prefix it owns and its bound arguments."""

    name: str
    block: str
    args: dict[str, Any]
    path: Path_
    input: str
    """Name of the node feeding this use (`INPUT`: the network's input)."""
    shares: str | None = None
    """Name of the earlier use of the same block whose weights this use applies (`share:`)."""


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    """In topological order (the order of the spec)."""
    instances: tuple[Instance, ...]
    outputs: tuple[str, ...]
    """The nodes whose outputs the model returns, in the spec's order."""
    inputs: tuple[str, ...] = (INPUT,)
    """The network's inputs, by the names layers use."""

    @property
    def output(self) -> str:
        """The first output (the loss applies to it unless `train.output` names another)."""
        return self.outputs[0]
