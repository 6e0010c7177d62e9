"""Feature orders: where the Keras code's flat features are not in the spec's order.

The spec flattens a (C, H, W) image channels first, as torch does; Keras holds images as
(H, W, C), and its `Flatten` flattens them in that order, as `keras.applications` models do
(their dense weights expect it). The Keras code keeps Keras's order where only weights see
it: features that reach dense layers, whose rows `netspec.weights` permutes when it copies
weights. Where a flatten's features reach a model output in place (through layers that keep
each feature where it is), the order would show: the output would be the spec's features
shuffled, and a loss would pair them with the wrong targets. Those flattens (`torch_order`)
permute the image to (C, H, W) first, so every output means what the spec says.

Both the Keras emitter and `netspec.weights` take their orders from here, so what the code
does and how weights are copied into it cannot disagree. No numpy: an emitter needs none.
"""

from __future__ import annotations

from typing import Any

from netspec.network import Network
from netspec.passes import Node
from netspec.spec import Path_

Order = Any
"""How Keras orders a node's features against the spec: None (alike); a (C, H, W) image shape
(the features of a Keras flatten of it); or, for a concat, ((order, size), ...) per input."""


def _flattens_in_place(network: Network) -> dict[str, frozenset[Path_]]:
    """For each node, the flattens (by where they are written) whose features it holds in
    place: a flatten of an image whose order Keras changes, carried through the layers that
    keep flat features where they are (activations, dropout, normalisations, add, concat)."""
    carried: dict[str, frozenset[Path_]] = dict.fromkeys(network.graph.inputs, frozenset())
    for node in network.nodes:
        if _keras_reorders(node, network):
            carried[node.name] = frozenset([node.path])
        elif _mixes(node, network):
            carried[node.name] = frozenset()
        else:
            carried[node.name] = frozenset().union(*(carried[i] for i in node.inputs))
    return carried


def torch_order(network: Network) -> frozenset[Path_]:
    """The flattens (by where they are written, so every use of a block and every copy of a
    repeat alike) that the Keras code flattens in the spec's (C, H, W) order: those whose
    features reach a model output in place, and those that must agree with one of them:
    added or multiplied with its features, or read by a layer that shares the weights of the
    layer reading them (one weight per feature, one order)."""
    carried = _flattens_in_place(network)
    group = {path: path for paths in carried.values() for path in paths}

    def root(path: Path_) -> Path_:
        while group[path] != path:
            path = group[path]
        return path

    def join(paths: frozenset[Path_]) -> None:
        roots = sorted({root(p) for p in paths}, key=repr)
        for other in roots[1:]:
            group[other] = roots[0]

    by_name = {node.name: node for node in network.nodes}
    for node in network.nodes:
        if node.layer.type in ("add", "multiply"):  # type: ignore[attr-defined]
            join(frozenset().union(*(carried[i] for i in node.inputs)))
        owner = by_name.get(node.shares or "")
        if owner is not None:
            join(carried[node.inputs[0]] | carried[owner.inputs[0]])
    shown = {root(path) for name in network.graph.outputs for path in carried[name]}
    return frozenset(path for path in group if root(path) in shown)


def feature_orders(network: Network) -> dict[str, Order]:
    """For each node, how Keras orders its features against the spec (`Order`)."""
    chw = torch_order(network)
    orders: dict[str, Order] = dict.fromkeys(network.graph.inputs)
    for node in network.nodes:
        if _keras_reorders(node, network):
            orders[node.name] = None if node.path in chw else network.shapes[node.inputs[0]]
        elif _mixes(node, network):
            orders[node.name] = None
        elif node.layer.type == "concat":  # type: ignore[attr-defined]
            ins = [orders[i] for i in node.inputs]
            sizes = [network.shapes[i][0] for i in node.inputs]
            orders[node.name] = None if ins == [None] * len(ins) else tuple(zip(ins, sizes))
        else:
            orders[node.name] = orders[node.inputs[0]]
    return orders


def _keras_reorders(node: Node, network: Network) -> bool:
    """A flatten of an image whose features Keras orders otherwise (more than one channel and
    more than one position)."""
    shape = network.shapes[node.inputs[0]]
    return (
        node.layer.type == "flatten"  # type: ignore[attr-defined]
        and len(shape) == 3
        and shape[0] > 1
        and shape[1] * shape[2] > 1
    )


def _mixes(node: Node, network: Network) -> bool:
    """Its output's features are not its input's features kept in place: a dense layer (its
    rows take any order), or anything that reads or makes other than flat features."""
    kind = node.layer.type  # type: ignore[attr-defined]
    flat = len(network.shapes[node.inputs[0]]) == 1 and len(network.shapes[node.name]) == 1
    return kind == "dense" or not flat
