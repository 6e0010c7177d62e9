"""Weights between the generated torch and Keras models of one spec.

Both models name their layers by the spec's hierarchical names, so weights are matched by name,
not by position. The neutral form is torch's layout (`{layer: {"weight": array, ...}}`, conv
weights (O, I, kH, kW), dense weights (out, in) with `in` in channels-first flatten order);
Keras differs in three ways, each handled here:

* conv kernels are (kH, kW, I, O) and dense kernels (in, out);
* Keras flattens (H, W, C) images, torch (C, H, W): the features after a flatten are permuted,
  so a dense layer reading them (and a BatchNorm between) gets its rows permuted;
* BatchNorm's state is named gamma/beta/moving_mean/moving_variance.

`copy(src, dst, network)` works in one process; `save`/`load` go through an .npz file (no
pickle) for copying between processes, since a CUDA torch and TensorFlow in one process can
crash. numpy is the only import; the frameworks are reached through the models' own methods.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from netspec.network import Network
from netspec.passes import INPUT

Arrays = dict[str, dict[str, np.ndarray]]

_TORCH_NAMES = {
    "conv2d": ("weight", "bias"),
    "dense": ("weight", "bias"),
    "batchnorm": ("weight", "bias", "running_mean", "running_var"),
}


def _is_torch(model: Any) -> bool:
    return hasattr(model, "state_dict") and hasattr(model, "named_modules")


def _owners(network: Network) -> list[Any]:
    """Nodes that own weights (a layer sharing another's owns none)."""
    return [n for n in network.nodes if n.layer.type in _TORCH_NAMES and n.shares is None]  # type: ignore[attr-defined]


def feature_orders(network: Network) -> dict[str, np.ndarray | None]:
    """For each node, which channels-first feature each Keras feature is (None: same order).

    Only flat outputs derived from a flatten of an image have a non-trivial order.
    """
    orders: dict[str, np.ndarray | None] = {INPUT: None}
    for node in network.nodes:
        kind = node.layer.type  # type: ignore[attr-defined]
        ins = [orders[i] for i in node.inputs]
        in_shape = network.shapes[node.inputs[0]]
        if kind == "flatten" and len(in_shape) == 3:
            c, h, w = in_shape
            orders[node.name] = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()
        elif kind == "dense" or len(in_shape) == 3 or len(network.shapes[node.name]) != 1:
            orders[node.name] = None
        elif kind == "concat":
            parts, offset = [], 0
            for order, shape in zip(ins, (network.shapes[i] for i in node.inputs)):
                parts.append(np.arange(shape[0]) + offset if order is None else order + offset)
                offset += shape[0]
            orders[node.name] = np.concatenate(parts)
        else:
            orders[node.name] = ins[0]
    return orders


def to_arrays(model: Any, network: Network) -> Arrays:
    """Every weight of `model` (torch or Keras), by layer name, in torch's layout."""
    if _is_torch(model):
        state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        return {
            n.name: {
                key: state[f"{n.name}.{key}"]
                for key in _TORCH_NAMES[n.layer.type]  # type: ignore[attr-defined]
                if f"{n.name}.{key}" in state
            }
            for n in _owners(network)
        }
    orders = feature_orders(network)
    result: Arrays = {}
    for node in _owners(network):
        kind = node.layer.type  # type: ignore[attr-defined]
        values = [np.asarray(v) for v in model.get_layer(node.name).get_weights()]
        order = orders[node.inputs[0]]
        inverse = None if order is None else np.argsort(order)
        if kind == "conv2d":
            arrays = {"weight": values[0].transpose(3, 2, 0, 1)}
        elif kind == "dense":
            kernel = values[0] if inverse is None else values[0][inverse]
            arrays = {"weight": kernel.T}
        else:
            if inverse is not None:
                values = [v[inverse] for v in values]
            arrays = dict(zip(_TORCH_NAMES["batchnorm"], values))
        if kind != "batchnorm" and len(values) > 1:
            arrays["bias"] = values[1]
        result[node.name] = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    return result


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
        kind = node.layer.type  # type: ignore[attr-defined]
        given = arrays[node.name]
        order = orders[node.inputs[0]]
        if kind == "conv2d":
            values = [given["weight"].transpose(2, 3, 1, 0)]
        elif kind == "dense":
            kernel = given["weight"].T
            values = [kernel if order is None else kernel[order]]
        else:
            values = [given[k] for k in _TORCH_NAMES["batchnorm"]]
            values = values if order is None else [v[order] for v in values]
        if kind != "batchnorm" and "bias" in given:
            values.append(given["bias"])
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
