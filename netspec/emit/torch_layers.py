"""What each layer kind's PyTorch module takes: one registered function per kind (`ARGUMENTS`),
so a new kind is one entry here and one template under templates/torch/layers/. Python decides
every argument; the template only lays out the constructor.

Also the per-body state the functions read (`Context`) and torch's explicit padding for the
asymmetric 'same' padding that `nn.Conv2d` cannot express.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from netspec.emit.base import Body, Item, Namespace, expr, literal, registrar
from netspec.ir import (
    AvgPool1d,
    AvgPool2d,
    BatchNorm,
    BlockCall,
    Conv1d,
    Conv2d,
    ConvTranspose2d,
    Dense,
    Embedding,
    GroupNorm,
    Gru,
    LayerNorm,
    Lstm,
    MaxPool1d,
    MaxPool2d,
    MultiheadAttention,
    PositionEmbedding,
    Scale,
    Upsample,
)
from netspec.network import Network
from netspec.passes import INPUT


class Context:
    """Per-body state while emitting: channel expressions and the classes of blocks."""

    def __init__(
        self, network: Network, classes: dict[str, str], block_out: dict[str, str]
    ) -> None:
        self.network = network
        self.classes = classes
        self.block_out = block_out
        self.channels: dict[str, str] = {}
        self.needs_out: set[str] = set()
        """Blocks whose class must keep `out_channels` (shared by every body)."""
        self.attrs = Namespace()
        """Attribute names of the body's class (its submodules, then the parameters kept)."""
        self.kept: dict[str, str] = {}
        """Block parameters that `forward` reads (a fused activation's `alpha: $slope`), each
        with the attribute `__init__` keeps it in: parameters are constructor arguments."""
        self.in_place: set[str] = set()
        """Activation items that may overwrite their input (see `in_place`)."""


FRESH = {
    "conv2d",
    "conv_transpose2d",
    "dense",
    "batchnorm",
    "layernorm",
    "groupnorm",
    "scale",
    "add",
    "multiply",
    "concat",
    "upsample",
}
"""Kinds whose output is a new tensor that their backward pass does not read: an activation
right after one may overwrite it (as torchvision's `ReLU(inplace=True)` does), saving a copy."""
IN_PLACE = {"relu", "relu6", "leaky_relu", "elu", "silu", "hardswish", "hardsigmoid"}
"""Activation modules that take `inplace=True`."""


def in_place(body: Body) -> set[str]:
    """The activation items of `body` that may overwrite their input: an activation (not
    repeated, not sharing) whose input is the output of a `FRESH` layer with no fused
    activation, that nothing else reads (no other layer, nor the body's output). Never the
    network's input: it is the caller's."""
    readers: Counter[str] = Counter()
    source: dict[str, str] = {}
    previous = INPUT
    for item in body.items:
        refs = item.layer.inputs or [previous]
        readers.update(refs)
        source[item.name] = refs[0]
        previous = item.name
    readers[previous] += 1  # the body's output
    readers.update(body.output_vars)  # the network's several outputs
    fresh = {  # a fused activation's output is what its backward reads
        item.name
        for item in body.items
        if item.kind in FRESH and getattr(item.layer, "activation", None) is None
    }
    return {
        item.name
        for item in body.items
        if item.kind in IN_PLACE
        and not item.repeated
        and item.shares is None
        and source[item.name] in fresh
        and readers[source[item.name]] == 1
    }


Arguments = Callable[[Item, "Context", list[str]], dict[str, Any]]
ARGUMENTS: dict[str, Arguments] = {}
"""What each kind's module template needs beyond nothing, by kind (a kind with no entry takes
no arguments): one function per kind, so a new kind is one entry here and one template."""


arguments = registrar(ARGUMENTS)


def module_args(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    """What an item's module template needs (Python decides; the template lays out)."""
    fn = ARGUMENTS.get(item.kind)
    return {"args": ""} if fn is None else fn(item, ctx, ins)


def _joined(*parts: str | None) -> dict[str, Any]:
    return {"args": ", ".join(p for p in parts if p)}


@arguments("conv2d")
def _conv2d(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, Conv2d)
    return _joined(
        ins[0],
        layer.channels(ins, 3),
        f"kernel_size={expr(layer.kernel)}",
        _kw("stride", layer.stride, (1, 1)),
        _conv_padding(item, ctx, layer),
        _kw("dilation", layer.dilation, (1, 1)),
        f"groups={ins[0]}" if layer.depthwise else _kw("groups", layer.groups, 1),
        _kw("bias", layer.bias, True),
    )


@arguments("conv_transpose2d")
def _conv_transpose2d(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, ConvTranspose2d)
    return _joined(
        ins[0],
        expr(layer.filters),
        f"kernel_size={expr(layer.kernel)}",
        _kw("stride", layer.stride, (1, 1)),
        _kw("padding", layer.padding, (0, 0)),
        _kw("output_padding", layer.output_padding, (0, 0)),
        _kw("dilation", layer.dilation, (1, 1)),
        _kw("bias", layer.bias, True),
    )


@arguments("maxpool2d", "avgpool2d")
def _pool2d(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, (MaxPool2d, AvgPool2d))
    return _joined(
        expr(layer.size),
        _kw("stride", layer.stride, None),
        _kw("padding", layer.padding, (0, 0)),
        _kw("ceil_mode", layer.ceil(), False),
    )


@arguments("global_avgpool2d", "global_maxpool2d")
def _global_pool2d(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    return {"args": "1", "flatten": not item.layer.keepdims}  # type: ignore[attr-defined]


@arguments("upsample")
def _upsample(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, Upsample)
    scale = layer.scale[0] if layer.scale[0] == layer.scale[1] else layer.scale
    bilinear = layer.mode == "bilinear"
    return _joined(
        f"scale_factor={expr(scale)}",
        f"mode={literal(layer.mode)}",
        "align_corners=False" if bilinear else None,
    )


@arguments("dense")
def _dense(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, Dense)
    return _joined(ins[0], expr(layer.units), _kw("bias", layer.bias, True))


@arguments("batchnorm")
def _batchnorm(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, BatchNorm)
    args = f"{ins[0]}, eps={expr(layer.epsilon)}, momentum={expr(layer.momentum)}"
    return {"args": args, "dims": "1d" if _rank(item, ctx) == 1 else "2d"}


@arguments("layernorm")
def _layernorm(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, LayerNorm)
    cls = "LayerNorm2d" if _rank(item, ctx) == 3 else "nn.LayerNorm"
    return {"args": f"{ins[0]}, eps={expr(layer.epsilon)}", "cls": cls}


@arguments("groupnorm")
def _groupnorm(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, GroupNorm)
    return _joined(expr(layer.groups), ins[0], f"eps={expr(layer.epsilon)}")


@arguments("scale")
def _scale(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, Scale)
    shape = f"({ins[0]}, 1, 1)" if _rank(item, ctx) == 3 else f"({ins[0]},)"
    return _joined(shape, f"init={expr(layer.init)}")


@arguments("dropout", "drop_path")
def _rate(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    return {"args": expr(item.layer.rate)}  # type: ignore[attr-defined]


@arguments("gaussian_noise")
def _gaussian_noise(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    return {"args": expr(item.layer.stddev)}  # type: ignore[attr-defined]


@arguments("leaky_relu", "elu")
def _alpha(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    inplace = "inplace=True" if item.name in ctx.in_place else None
    return _joined(expr(item.layer.alpha), inplace)  # type: ignore[attr-defined]


@arguments("relu", "relu6", "silu", "hardswish", "hardsigmoid")
def _activation(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    return _joined("inplace=True" if item.name in ctx.in_place else None)


@arguments("softmax", "log_softmax")
def _over_features(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    return {"args": f"dim={feature_dim(item, ctx)}"}


def feature_dim(item: Item, ctx: Context) -> str:
    """The axis of a batch that holds the features of an item's output: 1 for (N, F) and
    (N, C, H, W), the last for (N, T, F) sequences."""
    shapes = ctx.network.shapes
    rank = item.uniform("output rank", lambda n: len(shapes[n.name]))
    return "-1" if rank == 2 else "1"


@arguments("embedding")
def _embedding(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, Embedding)
    pad = _kw("padding_idx", layer.padding_index, None)
    return _joined(expr(layer.vocab), expr(layer.dim), pad)


@arguments("position_embedding")
def _position_embedding(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, PositionEmbedding)
    shapes = ctx.network.shapes
    length = layer.max_length
    if length is None:
        length = item.uniform("sequence length", lambda n: shapes[n.inputs[0]][0])
    return _joined(expr(length), ins[0])


@arguments("class_token")
def _class_token(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    return {"args": ins[0]}


@arguments("select")
def _select(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    return {"args": expr(item.layer.index)}  # type: ignore[attr-defined]


@arguments("conv1d")
def _conv1d(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, Conv1d)
    if all(isinstance(p, int) for p in item.paddings):  # numbers: Conv1d's own (a $param too)
        padding = _kw("padding", layer.padding, 0)
    elif runtime_same(item, ctx):  # padded in forward as each input's length needs
        padding = 'pad="same"'
    else:  # 'same' or 'valid' (maybe a block's argument): the steps every use needs alike
        before, after = item.pads(ctx.network.shapes)
        both = before == after
        padding = _kw("padding", before, 0) if both else f"pad={literal((before, after))}"
    return _joined(
        ins[0],
        expr(layer.filters),
        f"kernel_size={expr(layer.kernel)}",
        _kw("stride", layer.stride, 1),
        padding,
        _kw("dilation", layer.dilation, 1),
        _kw("bias", layer.bias, True),
    )


@arguments("maxpool1d", "avgpool1d")
def _pool1d(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, (MaxPool1d, AvgPool1d))
    return _joined(expr(layer.size), _kw("stride", layer.stride, None))


@arguments("multihead_attention")
def _multihead_attention(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, MultiheadAttention)
    return _joined(
        ins[0],
        expr(layer.heads),
        _kw("dropout", layer.dropout, 0.0),
        _kw("bias", layer.bias, True),
        _kw("causal", layer.causal, False),
    )


@arguments("lstm", "gru")
def _recurrent(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, (Lstm, Gru))
    return _joined(
        ins[0],
        expr(layer.units),
        _kw("num_layers", layer.layers, 1),
        _kw("bidirectional", layer.bidirectional, False),
        "last=True" if layer.returns == "last" else None,
    )


@arguments("gelu")
def _gelu(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    return _joined(_kw("approximate", item.layer.approximate, "none"))  # type: ignore[attr-defined]


@arguments("concat")
def _concat(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    return {"args": str(item.layer.axis + 1)}  # type: ignore[attr-defined]


@arguments("block")
def _block(item: Item, ctx: Context, ins: list[str]) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, BlockCall)
    args = ", ".join([ins[0]] + [f"{k}={expr(v)}" for k, v in layer.args.items()])
    return {"args": args, "class": ctx.classes[layer.block]}


def _rank(item: Item, ctx: Context) -> int:
    shapes = ctx.network.shapes
    return item.uniform("input rank", lambda n: len(shapes[n.inputs[0]]))  # type: ignore[no-any-return]


def _kw(name: str, value: Any, default: Any) -> str | None:
    return None if value == default else f"{name}={expr(value)}"


def _conv_padding(item: Item, ctx: Context, layer: Conv2d) -> str | None:
    if layer.padding == "valid":
        return None
    if layer.padding != "same":
        return _kw("padding", layer.padding, (0, 0))
    if runtime_same(item, ctx) or asymmetric_pad(item, ctx) is not None:
        return None  # padded explicitly in forward
    (top, _), (left, _) = item.pads(ctx.network.shapes, "'same' padding")
    return _kw("padding", (top, left), (0, 0))


def runtime_same(item: Item, ctx: Context) -> bool:
    """A 'same' convolution whose padding differs between its uses (a block used at several
    input sizes, or the copies of a repeat): `same_padding` pads each input in `forward` as
    its size needs, since the module's own padding is fixed."""
    if not isinstance(item.layer, (Conv2d, Conv1d)) or item.paddings != {"same"}:
        return False  # (a conv1d's 'same' may be a block's argument)
    shapes = ctx.network.shapes
    return len({n.layer.pads(shapes[n.inputs[0]]) for n in item.nodes}) > 1  # type: ignore[attr-defined]


def asymmetric_pad(item: Item, ctx: Context) -> tuple[int, int, int, int] | None:
    """torch pads both sides alike; netspec's 'same' pads the end more when the total is odd
    (None also where `runtime_same` pads)."""
    layer = item.layer
    if not isinstance(layer, Conv2d) or layer.padding != "same" or runtime_same(item, ctx):
        return None
    (top, bottom), (left, right) = item.pads(ctx.network.shapes, "'same' padding")
    return None if (top == bottom and left == right) else (left, right, top, bottom)
