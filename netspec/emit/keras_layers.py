"""What each layer kind's Keras layer takes: one registered function per kind (`ARGUMENTS`), so
a new kind is one entry here and one template under templates/keras/layers/. Python decides
every argument; the template only lays out the constructor. Also the activations Keras names
(`KERAS_ACTIVATIONS`, `fused`) and the refusals of what Keras or TensorFlow's kernels cannot run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netspec.emit.base import EmitError, Item, call, expr, literal, registrar
from netspec.ir import (
    ActivationFn,
    BatchNorm,
    Conv1d,
    Conv2d,
    ConvTranspose2d,
    Dense,
    Embedding,
    GroupNorm,
    Gru,
    Lstm,
    MultiheadAttention,
    ParamRef,
    PositionEmbedding,
    Upsample,
)
from netspec.network import Network
from netspec.passes import Node

KERAS_ACTIVATIONS = {
    "relu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "softmax": "softmax",
    "log_softmax": "log_softmax",
    "relu6": "relu6",
    "silu": "silu",
    "hardswish": "hard_silu",
    "hardsigmoid": "hard_sigmoid",
}
"""Activations Keras names as the spec means them (its `gelu` string is the exact form only)."""


def fused(act: ActivationFn | None) -> tuple[str | None, str | None]:
    """(activation= argument, separate activation layer) for a fused activation."""
    if act is None:
        return None, None
    if act.type in KERAS_ACTIVATIONS:
        return literal(KERAS_ACTIVATIONS[act.type]), None
    if act.type == "elu" and act.alpha == 1.0:  # type: ignore[attr-defined]
        return literal("elu"), None
    if act.type == "gelu":
        return None, f"GELU(approximate={act.approximate == 'tanh'}"  # type: ignore[attr-defined]
    if act.type == "leaky_relu":
        return None, f"layers.LeakyReLU(negative_slope={expr(act.alpha)}"  # type: ignore[attr-defined]
    return None, f"layers.ELU(alpha={expr(act.alpha)}"  # type: ignore[attr-defined]


Arguments = Callable[[Network, Item, str], dict[str, Any]]
ARGUMENTS: dict[str, Arguments] = {}
"""What each kind's layer template needs, by kind (a kind with no entry takes only its
`name=`): one function per kind, so a new kind is one entry here and one template."""


arguments = registrar(ARGUMENTS)


def _call(*args: str, **kwargs: str | None) -> dict[str, Any]:
    """A template view whose `args` are a constructor's arguments."""
    return {"args": call("", *args, **kwargs)[1:-1]}


def keras_same(layer: Any) -> bool:
    """Whether Keras's `padding="same"` pads as a convolution's own padding does: `same`
    itself, or integer padding that equals TensorFlow's rule for every input size (stride 1,
    dilation * (kernel - 1) / 2 on each side, as a 3x3 convolution's padding 1; written in
    the spec, not given by a block's arguments). Keras then pads inside the convolution; a
    ZeroPadding layer before it copies the input each way, which made the generated
    VGG-16's step 28 % slower than keras.applications' on JAX's CPU (bench/keras_step.py)."""
    if layer.padding == "same":
        return True
    if layer.padding == "valid":
        return False
    if isinstance(layer.kernel, tuple):  # conv2d: per dimension
        dims = zip(layer.padding, layer.kernel, layer.stride, layer.dilation)
    else:
        dims = [(layer.padding, layer.kernel, layer.stride, layer.dilation)]
    return all(
        all(isinstance(v, int) for v in dim)  # not a block argument, known only per use
        and dim[2] == 1
        and dim[3] * (dim[1] - 1) == 2 * dim[0]
        for dim in dims
    )


def _refuse(item: Item, unsupported: Callable[[Any], bool], what: str) -> None:
    """Refuse what Keras (or TensorFlow's CPU kernels) cannot run, checked on every concrete
    copy of the item (block parameters may differ between uses)."""
    if any(unsupported(n.layer) for n in item.nodes):
        raise EmitError(f"layer {item.name!r} (line {item.line}): Keras {what}")


@arguments("conv2d")
def _conv2d(network: Network, item: Item, name: str) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, Conv2d)
    _refuse(
        item,
        lambda c: c.stride != (1, 1) and c.dilation != (1, 1),
        "convolutions do not take a stride above 1 together with a dilation above 1",
    )
    if layer.depthwise:
        _refuse(
            item,
            lambda c: c.stride[0] != c.stride[1],
            "(TensorFlow) depthwise convolutions take equal strides for height and width only",
        )
    act, _ = fused(layer.activation)
    common = {
        "strides": _kw(layer.stride, (1, 1)),
        "padding": literal("same") if keras_same(layer) else None,
        "dilation_rate": _kw(layer.dilation, (1, 1)),
    }
    if layer.depthwise:
        view = _call(
            expr(layer.kernel),
            **common,
            depth_multiplier=_kw(layer.multiplier, 1),
            use_bias=_kw(layer.bias, True),
            activation=act,
            name=name,
        )
        return {**view, "cls": "DepthwiseConv2D"}
    view = _call(
        expr(layer.filters),
        expr(layer.kernel),
        **common,
        groups=_kw(layer.groups, 1),
        use_bias=_kw(layer.bias, True),
        activation=act,
        name=name,
    )
    return {**view, "cls": "Conv2D"}


@arguments("conv_transpose2d")
def _conv_transpose2d(network: Network, item: Item, name: str) -> dict[str, Any]:
    """Keras's 'valid' transposed convolution with an explicit `output_padding` computes
    torch's size before its padding, which a crop (`post`) then removes."""
    layer = item.layer
    assert isinstance(layer, ConvTranspose2d)
    _refuse(
        item,
        lambda c: c.dilation != (1, 1),
        "(TensorFlow's CPU kernels) transposed convolutions take no dilation above 1",
    )
    act, _ = fused(layer.activation)
    # Keras's default output_padding (None) differs from torch's where the kernel is smaller
    # than the stride; an explicit one always means torch's formula
    explicit = item.uniform(
        "explicit output_padding",
        lambda n: (
            n.layer.output_padding != (0, 0)
            or any(k < s for k, s in zip(n.layer.kernel, n.layer.stride))
        ),
    )
    return _call(
        expr(layer.filters),
        expr(layer.kernel),
        strides=_kw(layer.stride, (1, 1)),
        output_padding=expr(layer.output_padding) if explicit else None,
        dilation_rate=_kw(layer.dilation, (1, 1)),
        use_bias=_kw(layer.bias, True),
        activation=act,
        name=name,
    )


@arguments("maxpool2d", "avgpool2d")
def _pool2d(network: Network, item: Item, name: str) -> dict[str, Any]:
    return _call(expr(item.layer.size), strides=_kw(item.layer.stride, None), name=name)  # type: ignore[attr-defined]


@arguments("global_avgpool2d", "global_maxpool2d")
def _global_pool2d(network: Network, item: Item, name: str) -> dict[str, Any]:
    keepdims = item.layer.keepdims  # type: ignore[attr-defined]
    return _call(keepdims="True" if keepdims else None, name=name)


@arguments("upsample")
def _upsample(network: Network, item: Item, name: str) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, Upsample)
    return _call(expr(layer.scale), interpolation=literal(layer.mode), name=name)


@arguments("dense")
def _dense(network: Network, item: Item, name: str) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, Dense)
    act, _ = fused(layer.activation)
    return _call(expr(layer.units), activation=act, use_bias=_kw(layer.bias, True), name=name)


@arguments("batchnorm")
def _batchnorm(network: Network, item: Item, name: str) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, BatchNorm)
    m = layer.momentum
    momentum = f"1 - {m}" if isinstance(m, ParamRef) else repr(round(1 - m, 12))
    return _call(axis="-1", momentum=momentum, epsilon=expr(layer.epsilon), name=name)


@arguments("layernorm")
def _layernorm(network: Network, item: Item, name: str) -> dict[str, Any]:
    return _call(axis="-1", epsilon=expr(item.layer.epsilon), name=name)  # type: ignore[attr-defined]


@arguments("groupnorm")
def _groupnorm(network: Network, item: Item, name: str) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, GroupNorm)
    return _call(expr(layer.groups), axis="-1", epsilon=expr(layer.epsilon), name=name)


@arguments("scale")
def _scale(network: Network, item: Item, name: str) -> dict[str, Any]:
    return _call(expr(item.layer.init), name=name)  # type: ignore[attr-defined]


@arguments("dropout", "drop_path")
def _rate(network: Network, item: Item, name: str) -> dict[str, Any]:
    return _call(expr(item.layer.rate), name=name)  # type: ignore[attr-defined]


@arguments("gaussian_noise")
def _gaussian_noise(network: Network, item: Item, name: str) -> dict[str, Any]:
    return _call(expr(item.layer.stddev), name=name)  # type: ignore[attr-defined]


@arguments("leaky_relu")
def _leaky_relu(network: Network, item: Item, name: str) -> dict[str, Any]:
    return _call(negative_slope=expr(item.layer.alpha), name=name)  # type: ignore[attr-defined]


@arguments("elu")
def _elu(network: Network, item: Item, name: str) -> dict[str, Any]:
    return _call(alpha=expr(item.layer.alpha), name=name)  # type: ignore[attr-defined]


@arguments("softmax")
def _softmax(network: Network, item: Item, name: str) -> dict[str, Any]:
    return _call(axis="-1", name=name)


@arguments("gelu")
def _gelu(network: Network, item: Item, name: str) -> dict[str, Any]:
    return _call(approximate=str(item.layer.approximate == "tanh"), name=name)  # type: ignore[attr-defined]


@arguments("sigmoid", "tanh", "log_softmax", "relu6", "silu", "hardswish", "hardsigmoid")
def _activation(network: Network, item: Item, name: str) -> dict[str, Any]:
    return _call(literal(KERAS_ACTIVATIONS[item.kind]), name=name)


@arguments("concat")
def _concat(network: Network, item: Item, name: str) -> dict[str, Any]:
    """The spec's axis of a sample, in Keras's layout: an image's channels are last."""
    shapes = network.shapes
    rank = item.uniform("input rank", lambda n: len(shapes[n.inputs[0]]))
    axis = item.layer.axis  # type: ignore[attr-defined]
    keras_axis = axis + 1 if rank == 2 else (-1 if rank == 1 or axis == 0 else axis)
    return _call(axis=str(keras_axis), name=name)


EMBEDDING_INIT = "keras.initializers.RandomNormal(stddev=0.02)"
"""Embeddings start from N(0, 0.02^2) in both backends (torch's default is N(0, 1))."""


def token_embedding(network: Network, node: Node) -> bool:
    """Whether an embedding needs the generated TokenEmbedding: a padding row, or a dense
    layer tied to it."""
    if node.layer.type != "embedding":  # type: ignore[attr-defined]
        return False
    tied = any(n.shares == node.name and n.layer.type == "dense" for n in network.nodes)  # type: ignore[attr-defined]
    return tied or node.layer.padding_index is not None  # type: ignore[attr-defined]


@arguments("embedding")
def _embedding(network: Network, item: Item, name: str) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, Embedding)
    pad = layer.padding_index
    view = _call(
        expr(layer.vocab),
        expr(layer.dim),
        embeddings_initializer=EMBEDDING_INIT,
        padding_index=None if pad is None else expr(pad),
        name=name,
    )
    helper = any(token_embedding(network, n) for n in item.nodes)
    return {**view, "cls": "TokenEmbedding" if helper else "layers.Embedding"}


@arguments("position_embedding")
def _position_embedding(network: Network, item: Item, name: str) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, PositionEmbedding)
    shapes = network.shapes
    length = layer.max_length
    if length is None:
        length = item.uniform("sequence length", lambda n: shapes[n.inputs[0]][0])
    return _call(expr(length), name=name)


@arguments("to_sequence")
def _to_sequence(network: Network, item: Item, name: str) -> dict[str, Any]:
    shapes = network.shapes
    shape = item.uniform("output shape", lambda n: shapes[n.name])
    return _call(literal(shape), name=name)


@arguments("select")
def _select(network: Network, item: Item, name: str) -> dict[str, Any]:
    return _call(expr(item.layer.index), name=name)  # type: ignore[attr-defined]


@arguments("conv1d")
def _conv1d(network: Network, item: Item, name: str) -> dict[str, Any]:
    """Keras's 'same' pads as netspec's; other integer padding is a ZeroPadding1D before it."""
    layer = item.layer
    assert isinstance(layer, Conv1d)
    _refuse(
        item,
        lambda c: c.stride != 1 and c.dilation != 1,
        "convolutions do not take a stride above 1 together with a dilation above 1",
    )
    act, _ = fused(layer.activation)
    return _call(
        expr(layer.filters),
        expr(layer.kernel),
        strides=_kw(layer.stride, 1),
        padding=literal("same") if keras_same(layer) or item.paddings == {"same"} else None,
        dilation_rate=_kw(layer.dilation, 1),
        use_bias=_kw(layer.bias, True),
        activation=act,
        name=name,
    )


@arguments("maxpool1d", "avgpool1d")
def _pool1d(network: Network, item: Item, name: str) -> dict[str, Any]:
    return _call(expr(item.layer.size), strides=_kw(item.layer.stride, None), name=name)  # type: ignore[attr-defined]


@arguments("multihead_attention")
def _multihead_attention(network: Network, item: Item, name: str) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, MultiheadAttention)
    shapes = network.shapes
    width = item.uniform("feature count", lambda n: shapes[n.inputs[0]][-1])
    heads = layer.heads
    if any(_misplaced_biases(n, shapes) for n in item.nodes):
        raise EmitError(
            f"layer {item.name!r} (line {item.line}): Keras (3.15, on TensorFlow) adds the "
            "biases of one-feature heads along the steps when there are as many steps as "
            "heads; use fewer heads (F / heads > 1) or bias: false"
        )
    return _call(
        expr(heads),
        f"{width} // {heads}" if isinstance(heads, ParamRef) else str(width // heads),
        dropout=_kw(layer.dropout, 0.0),
        use_bias=_kw(layer.bias, True),
        name=name,
    )


@arguments("lstm", "gru")
def _recurrent(network: Network, item: Item, name: str) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, (Lstm, Gru))
    return _call(
        literal(layer.type),
        expr(layer.units),
        stack=_kw(layer.layers, 1),
        bidirectional=_kw(layer.bidirectional, False),
        last="True" if layer.returns == "last" else None,
        name=name,
    )


def _misplaced_biases(node: Node, shapes: dict[str, tuple[int, ...]]) -> bool:
    """Keras's `ops.add` turns a bias that squeezes to one axis into `tf.nn.bias_add`, which
    guesses the axis by size: an attention's (heads, 1) projection biases land on the steps
    of a query or context with as many steps as heads."""
    heads, ins = node.layer.heads, [shapes[i] for i in node.inputs]  # type: ignore[attr-defined]
    one_feature = heads > 1 and ins[0][1] == heads
    return bool(node.layer.bias) and one_feature and any(s[0] == heads for s in ins)  # type: ignore[attr-defined]


Call = Callable[[Item, list[str]], str]
CALLS: dict[str, Call] = {}
"""How a kind's layer is applied to its inputs, where not as `layer(x)` or `layer([a, b])`."""


@registrar(CALLS)("multihead_attention")
def _attend(item: Item, inputs: list[str]) -> str:
    """Keras's attention takes query and value (the context) apart, and causality per call."""
    causal = ", use_causal_mask=True" if item.layer.causal else ""  # type: ignore[attr-defined]
    return f"{inputs[0]}, {inputs[-1]}{causal}"


def _kw(value: Any, default: Any) -> str | None:
    return None if value == default else expr(value)
