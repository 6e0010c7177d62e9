"""Weights between the generated torch and Keras models of one spec, and from reference models.

Both generated models name their layers by the spec's hierarchical names, so weights are matched
by name, not by position. The neutral form is torch's layout (`{layer: {"weight": array, ...}}`,
conv weights (O, I, kH, kW), dense weights (out, in) with `in` in channels-first flatten order).
Keras differs per kind (`LAYOUTS`, one entry per kind with weights): kernels are (kH, kW, I, O)
(a depthwise kernel (kH, kW, C, multiplier), a transposed one (kH, kW, O, I)), dense kernels
(in, out), normalisations name their state gamma/beta/moving_mean/moving_variance. And the
Keras code flattens most images as (H, W, C), torch as (C, H, W) (`netspec.emit.orders` says
which): a layer with a weight per feature (dense rows, BatchNorm, LayerNorm, scale) reading
such features gets those permuted.

`copy(src, dst, network)` works in one process; `save`/`load` go through an .npz file (no
pickle) for copying between processes, since a CUDA torch and TensorFlow in one process can
crash. `from_reference` starts a generated model from a reference model of the same framework
(torchvision, keras.applications) by order. It imports numpy, never a framework: the
frameworks are reached through the models' own methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netspec.emit import orders
from netspec.ir import Conv2d
from netspec.network import Network
from netspec.passes import Node

Arrays = dict[str, dict[str, np.ndarray]]
Convert = Callable[[Node, list[np.ndarray]], list[np.ndarray]]


def _same(node: Node, values: list[np.ndarray]) -> list[np.ndarray]:
    return values


def _conv_to_keras(node: Node, values: list[np.ndarray]) -> list[np.ndarray]:
    weight = values[0]
    layer = node.layer
    assert isinstance(layer, Conv2d)
    if layer.depthwise:  # (C * m, 1, kH, kW) -> (kH, kW, C, m)
        c = weight.shape[0] // layer.multiplier  # type: ignore[operator]
        kernel = weight.reshape(c, layer.multiplier, *weight.shape[2:]).transpose(2, 3, 0, 1)  # type: ignore[arg-type]
    else:
        kernel = weight.transpose(2, 3, 1, 0)
    return [kernel, *values[1:]]


def _conv_from_keras(node: Node, values: list[np.ndarray]) -> list[np.ndarray]:
    kernel = values[0]
    layer = node.layer
    assert isinstance(layer, Conv2d)
    if layer.depthwise:  # (kH, kW, C, m) -> (C * m, 1, kH, kW)
        kh, kw, c, m = kernel.shape
        weight = kernel.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
    else:
        weight = kernel.transpose(3, 2, 0, 1)
    return [weight, *values[1:]]


def _transpose(*axes: int) -> Convert:
    def convert(node: Node, values: list[np.ndarray]) -> list[np.ndarray]:
        return [values[0].transpose(*axes), *values[1:]]

    return convert


def _flat(node: Node, values: list[np.ndarray]) -> list[np.ndarray]:
    """Keras keeps a scale as (C,); torch as (C, 1, 1) for images."""
    return [v.reshape(-1) for v in values]


def _attention_to_keras(node: Node, values: list[np.ndarray]) -> list[np.ndarray]:
    """torch's packed (3F, F) query/key/value projection (rows: out features, heads major) and
    (F, F) output projection -> Keras's (F, heads, F / heads) kernels, (heads, F / heads)
    biases and (heads, F / heads, F) output kernel, in Keras's order of weights."""
    heads = node.layer.heads  # type: ignore[attr-defined]
    weight, *rest = values
    width = weight.shape[1]
    depth = width // heads
    bias = node.layer.bias  # type: ignore[attr-defined]
    in_bias = rest.pop(0) if bias else None
    out_weight, *out_bias = rest
    result = []
    for i in range(3):
        result.append(weight[i * width : (i + 1) * width].T.reshape(width, heads, depth))
        if in_bias is not None:
            result.append(in_bias[i * width : (i + 1) * width].reshape(heads, depth))
    result.append(out_weight.T.reshape(heads, depth, width))
    return result + out_bias


def _attention_from_keras(node: Node, values: list[np.ndarray]) -> list[np.ndarray]:
    bias = node.layer.bias  # type: ignore[attr-defined]
    step = 2 if bias else 1
    projections = [values[i * step] for i in range(3)]
    width = projections[0].shape[0]
    weight = np.concatenate([k.reshape(width, width).T for k in projections])
    out = values[3 * step]
    result = [weight]
    if bias:
        result.append(np.concatenate([values[i * 2 + 1].reshape(width) for i in range(3)]))
    result.append(out.reshape(width, width).T)
    if bias:
        result.append(values[-1])
    return result


def _recurrent_names(node: Node) -> tuple[str, ...]:
    """nn.LSTM / nn.GRU's state_dict entries, by layer then direction."""
    layer = node.layer
    suffixes = ("", "_reverse") if layer.bidirectional else ("",)  # type: ignore[attr-defined]
    return tuple(
        f"{kind}_l{index}{suffix}"
        for index in range(layer.layers)  # type: ignore[attr-defined]
        for suffix in suffixes
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    )


def _gru_gates(units: int) -> np.ndarray:
    """torch orders a GRU's gates (reset, update, new), Keras (update, reset, new)."""
    reset, update, new = (np.arange(i * units, (i + 1) * units) for i in range(3))
    return np.concatenate([update, reset, new])


def _recurrent_to_keras(node: Node, values: list[np.ndarray]) -> list[np.ndarray]:
    """Per layer and direction, torch's (W_ih, W_hh, b_ih, b_hh) -> Keras's kernel and recurrent
    kernel (transposed) and, for the LSTM, both biases (TorchLSTMCell), for the GRU one (2, 3U)
    bias (reset_after=True), GRU gates reordered."""
    result = []
    gru = node.layer.type == "gru"  # type: ignore[attr-defined]
    for i in range(0, len(values), 4):
        w_ih, w_hh, b_ih, b_hh = values[i : i + 4]
        if gru:
            order = _gru_gates(w_hh.shape[1])
            result += [w_ih[order].T, w_hh[order].T, np.stack([b_ih[order], b_hh[order]])]
        else:
            result += [w_ih.T, w_hh.T, b_ih, b_hh]
    return result


def _recurrent_from_keras(node: Node, values: list[np.ndarray]) -> list[np.ndarray]:
    result = []
    if node.layer.type == "gru":  # type: ignore[attr-defined]
        for i in range(0, len(values), 3):
            kernel, recurrent, bias = values[i : i + 3]
            back = np.argsort(_gru_gates(recurrent.shape[0]))
            result += [kernel.T[back], recurrent.T[back], bias[0][back], bias[1][back]]
        return result
    for i in range(0, len(values), 4):
        kernel, recurrent, b_ih, b_hh = values[i : i + 4]
        result += [kernel.T, recurrent.T, b_ih, b_hh]
    return result


@dataclass(frozen=True)
class Layout:
    """How one kind's weights look in each backend."""

    torch: tuple[str, ...] | Callable[[Node], tuple[str, ...]]
    """Its state_dict entries, in Keras's order of weights (or a function of the node, where
    the layer's configuration decides them)."""
    to_keras: Convert = _same
    from_keras: Convert = _same
    per_feature: bool = False
    """Every array has one entry per input feature (permuted after a flatten)."""
    kernel_rows: bool = False
    """The first array's rows (in Keras's layout) are the input features (a dense kernel)."""

    def names(self, node: Node) -> tuple[str, ...]:
        """The state_dict entries a node of the kind has (no biases with `bias: false`)."""
        names = self.torch(node) if callable(self.torch) else self.torch
        if getattr(node.layer, "bias", True) is False:
            return tuple(k for k in names if "bias" not in k)
        return names


LAYOUTS: dict[str, Layout] = {
    "conv2d": Layout(("weight", "bias"), _conv_to_keras, _conv_from_keras),
    "conv_transpose2d": Layout(("weight", "bias"), _transpose(2, 3, 1, 0), _transpose(3, 2, 0, 1)),
    "dense": Layout(("weight", "bias"), _transpose(1, 0), _transpose(1, 0), kernel_rows=True),
    "batchnorm": Layout(("weight", "bias", "running_mean", "running_var"), per_feature=True),
    "layernorm": Layout(("weight", "bias"), per_feature=True),
    "groupnorm": Layout(("weight", "bias")),
    "scale": Layout(("weight",), _flat, per_feature=True),
    "embedding": Layout(("weight",)),
    "position_embedding": Layout(("weight",)),
    "class_token": Layout(("weight",)),
    "conv1d": Layout(("weight", "bias"), _transpose(2, 1, 0), _transpose(2, 1, 0)),
    "multihead_attention": Layout(
        ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"),
        _attention_to_keras,
        _attention_from_keras,
    ),
    "lstm": Layout(_recurrent_names, _recurrent_to_keras, _recurrent_from_keras),
    "gru": Layout(_recurrent_names, _recurrent_to_keras, _recurrent_from_keras),
}
"""Every kind with weights; a kind missing here cannot be copied (the tests walk the kinds)."""


def _is_torch(model: Any) -> bool:
    return hasattr(model, "state_dict") and hasattr(model, "named_modules")


def _owners(network: Network) -> list[Node]:
    """Nodes that own weights (a layer sharing another's owns none)."""
    return [n for n in network.nodes if n.layer.type in LAYOUTS and n.shares is None]  # type: ignore[attr-defined]


def feature_orders(network: Network) -> dict[str, np.ndarray | None]:
    """For each node, which spec feature each Keras feature is (None: the same order): the
    orders of `netspec.emit.orders`, as indices."""
    return {name: _indices(order) for name, order in orders.feature_orders(network).items()}


def _indices(order: orders.Order) -> np.ndarray | None:
    if order is None:
        return None
    if isinstance(order[0], int):  # a Keras flatten of a (C, H, W) image
        c, h, w = order
        return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()
    parts, offset = [], 0  # a concat: each input's order, after the inputs before it
    for part, size in order:
        index = _indices(part)
        parts.append((np.arange(size) if index is None else index) + offset)
        offset += size
    return np.concatenate(parts)


def _permute(layout: Layout, values: list[np.ndarray], index: np.ndarray) -> list[np.ndarray]:
    """Reorder the per-feature axis of Keras-layout arrays by `index`."""
    if layout.kernel_rows:
        return [values[0][index], *values[1:]]
    if layout.per_feature:
        return [v[index] for v in values]
    return values


def to_arrays(model: Any, network: Network) -> Arrays:
    """Every weight of `model` (torch or Keras), by layer name, in torch's layout."""
    if _is_torch(model):
        state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        return {
            n.name: {
                key: state[f"{n.name}.{key}"]
                for key in LAYOUTS[n.layer.type].names(n)  # type: ignore[attr-defined]
                if f"{n.name}.{key}" in state
            }
            for n in _owners(network)
        }
    orders = feature_orders(network)
    shapes = {n.name: _torch_shapes(n, network) for n in _owners(network)}
    result: Arrays = {}
    for node in _owners(network):
        layout = LAYOUTS[node.layer.type]  # type: ignore[attr-defined]
        values = [np.asarray(v) for v in model.get_layer(node.name).get_weights()]
        order = orders[node.inputs[0]]
        if order is not None:
            values = _permute(layout, values, np.argsort(order))
        values = layout.from_keras(node, values)
        result[node.name] = {
            key: np.ascontiguousarray(v.reshape(shapes[node.name].get(key, v.shape)))
            for key, v in zip(layout.names(node), values)
        }
    return result


def _torch_shapes(node: Node, network: Network) -> dict[str, tuple[int, ...]]:
    """Shapes torch keeps that Keras's arrays do not show (a scale of images is (C, 1, 1))."""
    shape = network.shapes[node.inputs[0]]
    if node.layer.type == "scale" and len(shape) == 3:  # type: ignore[attr-defined]
        return {"weight": (shape[0], 1, 1)}
    return {}


def from_arrays(model: Any, network: Network, arrays: Arrays) -> None:
    """Set every weight of `model` (torch or Keras) from torch-layout arrays."""
    if _is_torch(model):
        import torch

        state = {
            f"{name}.{key}": torch.from_numpy(np.asarray(value))
            for name, layer in arrays.items()
            for key, value in layer.items()
        }
        missing = set(state) - set(model.state_dict())
        assert not missing, f"model has no {sorted(missing)[:3]}"
        model.load_state_dict(state, strict=False)
        return
    orders = feature_orders(network)
    for node in _owners(network):
        layout = LAYOUTS[node.layer.type]  # type: ignore[attr-defined]
        given = arrays[node.name]
        values = layout.to_keras(node, [given[k] for k in layout.names(node) if k in given])
        order = orders[node.inputs[0]]
        if order is not None:
            values = _permute(layout, values, order)
        model.get_layer(node.name).set_weights(values)


def copy(src: Any, dst: Any, network: Network) -> None:
    """Copy the weights of one generated model of `network` into another (either backend)."""
    from_arrays(dst, network, to_arrays(src, network))


def save(model: Any, network: Network, path: str | Path) -> None:
    """Write the model's weights to an .npz file (torch layout, keys `layer/weight`)."""
    flat = {
        f"{name}/{key}": v
        for name, layer in to_arrays(model, network).items()
        for key, v in layer.items()
    }
    np.savez(path, **flat)


def load(model: Any, network: Network, path: str | Path) -> None:
    """Set the model's weights from an .npz file written by `save` (never unpickles)."""
    arrays: Arrays = {}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            name, _, field = key.rpartition("/")
            arrays.setdefault(name, {})[field] = data[key]
    from_arrays(model, network, arrays)


# ----------------------------------------------------------------------------- reference models


class WeightMismatch(ValueError):
    """A reference model's tensors do not line up with a generated model's."""


@dataclass(frozen=True)
class Mapped:
    """One tensor copied by `from_reference`."""

    source: str
    target: str
    shape: tuple[int, ...]


def from_reference(model: Any, reference: Any) -> list[Mapped]:
    """Copy every weight of `reference` (a torchvision model into a generated torch model, a
    keras.applications model into a generated Keras model) into `model`, and say what went
    where.

    Tensors are paired in the order the models use them: for torch, the order in which the
    operations of a forward pass (batch of one zero input, eval mode) first read each
    parameter and buffer, so a tensor is paired where it acts whichever module holds it (a
    layer scale a block applies after its children, ViT's class token and position table
    held by the model and its encoder, an attention's output projection that its module
    never calls), then those no operation read (BatchNorm's `num_batches_tracked`) in
    state_dict order; for Keras, the order of `model.weights` (the layers' order). Two shapes
    line up when they are equal once axes of size 1 are dropped (a
    torchvision `nn.Linear` on channels-last against a 1x1 convolution, a (C, 1, 1) scale
    against (C,)). Nothing is copied unless every tensor lines up: otherwise `WeightMismatch`
    names the first pair that does not.
    """
    if _is_torch(model) != _is_torch(reference):
        raise WeightMismatch("the reference and the model must be of one framework")
    inputs = _input_shape(model)
    mine, reference_order = _ordered(model, inputs), _ordered(reference, inputs)
    pairs = list(zip(reference_order, mine))
    ours, theirs = len(mine), len(reference_order)
    for index, ((name, value), (target, current)) in enumerate(pairs):
        if _squeezed(value.shape) != _squeezed(current.shape):
            raise WeightMismatch(
                f"tensor {index + 1}: the reference's {name} {tuple(value.shape)} does not line "
                f"up with {target} {tuple(current.shape)}; nothing was copied"
            )
    if ours != theirs:
        raise WeightMismatch(
            f"the reference has {theirs} tensors, the model {ours}; nothing was copied"
        )
    for (_, value), (_, current) in pairs:
        _assign(current, value)
    return [Mapped(name, target, tuple(v.shape)) for (name, v), (target, _) in pairs]


def _squeezed(shape: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in shape if d != 1)


def _ordered(model: Any, inputs: dict[str, tuple[tuple[int, ...], str]]) -> list[tuple[str, Any]]:
    """(name, tensor or variable) of every weight, in the order the model uses them."""
    if not _is_torch(model):
        return [
            (v.path, v)
            for v in model.weights
            if "seed_generator" not in v.path  # a random layer's state, not a weight
        ]
    import torch
    from torch.overrides import TorchFunctionMode

    state = dict(model.state_dict(keep_vars=True))
    names = {id(t): key for key, t in reversed(state.items())}  # a shared tensor: first name
    order: list[tuple[str, Any]] = []
    seen: set[int] = set()

    def visit(value: Any) -> None:
        if isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif isinstance(value, torch.Tensor) and id(value) in names and id(value) not in seen:
            seen.add(id(value))
            order.append((names[id(value)], value))

    class FirstUse(TorchFunctionMode):
        """Sees every torch operation and its arguments: records each weight at the first
        operation that reads it."""

        def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            visit(args)
            visit(kwargs or {})
            return func(*args, **(kwargs or {}))

    was_training = model.training
    model.eval()
    try:
        batch = {
            name: torch.zeros(1, *shape, dtype=getattr(torch, dtype))
            for name, (shape, dtype) in inputs.items()
        }
        with torch.no_grad(), FirstUse():
            model(*batch.values())  # by position: a torchvision model's argument is not `x`
    finally:
        model.train(was_training)
    unused = [(key, t) for key, t in state.items() if id(t) not in seen]
    seen.update(id(t) for _, t in unused)
    return order + list({id(t): (k, t) for k, t in unused}.values())


def _input_shape(model: Any) -> dict[str, tuple[tuple[int, ...], str]]:
    """The sample shape (channels first) and dtype of each input of a generated model, by the
    name its `forward` takes it (its module's INPUT_SHAPE and INPUT_DTYPE, or INPUT_SHAPES and
    INPUT_DTYPES)."""
    import sys

    module = sys.modules[type(model).__module__] if _is_torch(model) else None
    named = getattr(module, "INPUT_SHAPES", None)
    if named is not None:
        dtypes = module.INPUT_DTYPES  # type: ignore[union-attr]
        return {name: (tuple(shape), dtypes[name]) for name, shape in named.items()}
    shape = getattr(module, "INPUT_SHAPE", None)
    if shape is None and not _is_torch(model):
        return {}  # Keras orders weights without running the model
    if shape is None:
        raise WeightMismatch("the model is not a generated model (its module has no INPUT_SHAPE)")
    return {"x": (tuple(shape), getattr(module, "INPUT_DTYPE", "float32"))}


def _assign(target: Any, value: Any) -> None:
    if hasattr(target, "copy_"):
        import torch

        with torch.no_grad():
            target.copy_(value.detach().reshape(target.shape))
    else:
        target.assign(np.asarray(value).reshape(tuple(target.shape)))
