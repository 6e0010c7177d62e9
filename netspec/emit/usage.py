"""The README's first snippet: how to import the generated model and call it on a batch of
random inputs of the right kind (images, features, sequences, token ids, several named inputs),
so that it runs when pasted. Decided here; the READMEs only lay it out."""

from __future__ import annotations

from netspec.emit.base import literal, pystr
from netspec.network import Network

LAYOUT = {1: "(N, F)", 2: "(N, T, F)", 3: "(N, C, H, W)"}
"""A batch's layout in the spec's order, by the rank of one sample."""


def _constants(network: Network) -> list[str]:
    if network.several_inputs:
        return []
    vocab = network.spec.sources()[network.graph.inputs[0]].vocab
    return ["INPUT_SHAPE", *(["VOCAB"] if vocab is not None else [])]


def torch_usage(network: Network, package: str) -> list[str]:
    """Lines of Python: the imports and one call of the model."""
    names = ", ".join([network.name, *_constants(network), "build_model"])
    lines = ["import torch", f"from {package}.model import {names}", ""]
    lines.append(f"model = build_model()  # or {network.name}()")
    if network.several_inputs:
        sources = network.spec.sources()
        args = ", ".join(
            f"{name}={_torch_batch(shape, sources[name].vocab)}"
            for name, shape in network.input_shapes.items()
        )
        lines.append(f"y = model({args})  # each input by name, in the spec's layout")
        return lines
    vocab = network.spec.sources()[network.graph.inputs[0]].vocab
    if vocab is not None:
        lines.append("y = model(torch.randint(0, VOCAB, (8, *INPUT_SHAPE)))  # token ids (N, T)")
    else:
        layout = LAYOUT[len(network.input_shape)]
        lines.append(
            f"y = model(torch.randn(8, *INPUT_SHAPE))  # input is {layout}, as in the spec"
        )
    return lines


def _torch_batch(shape: tuple[int, ...], vocab: int | None) -> str:
    if vocab is not None:
        return f"torch.randint(0, {vocab}, {literal((8, *shape))})"
    return f"torch.randn({', '.join(str(d) for d in (8, *shape))})"


def keras_usage(network: Network, package: str) -> list[str]:
    """Lines of Python: the imports and one call of the model (channels-last images)."""
    names = ", ".join([*_constants(network), "build_model"])
    lines = [
        "import numpy as np",
        f"from {package}.model import {names}",
        "",
        "model = build_model()",
    ]
    if network.several_inputs:
        sources = network.spec.sources()
        batch = ", ".join(
            f"{pystr(name)}: {_numpy_batch(shape, sources[name].vocab)}"
            for name, shape in network.input_shapes.items()
        )
        lines.append(f"y = model({{{batch}}})  # each input by name; images channels last")
        return lines
    shape = network.input_shape
    if network.spec.sources()[network.graph.inputs[0]].vocab is not None:
        lines.append(
            "y = model(np.random.randint(0, VOCAB, (8, *INPUT_SHAPE)))  # token ids (N, T)"
        )
    elif len(shape) == 3:
        lines.append(
            "c, h, w = INPUT_SHAPE  # the spec's order; "
            "the model takes channels-last (N, H, W, C) input"
        )
        lines.append('y = model(np.random.rand(8, h, w, c).astype("float32"))')
    else:
        layout = LAYOUT[len(shape)]
        lines.append(f'y = model(np.random.rand(8, *INPUT_SHAPE).astype("float32"))  # {layout}')
    return lines


def _numpy_batch(shape: tuple[int, ...], vocab: int | None) -> str:
    if vocab is not None:
        return f"np.random.randint(0, {vocab}, {literal((8, *shape))})"
    keras_shape = (*shape[1:], shape[0]) if len(shape) == 3 else shape
    return f'np.random.rand({", ".join(str(d) for d in (8, *keras_shape))}).astype("float32")'
