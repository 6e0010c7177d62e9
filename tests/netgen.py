"""Random valid networks for the property tests (Hypothesis), with what netspec should make of
them, computed here independently of netspec: every node's name and shape, the parameters,
buffers and MACs (the formulas of docs/spec.md), and which nodes share weights.

`networks()` draws one network (`Net`); `draw_networks(n, seed)` draws a fixed sample of `n`
for the tests that compare the frameworks. The generator covers the whole language: every
standalone layer kind, every fused activation, blocks with `$params` (required and defaulted,
nested, used again with other arguments), `repeat` on layers and block uses, `share:` (conv
with numeric padding, pools, batchnorm, dense with each activation, block uses where netspec
allows it), non-default fields (pairs, dilation, groups, padding modes, a max-pool's ceil_mode,
BatchNorm momentum and epsilon, no bias), 2- and 3-input merges on every concat axis, and a
`train:` section whose
loss fits the output (netspec.objective's rules). The layers of modern vision networks too:
depthwise convolutions (multiplier 1 and 2), transposed convolutions (padding, output padding,
a kernel below the stride), upsampling (nearest, bilinear, non-square scales), LayerNorm (of
images and of vectors), GroupNorm, layer scale, `multiply` (equal shapes, a squeeze-and-
excitation gate of a keepdims pool, and a (C,) gate of a dense layer) and `drop_path` on a
residual branch before its add, in blocks and repeats as the other kinds are. And sequences,
per-sample (T, F) tensors: token-id inputs (int64 below a vocab) through an embedding (with and
without a padding_index), float (T, F) inputs, and images turned into sequences by to_sequence
(after a patch conv, ViT's stem); on them conv1d (each padding mode, strides, dilations), 1-D
pools, class tokens and position embeddings (default and longer max_length), self-attention
(causal or not) and cross-attention to another sequence, LSTMs and GRUs (stacked,
bidirectional, returning the sequence or the last state), the kinds that act on each step
(dense, layernorm, scale, activations, dropout), merges of sequences on either axis and a
per-step gate, transformer-style residuals; and the readouts back to vectors (select with a
negative index, global 1-D pools, a recurrent layer's last state, flatten), in blocks and
repeats too; and a dense layer tied to the embedding (`share:`), a language model's output.
Per-step losses: cross_entropy (with an `ignore_index` in its focus, on vectors now and then;
otherwise now and then with `label_smoothing`; a classifier of one image now and then mixes its
batches, `data: {mixup, cutmix}`)
and nll (after a log_softmax, fused or a layer) on a (T, K) output, class scores at each step
(a dense layer on each step, or one tied to the embedding: a language model's logits).
And several named inputs and outputs (`inputs:`, `outputs:`, `train.output`): 2 or 3 inputs of
mixed kinds (images, features, token ids, sequences; two alike whose first layers share
weights, a siamese encoder, added), each through a branch of its own, merged by concat, add or
multiply of vectors, or (two sequences) by cross-attention or a concat of steps; 2 outputs,
the loss's and a layer in mid-network or a second head, the loss on either (`train.output`
written where it is not the first, and at times where it is). Now and then another network
names its one input (`inputs:`), gets a second input merged into the tail, or lists a
mid-network layer as a second output (`Net.outputs`, `Net.output_nodes`, `Net.trained`).
Each network is drawn around one *focus* (`FOCI`); `draw_networks` cycles through them, so a
sample of `len(FOCI)` or more networks has each at least once (tests/test_properties.py counts
what a sample covers). The CI sample is 50 networks, so there are at most 50 foci: the sequence
foci (`tokens`, `sequence`, `patches`) force several features each, as do `merge3` (a 3-input
add and a 3-input concat), `per_step_cross_entropy` (token ids, a tied output, a causal
attention or a recurrent layer), `per_step_nll`, `several_io` and `several_sequences`; the
losses that other foci force (mse, cross_entropy, nll) have no focus of their own; and the
foci that need no image or vector draw a sequence or a token input now and then.

Networks are small (inputs at most 12x12, upsampled to at most `MAX_SIDE`, a few channels) so
that each runs in milliseconds. They avoid what a backend refuses at build time, except the
`keras_refusal` focus: a conv with a stride and a dilation above 1, which the Keras emitter
refuses (`Net.refused`). So no add, multiply or GroupNorm mixes or takes flat features that
Keras orders differently from torch (those from a flatten of an image; `Expect.orders`), and no
shared weights see features in two orders. Nor do they hold the other convolutions the Keras
build refuses, since TensorFlow's kernels cannot run them (tests/test_emit.py checks those
refusals): a depthwise conv with unequal strides, a dilated transposed conv; nor what Keras
computes wrongly by a bug of its own (`keras_mistakes`). Nor a layer of a block (or a repeated
one) whose uses differ in what the emitters write as one constant for all of them (`emitted`:
an attention's feature count, to_sequence's shape, a default position_embedding length,
conv1d's padding, a flatten's size), which netspec refuses at build time.
"""

from __future__ import annotations

import functools
import json
import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

import netspec
from netspec.ir import LAYER_KINDS, ActivationFn

Shape = tuple[int, ...]
INPUT = "input"

ACTIVATIONS = sorted(k for k, cls in LAYER_KINDS.items() if issubclass(cls, ActivationFn))
"""Every activation netspec has (each a layer kind and an `activation:`)."""
HAS_LOG_SOFTMAX = "log_softmax" in ACTIVATIONS
LOSSES = ["cross_entropy", "mse", "binary_cross_entropy"] + (
    ["nll", "kl_div"] if HAS_LOG_SOFTMAX else []
)
PER_STEP_LOSSES = ["cross_entropy"] + (["nll"] if HAS_LOG_SOFTMAX else [])
"""The losses that take a (T, K) output too: one distribution over K classes per step."""
KERAS_REFUSAL = "a stride above 1 together with a dilation above 1"
"""What the Keras emitter says when it refuses a conv (netspec/emit/keras.py)."""


def _validates(text: str) -> bool:
    try:
        netspec.load(text)
    except netspec.SpecError:
        return False
    return True


BLOCK_SHARE = _validates(
    """
netspec: 1
name: Probe
input: {shape: [4]}
blocks:
  b: {layers: [{type: dense, units: 4}]}
layers:
  - {type: block, name: one, block: b}
  - {type: block, name: two, block: b, share: one}
train: {loss: mse}
"""
)
"""Whether netspec accepts `share:` on a block use (the generator uses it when it does)."""

FOCI = (
    [
        "conv",
        "conv_groups",
        "pool",
        "standalone",
        "stochastic",
        "merge3",
        "concat_axes",
        "block_params",
        "block_nested",
        "block_reuse",
        "block_repeat",
        "repeat",
        "share_conv2d",
        "share_maxpool2d",
        "share_avgpool2d",
        "share_batchnorm",
        "flat_input",
        "flatten_output",
        "image_output",
        "keras_refusal",
        "depthwise",
        "conv_transpose",
        "upsample",
        "norms",
        "gates",
        "residual",
        "tokens",
        "sequence",
        "patches",
    ]
    + [f"share_dense_{a}" for a in [*ACTIVATIONS, "none"]]
    + [f"loss_{loss}" for loss in LOSSES if loss not in PER_STEP_LOSSES + ["mse"]]
    + [f"per_step_{loss}" for loss in PER_STEP_LOSSES]
    + ["several_io", "several_sequences", "bce_sigmoid"]
    + (["share_block"] if BLOCK_SHARE else [])
)
"""What a network is drawn around (each forces one feature; the rest is drawn at random)."""


# ----------------------------------------------------------------------------- the formulas


class Invalid(Exception):
    """A layer cannot take its input (the generator then tries something else)."""


def need(ok: bool) -> None:
    if not ok:
        raise Invalid


def pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def conv_out(size: int, kernel: int, stride: int, dilation: int, padding: str | int) -> int:
    """One spatial size after a conv; `padding` is `valid`, `same`, or zeros on each side."""
    if padding == "same":
        return -(-size // stride)
    pad = 0 if padding == "valid" else int(padding)
    span = dilation * (kernel - 1) + 1
    need(size + 2 * pad >= span)
    return (size + 2 * pad - span) // stride + 1


def pool_out(size: int, kernel: int, stride: int, padding: int, ceil: bool = False) -> int:
    """One spatial size after a pool; `ceil`: torch's ceil_mode (a last partial window
    counts, unless it would start past the input and its left padding)."""
    need(2 * padding <= kernel and size + 2 * padding >= kernel)
    if not ceil:
        return (size + 2 * padding - kernel) // stride + 1
    out = math.ceil((size + 2 * padding - kernel) / stride) + 1
    return out - 1 if (out - 1) * stride >= size + padding else out


MAX_SIDE = 32
"""The largest height or width the generator lets an upsample or a transposed conv make."""
MAX_STEPS = 40
"""The most steps the generator lets a sequence have (a recurrent layer runs step by step, and
Keras's in Python on each: a long sequence would cost seconds)."""


def features(shape: Shape) -> int:
    """The axis per-feature weights act on: an image's channels, a vector's features, the
    features of each step of a sequence."""
    return shape[1] if len(shape) == 2 else shape[0]


def conv1d_pads(layer: dict[str, Any], steps: int) -> tuple[int, int]:
    """(before, after) zeros of a conv1d: `same` keeps ceil(T / stride) steps, the end padded
    more when the total is odd (as TensorFlow's SAME)."""
    padding = layer.get("padding", "valid")
    if padding == "valid":
        return 0, 0
    if padding != "same":
        return padding, padding
    stride, span = layer.get("stride", 1), layer.get("dilation", 1) * (layer["kernel"] - 1) + 1
    total = max((-(-steps // stride) - 1) * stride + span - steps, 0)
    return total // 2, total - total // 2


def formula(layer: dict[str, Any], ins: list[Shape]) -> tuple[Shape, int, int, int]:
    """(output shape, trainable parameters, buffers, MACs) of one concrete layer."""
    kind, x = layer["type"], ins[0]
    if kind == "conv2d":
        need(len(x) == 3)
        c, h, w = x
        if layer.get("depthwise", False):  # one group per channel, `multiplier` filters each
            f, g = c * layer.get("multiplier", 1), c
        else:
            f, g = layer["filters"], layer.get("groups", 1)
        need(c % g == 0 and f % g == 0)
        padding = layer.get("padding", "valid")
        pads = [padding, padding] if isinstance(padding, str) else list(pair(padding))
        k, s, d = (
            pair(layer["kernel"]),
            pair(layer.get("stride", 1)),
            pair(layer.get("dilation", 1)),
        )
        out = (f, *(conv_out(n, k[i], s[i], d[i], pads[i]) for i, n in enumerate((h, w))))
        params = f * (c // g) * k[0] * k[1] + (f if layer.get("bias", True) else 0)
        return out, params, 0, math.prod(out) * (c // g) * k[0] * k[1]
    if kind == "conv_transpose2d":
        need(len(x) == 3)
        c, h, w = x
        f = layer["filters"]
        k, s = pair(layer["kernel"]), pair(layer.get("stride", 1))
        p, op = pair(layer.get("padding", 0)), pair(layer.get("output_padding", 0))
        d = pair(layer.get("dilation", 1))
        sides = []
        for i, n in enumerate((h, w)):
            need(op[i] < s[i])
            sides.append((n - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1)
        need(0 < min(sides) and max(sides) <= MAX_SIDE)
        params = c * f * k[0] * k[1] + (f if layer.get("bias", True) else 0)
        return (f, *sides), params, 0, c * h * w * f * k[0] * k[1]
    if kind == "upsample":
        need(len(x) == 3)
        s = pair(layer["scale"])
        out = (x[0], x[1] * s[0], x[2] * s[1])
        need(max(out[1:]) <= MAX_SIDE)
        return out, 0, 0, 0
    if kind in ("maxpool2d", "avgpool2d"):
        need(len(x) == 3)
        k = pair(layer["size"])
        s = pair(layer["stride"]) if "stride" in layer else k
        p = pair(layer.get("padding", 0))
        ceil = layer.get("ceil_mode", False)
        sides = (pool_out(n, k[i], s[i], p[i], ceil) for i, n in enumerate(x[1:]))
        return (x[0], *sides), 0, 0, 0
    if kind in ("global_avgpool2d", "global_maxpool2d"):
        need(len(x) == 3)
        return ((x[0], 1, 1) if layer.get("keepdims", False) else (x[0],)), 0, 0, 0
    if kind == "flatten":
        return (math.prod(x),), 0, 0, 0
    if kind == "dense":  # on (F,) features, or on each step of a (T, F) sequence
        need(len(x) in (1, 2))
        units = layer["units"]
        params = x[-1] * units + (units if layer.get("bias", True) else 0)
        return (*x[:-1], units), params, 0, math.prod(x) * units
    if kind == "batchnorm":
        need(len(x) in (1, 3))
        return x, 2 * x[0], 2 * x[0], 0
    if kind in ("layernorm", "groupnorm", "scale"):  # a weight (and a shift) per channel
        need(len(x) in ((1, 3) if kind == "groupnorm" else (1, 2, 3)))
        need(kind != "groupnorm" or x[0] % layer["groups"] == 0)
        return x, (1 if kind == "scale" else 2) * features(x), 0, 0
    sequence = _sequence_formula(layer, ins)
    if sequence is not None:
        return sequence
    if kind == "add":
        need(len(ins) >= 2 and all(s == x for s in ins))
        return x, 0, 0, 0
    if kind == "multiply":  # broadcast: a (C,) input against images is a (C, 1, 1) one
        need(len(ins) >= 2)
        rank = max(len(s) for s in ins)
        shapes = [(*s, 1, 1) if len(s) == 1 and rank == 3 else s for s in ins]
        need(all(len(s) == rank for s in shapes))
        out = []
        for sizes in zip(*shapes):
            need(len({n for n in sizes if n != 1}) <= 1)
            out.append(max(sizes))
        return tuple(out), 0, 0, 0
    if kind == "concat":
        axis = layer.get("axis", 0)
        need(len(ins) >= 2 and axis < len(x))
        for s in ins:
            need(
                len(s) == len(x) and all(a == b for i, (a, b) in enumerate(zip(s, x)) if i != axis)
            )
        out = tuple(sum(s[axis] for s in ins) if i == axis else d for i, d in enumerate(x))
        return out, 0, 0, 0
    assert kind in ACTIVATIONS or kind in ("dropout", "gaussian_noise", "drop_path"), kind
    return x, 0, 0, 0


def _sequence_formula(
    layer: dict[str, Any], ins: list[Shape]
) -> tuple[Shape, int, int, int] | None:
    """`formula` of the kinds that make, take or read sequences (None: another kind)."""
    kind, x = layer["type"], ins[0]
    if kind == "embedding":  # token ids (T,) -> (T, dim): a row of a (vocab, dim) table each
        need(len(x) == 1)
        return (x[0], layer["dim"]), layer["vocab"] * layer["dim"], 0, 0
    if kind == "to_sequence":  # (C, H, W) -> (H * W, C), positions row by row
        need(len(x) == 3)
        return (x[1] * x[2], x[0]), 0, 0, 0
    if kind not in SEQUENCE_INPUT:
        return None
    need(len(x) == 2)
    steps, width = x
    if kind == "position_embedding":  # a learned (max_length, F) table, its first T rows added
        length = layer.get("max_length", steps)
        need(length >= steps)
        return x, length * width, 0, 0
    if kind == "class_token":  # one learned step prepended
        return (steps + 1, width), width, 0, 0
    if kind == "select":
        need(-steps <= layer["index"] < steps)
        return (width,), 0, 0, 0
    if kind in ("global_avgpool1d", "global_maxpool1d"):
        return (width,), 0, 0, 0
    if kind in ("maxpool1d", "avgpool1d"):
        size = layer["size"]
        return (pool_out(steps, size, layer.get("stride", size), 0), width), 0, 0, 0
    if kind == "conv1d":
        f, k = layer["filters"], layer["kernel"]
        s, d = layer.get("stride", 1), layer.get("dilation", 1)
        out = (conv_out(steps, k, s, d, layer.get("padding", "valid")), f)
        params = f * width * k + (f if layer.get("bias", True) else 0)
        return out, params, 0, out[0] * f * width * k
    if kind == "multihead_attention":  # [query] or [query, context]: the context's S steps
        need(len(ins) <= 2 and width % layer["heads"] == 0)
        if len(ins) == 2:
            need(not layer.get("causal", False) and len(ins[1]) == 2 and ins[1][1] == width)
        context = ins[-1][0]
        params = 4 * width * width + (4 * width if layer.get("bias", True) else 0)
        macs = 2 * steps * width * width + 2 * context * width * width
        return x, params, 0, macs + 2 * steps * context * width
    assert kind in ("lstm", "gru"), kind
    gates, units = (4 if kind == "lstm" else 3), layer["units"]
    directions = 2 if layer.get("bidirectional", False) else 1
    widths = [width] + [units * directions] * (layer.get("layers", 1) - 1)  # each stacked one's
    params = directions * sum(gates * units * (w + units + 2) for w in widths)  # torch: 2 biases
    macs = steps * directions * sum(gates * units * (w + units) for w in widths)
    last = layer.get("returns", "sequence") == "last"
    return ((units * directions,) if last else (steps, units * directions)), params, 0, macs


SEQUENCE_INPUT = {
    "position_embedding", "class_token", "select", "global_avgpool1d", "global_maxpool1d",
    "maxpool1d", "avgpool1d", "conv1d", "multihead_attention", "lstm", "gru",
}  # fmt: skip
"""The kinds that take (T, F) sequences only."""
SEQUENCE_KINDS = sorted(SEQUENCE_INPUT | {"embedding", "to_sequence"})
"""The kinds of sequence networks: those that make, take or read sequences."""


def keras_mistakes(layer: dict[str, Any], ins: list[Shape]) -> bool:
    """Whether Keras (3.15, on TensorFlow) computes the layer wrongly, by a bug of its own: its
    `ops.add` takes a bias that squeezes to one axis for `tf.nn.bias_add`'s, guessing the axis
    by size, so an attention with one feature per head gets its (heads, 1) projection biases
    added along the steps of a query or context that has as many steps as heads."""
    if layer["type"] != "multihead_attention" or not layer.get("bias", True):
        return False
    heads = layer["heads"]
    return heads > 1 and ins[0][1] == heads and any(shape[0] == heads for shape in ins)


def emitted(layer: dict[str, Any], ins: list[Shape], out: Shape) -> dict[str, Any]:
    """What the emitters write as one constant for a written layer, which every use of its block
    and copy of its repeat must agree on (netspec.emit refuses a spec where they differ): the
    feature count of an attention (Keras's key_dim), the shape to_sequence reshapes to (Keras),
    the length of a position_embedding without max_length, conv1d's numeric zero padding
    (torch), a flatten's size (torch, for the layer after it)."""
    kind = layer["type"]
    if kind == "multihead_attention":
        return {"features": ins[0][-1]}
    if kind == "to_sequence":
        return {"shape": out}
    if kind == "position_embedding" and "max_length" not in layer:
        return {"length": ins[0][0]}
    if kind == "conv1d" and layer.get("padding") != "same":  # ('same': as each length needs)
        return {"pads": conv1d_pads(layer, ins[0][0])}
    if kind == "flatten":
        return {"size": out}
    return {}


# ----------------------------------------------------------------------------- expansion


@dataclass
class Expect:
    """What netspec should derive: nodes in order with shapes, counts, sharing."""

    entries: dict[str, Shape]
    """Shapes of the names that are not nodes: the network input (or a block probe's input)."""
    shapes: dict[str, Shape] = field(default_factory=dict)
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each node's concrete layer (block parameters substituted)."""
    inputs: dict[str, list[Shape]] = field(default_factory=dict)
    shares: dict[str, str] = field(default_factory=dict)
    uses: dict[str, str] = field(default_factory=dict)
    """Each block use (and repeat copy of one) -> its block."""
    orders: dict[str, Any] = field(default_factory=dict)
    """How Keras orders each node's features against torch (absent or None: alike): flat
    features from a flatten of an image are in (H, W, C) order in Keras (`feature_order`)."""
    input_orders: dict[str, Any] = field(default_factory=dict)
    """The order of each node's (first) input's features."""
    vocab: dict[str, int] = field(default_factory=dict)
    """The entries that hold token ids, with their vocab (only an embedding takes them)."""
    emitted: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    """(block, local name, what) -> the value of `emitted` that every use of the written layer
    must share (block "" for the network's own layers)."""
    params: int = 0
    buffers: int = 0
    macs: int = 0

    def shape(self, name: str) -> Shape:
        return self.shapes[name] if name in self.shapes else self.entries[name]

    def copy(self) -> Expect:
        return replace(
            self,
            entries=dict(self.entries),
            shapes=dict(self.shapes),
            layers=dict(self.layers),
            inputs=dict(self.inputs),
            shares=dict(self.shares),
            uses=dict(self.uses),
            orders=dict(self.orders),
            input_orders=dict(self.input_orders),
            vocab=dict(self.vocab),
            emitted=dict(self.emitted),
        )


@dataclass
class Scope:
    """One layer list being expanded: its name prefix and its outputs by local name."""

    prefix: str
    outputs: dict[str, str]
    previous: str
    unnamed: dict[str, int] = field(default_factory=dict)
    block: str = ""
    """The block whose layers these are ("" for the network's)."""

    def copy(self) -> Scope:
        return replace(self, outputs=dict(self.outputs), unnamed=dict(self.unnamed))


def bind(value: Any, args: dict[str, Any]) -> Any:
    """`value` with every `$param` replaced by its argument."""
    if isinstance(value, str) and value.startswith("$"):
        need(value[1:] in args and args[value[1:]] is not None)
        return args[value[1:]]
    if isinstance(value, dict):
        return {k: bind(v, args) for k, v in value.items()}
    if isinstance(value, list):
        return [bind(v, args) for v in value]
    return value


def expand_layer(
    expect: Expect,
    scope: Scope,
    layer: dict[str, Any],
    args: dict[str, Any],
    blocks: dict[str, dict[str, Any]],
    sharing: tuple[str, str] | None = None,
) -> str:
    """Expand one written layer into `expect`; returns its local name. Layers without a name
    are `<type>_<n>` (the generator's own names never look like that). `sharing` is (prefix
    of a block use that shares another's weights, prefix of that other use)."""
    layer = bind(layer, args)
    kind = layer["type"]
    if "name" in layer:
        name = layer["name"]
    else:
        scope.unnamed[kind] = scope.unnamed.get(kind, 0) + 1
        name = f"{kind}_{scope.unnamed[kind]}"
    ins = [scope.outputs[r] for r in layer["inputs"]] if "inputs" in layer else [scope.previous]
    full = scope.prefix + name
    if kind == "block":
        need(len(ins) == 1)
        if "share" in layer:
            owner = scope.prefix + layer["share"]
            need(owner in expect.uses and "repeat" not in layer)
            if sharing is None:  # (inside a sharing use, the outer owner's weights win)
                sharing = (full + ".", owner + ".")
        out = expand_call(expect, layer, full, ins[0], blocks, sharing)
    elif "repeat" in layer:
        need("share" not in layer)
        for i in range(layer["repeat"]):
            name_i = f"{full}.{i}"
            _node(expect, name_i, layer, ins, _owner(expect, name_i, sharing), (scope.block, name))
            ins = [name_i]
        out = ins[0]
    else:
        owner = scope.prefix + layer["share"] if "share" in layer else None
        if sharing is not None:
            owner = _owner(expect, full, sharing)
        _node(expect, full, layer, ins, owner, (scope.block, name))
        out = full
    scope.outputs[name] = scope.previous = out
    return name


def _owner(expect: Expect, name: str, sharing: tuple[str, str] | None) -> str | None:
    """In a block use that shares another use: the node holding the weights of node `name`
    (the other use's node of the same local name, or what that one shares)."""
    if sharing is None:
        return None
    mine, theirs = sharing
    owner = theirs + name[len(mine) :]
    return expect.shares.get(owner, owner)


def feature_order(expect: Expect, layer: dict[str, Any], ins: list[str], out: Shape) -> Any:
    """How Keras orders the features of a node against torch, as a comparable value (None:
    alike): only flat features from a flatten of an image (of more than one channel and more
    than one position) differ, and what passes them on (elementwise layers, concat)."""
    kind, first = layer["type"], expect.shape(ins[0])
    orders = [expect.orders.get(i) for i in ins]
    if kind == "flatten" and len(first) == 3:
        return first if first[0] > 1 and first[1] * first[2] > 1 else None
    if kind == "dense" or len(first) == 3 or len(out) != 1:
        return None
    if kind == "concat":
        sizes = [expect.shape(i)[0] for i in ins]
        return None if all(o is None for o in orders) else tuple(zip(orders, sizes))
    return orders[0]


def _node(
    expect: Expect,
    name: str,
    layer: dict[str, Any],
    ins: list[str],
    owner: str | None,
    written: tuple[str, str],
) -> None:
    """Add node `name`, of the layer `written` (its block and local name), to `expect`."""
    shapes = [expect.shape(i) for i in ins]
    # token ids go to an embedding (one at least as large as their vocab), and nowhere else
    vocabs = [expect.vocab.get(i) for i in ins]
    if layer["type"] == "embedding":
        need(vocabs[0] is not None and layer["vocab"] >= vocabs[0])
    else:
        need(all(v is None for v in vocabs))
    out, params, buffers, macs = formula(layer, shapes)
    need(len(out) != 2 or out[0] <= MAX_STEPS)
    need(not keras_mistakes(layer, shapes))
    for what, value in emitted(layer, shapes, out).items():
        need(expect.emitted.setdefault((*written, what), value) == value)
    # what the Keras emitter refuses: features that Keras orders differently from torch added
    # or multiplied with others, or grouped; shared weights seeing features in two orders
    orders = [expect.orders.get(i) for i in ins]
    if layer["type"] in ("add", "multiply"):
        need(all(o == orders[0] for o in orders))
    if layer["type"] == "groupnorm":
        need(orders[0] is None)
    if owner is not None:
        need(owner in expect.layers and owner not in expect.shares)
        theirs = expect.layers[owner]
        if (layer["type"], theirs["type"]) == ("dense", "embedding"):  # weight tying
            need(not layer.get("bias", True) and "repeat" not in layer)
            need(layer["units"] == theirs["vocab"] and shapes[0][-1] == theirs["dim"])
        else:
            need(expect.inputs[owner] == shapes)
        need(orders[0] == expect.input_orders[owner])
        params = buffers = 0
        expect.shares[name] = owner
    expect.shapes[name] = out
    expect.layers[name] = layer
    expect.inputs[name] = shapes
    expect.orders[name] = feature_order(expect, layer, ins, out)
    expect.input_orders[name] = orders[0]
    expect.params += params
    expect.buffers += buffers
    expect.macs += macs


def expand_call(
    expect: Expect,
    call: dict[str, Any],
    full: str,
    entry: str,
    blocks: dict[str, dict[str, Any]],
    sharing: tuple[str, str] | None,
) -> str:
    block = blocks[call["block"]]
    args = {**block.get("params", {}), **call.get("args", {})}
    need(all(v is not None for v in args.values()))
    copies = call.get("repeat")
    out = entry
    for i in range(copies or 1):
        use = full if copies is None else f"{full}.{i}"
        expect.uses[use] = call["block"]
        scope = Scope(use + ".", {INPUT: out}, out, block=call["block"])
        for layer in block["layers"]:
            expand_layer(expect, scope, layer, args, blocks, sharing)
        out = scope.previous
    return out


# ----------------------------------------------------------------------------- the network


@dataclass
class BlockDraft:
    """A block being written: its parameters, with the values of its first use."""

    name: str
    rank: int
    """The rank of its input (0: token ids), which every use has."""
    depth: int
    values: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    vary: dict[str, list[Any] | None] = field(default_factory=dict)
    """Values other uses may pass instead (None: every use passes the first use's value)."""
    first_args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Net:
    """A drawn network: the spec, and what netspec should make of it."""

    input_shape: Shape
    layers: list[dict[str, Any]]
    blocks: dict[str, dict[str, Any]]
    train: dict[str, Any]
    expect: Expect
    focus: str
    vocab: int | None = None
    """The (first) input is token ids below it (None: float features)."""
    inputs: dict[str, dict[str, Any]] | None = None
    """The spec's `inputs:` by name, as written (None: one `input:`, of `input_shape`)."""
    outputs: list[str] | None = None
    """The spec's `outputs:` (None: not written, the last layer is the output)."""
    output_nodes: list[str] = field(default_factory=list)
    """The nodes the model returns, in order (`outputs:`' layers, or the last layer's)."""
    trained: str = ""
    """The node the loss applies to (`train.output`'s, or the first output's)."""

    @property
    def refused(self) -> str | None:
        """Why the Keras emitter refuses the network (None: both backends build it)."""
        for layer in self.expect.layers.values():
            if layer["type"] in ("conv2d", "conv_transpose2d", "conv1d"):
                s, d = pair(layer.get("stride", 1)), pair(layer.get("dilation", 1))
                if max(s) > 1 and max(d) > 1:
                    return KERAS_REFUSAL
        return None

    @property
    def input_entries(self) -> dict[str, tuple[Shape, int | None]]:
        """Every input by the name netspec gives it (`input` for `input:`): (shape, vocab)."""
        if self.inputs is None:
            return {INPUT: (self.input_shape, self.vocab)}
        return {n: (tuple(e["shape"]), e.get("vocab")) for n, e in self.inputs.items()}

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"netspec": 1, "name": "Random"}
        if self.inputs is not None:
            spec["inputs"] = self.inputs
        else:
            entry: dict[str, Any] = {"shape": list(self.input_shape)}
            if self.vocab is not None:
                entry |= {"dtype": "int64", "vocab": self.vocab}
            spec["input"] = entry
        if self.blocks:
            spec["blocks"] = self.blocks
        spec["layers"] = self.layers
        if self.outputs is not None:
            spec["outputs"] = self.outputs
        spec["train"] = self.train
        return spec

    def text(self) -> str:
        """The spec as YAML, one layer a line (each a JSON flow mapping, which YAML reads), to
        print with a failure: save it as spec.yaml and `netspec build` it to reproduce."""
        spec = self.spec()
        lines = ["netspec: 1", "name: Random"]
        if "inputs" in spec:
            lines.append("inputs:")
            lines += [f"  {name}: {json.dumps(entry)}" for name, entry in spec["inputs"].items()]
        else:
            lines.append(f"input: {json.dumps(spec['input'])}")
        if self.blocks:
            lines.append("blocks:")
            for name, block in self.blocks.items():
                lines.append(f"  {name}:")
                for key, value in block.items():
                    if key == "layers":
                        lines.append("    layers:")
                        lines += [f"      - {json.dumps(layer)}" for layer in value]
                    else:
                        lines.append(f"    {key}: {json.dumps(value)}")
        lines.append("layers:")
        lines += [f"  - {json.dumps(layer)}" for layer in self.layers]
        if self.outputs is not None:
            lines.append(f"outputs: {json.dumps(self.outputs)}")
        lines.append(f"train: {json.dumps(self.train)}")
        return "\n".join(lines) + "\n"

    @property
    def shapes(self) -> dict[str, Shape]:
        return self.expect.shapes

    @property
    def params(self) -> int:
        return self.expect.params

    @property
    def buffers(self) -> int:
        return self.expect.buffers

    @property
    def macs(self) -> int:
        return self.expect.macs

    @property
    def loss(self) -> str:
        return self.train["loss"]

    @property
    def deterministic(self) -> bool:
        """Whether the network computes a deterministic function while training (every dropout,
        drop_path and attention dropout rate and noise stddev is 0), so that training mode can
        be compared too."""
        return all(
            layer.get("rate", 0) == 0
            and layer.get("stddev", 0) == 0
            and (layer["type"] != "multihead_attention" or layer.get("dropout", 0) == 0)
            for layer in self.expect.layers.values()
        )


class Gen:
    """The state of one draw: Hypothesis' `draw`, the focus, the blocks written so far."""

    def __init__(self, draw: st.DrawFn, focus: str) -> None:
        self.draw = draw
        self.focus = focus
        self.blocks: dict[str, dict[str, Any]] = {}
        self.drafts: dict[str, BlockDraft] = {}
        self.block_count = 0
        self.param_percent = 90 if focus in ("block_params", "block_nested", "block_reuse") else 40
        """The chance that a field of a block's layer is a `$param`."""
        self.embedding: str | None = None
        """The network's own embedding (not one in a block), which a dense layer may tie."""

    def int(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def pick(self, options: list[Any]) -> Any:
        return self.draw(st.sampled_from(options))

    def flip(self, percent: int) -> bool:
        return self.draw(st.integers(0, 99)) < percent

    def wants(self, focus: str, percent: int) -> bool:
        """True when `focus` is this draw's focus, else with the given chance."""
        return self.focus == focus or self.flip(percent)


class Builder:
    """A layer list under construction (the network's or a block's), expanded as it grows so
    that the generator knows every shape."""

    def __init__(
        self,
        gen: Gen,
        shape: Shape,
        draft: BlockDraft | None = None,
        vocab: int | None = None,
        name: str | None = None,
    ) -> None:
        """A layer list on one input of `shape` (token ids below `vocab`): the block `draft`'s,
        or the network's, whose input is `input:`, or `inputs:` when it is `name`d (then more
        inputs may come: `add_input`)."""
        self.gen = gen
        self.draft = draft
        self.layers: list[dict[str, Any]] = []
        entry = name or (INPUT if draft is None else f"{draft.name}_probe_input")
        prefix = "" if draft is None else f"{draft.name}_probe."
        self.expect = Expect({entry: shape}, vocab={} if vocab is None else {entry: vocab})
        self.scope = Scope(prefix, {name or INPUT: entry}, entry)
        self.tail = name or INPUT
        self.count = 0
        self.inputs: dict[str, dict[str, Any]] | None = None
        """The network's `inputs:` (None: `input:`), as written."""
        self.start: str | None = None
        """What the next layer must name in `inputs:` if it names nothing (the spec has no
        previous layer there: the network's first layer with `inputs:`, a branch's first)."""
        if name is not None:
            self.inputs = {}
            self.add_input(name, shape, vocab)
            self.start = name

    def add_input(self, name: str, shape: Shape, vocab: int | None = None) -> None:
        """A named input of the network (`inputs:`), which some layer must take."""
        assert self.inputs is not None and self.draft is None
        entry: dict[str, Any] = {"shape": list(shape)}
        if vocab is not None:
            entry |= {"dtype": "int64", "vocab": vocab}
        self.inputs = {**self.inputs, name: entry}  # (copies: a snapshot keeps its own)
        self.expect, self.scope = self.expect.copy(), self.scope.copy()
        self.expect.entries[name] = shape
        if vocab is not None:
            self.expect.vocab[name] = vocab
        self.scope.outputs[name] = name

    def branch(self, ref: str) -> None:
        """Go on from `ref` (an input, or an earlier layer): the next layer names it."""
        self.tail = ref
        self.scope.previous = self.scope.outputs[ref]
        self.start = ref

    @property
    def args(self) -> dict[str, Any]:
        return {} if self.draft is None else self.draft.values

    @property
    def depth(self) -> int:
        return 0 if self.draft is None else self.draft.depth

    def shape(self, ref: str | None = None) -> Shape:
        return self.expect.shape(self.scope.outputs[ref or self.tail])

    def rank(self, ref: str | None = None) -> int:
        """The rank of the tail's (or `ref`'s) shape; 0 for token ids."""
        full = self.scope.outputs[ref or self.tail]
        return 0 if full in self.expect.vocab else len(self.expect.shape(full))

    @property
    def vocab(self) -> int | None:
        """The tail's vocab where it is token ids."""
        return self.expect.vocab.get(self.scope.outputs[self.tail])

    def fresh(self) -> str:
        self.count += 1
        return f"n{self.count}"

    def add(self, layer: dict[str, Any]) -> str:
        """Append `layer` (raises Invalid, leaving the list as it was, if it cannot be)."""
        if self.start is not None and "inputs" not in layer:
            layer = {**layer, "inputs": [self.start]}
        expect, scope = self.expect.copy(), self.scope.copy()
        name = expand_layer(expect, scope, layer, self.args, self.gen.blocks)
        self.expect, self.scope = expect, scope
        self.layers.append(layer)
        self.tail = name
        self.start = None
        return name

    def snapshot(self) -> tuple[Any, ...]:
        return (list(self.layers), self.expect, self.scope, self.tail, self.start, self.inputs)

    def restore(self, saved: tuple[Any, ...]) -> None:
        """Back to `saved` (names drawn since stay drawn: a name is never given twice); `saved`
        stays as it is, to go back to again."""
        layers, self.expect, self.scope, self.tail, self.start, self.inputs = saved
        self.layers = list(layers)

    def try_add(self, *layers: dict[str, Any]) -> str | None:
        """Append the first of `layers` that fits; None if none does."""
        for layer in layers:
            try:
                return self.add(layer)
            except Invalid:
                continue
        return None

    def param(
        self, value: Any, hint: str, vary: list[Any] | None = None, force: bool = False
    ) -> Any:
        """In a block, sometimes (`force`: always) a `$param` standing for `value` (its first
        use's value); `vary`: values that later uses may pass instead."""
        if self.draft is None or not (force or self.gen.flip(self.gen.param_percent)):
            return value
        draft = self.draft
        name = f"{hint}{len(draft.values)}"
        draft.values[name] = value
        draft.vary[name] = vary
        required = self.gen.flip(50)
        draft.defaults[name] = None if required else value
        if required or self.gen.flip(30):
            draft.first_args[name] = value
        return f"${name}"


def written_pair(gen: Gen, a: int, b: int) -> Any:
    """A pair as a spec author may write it: `3` when both are equal, or `[3, 5]`."""
    return a if a == b and gen.flip(60) else [a, b]


def pair_field(gen: Gen, b: Builder, values: list[int], hint: str) -> Any:
    """A pair field (kernel, stride, ...) as written; in a block maybe `$p` for both or for
    each element (the same value in every use: these change shapes and paddings)."""
    if b.draft is None or gen.flip(50):
        return written_pair(gen, *values)
    if values[0] == values[1] and gen.flip(50):
        return b.param(values[0], hint)
    return [b.param(v, hint) for v in values]


ALPHAS = [0.05, 0.3, 2.0]


def activation(gen: Gen, b: Builder, kinds: list[str] | None = None) -> Any:
    """An activation (fused `activation:`), written as a bare type or a mapping."""
    kind = gen.pick(kinds or ACTIVATIONS)
    if kind == "leaky_relu" and gen.flip(75):
        return {"type": kind, "alpha": b.param(gen.pick([0.2, 0.5, 0.0]), "slope", ALPHAS)}
    if kind == "elu" and gen.flip(75):
        return {"type": kind, "alpha": b.param(gen.pick([0.5, 1.5]), "slope", ALPHAS)}
    if kind == "gelu" and gen.flip(50):
        return {"type": kind, "approximate": gen.pick(["none", "tanh"])}
    return kind if gen.flip(60) else {"type": kind}


def make_conv(
    gen: Gen,
    b: Builder,
    shape: Shape,
    *,
    filters: int | None = None,
    keep: bool = False,
    numeric: bool = False,
    act: bool = True,
    grouped: int = 4,
    depthwise: int = 8,
    multiplier: int | None = None,
    refuse: bool = False,
) -> dict[str, Any]:
    """A conv2d that fits `shape`; `keep` keeps height and width (stride 1, 'same' or the
    matching numeric padding); `numeric` pads by numbers; `grouped`: the chance (percent)
    of groups above 1 where the channels allow; `depthwise`: the chance (percent) of a
    depthwise conv (where `filters` allows: its multiplier, or `multiplier`); `refuse`: a
    stride and a dilation above 1 (which the Keras emitter refuses)."""
    c, h, w = shape
    mult = None  # a depthwise conv's multiplier (None: not depthwise)
    if not refuse and gen.flip(depthwise):
        if multiplier is not None:
            mult = multiplier
        elif filters is None:
            mult = gen.pick([1, 1, 2])
        elif filters in (c, 2 * c):
            mult = filters // c
    # Keras compiles a grouped conv with XLA on the CPU (seconds each): few, but every run
    groups = gen.pick([g for g in (2, 3) if c % g == 0] or [1]) if gen.flip(grouped) else 1
    if mult is not None:
        groups = 1  # (a depthwise conv is one group per channel, not written)
    if filters is None:
        filters = groups * gen.int(1, 3)
    elif filters % groups:
        groups = 1
    k = [gen.int(1, 3), gen.int(1, 3)]
    d = [1, 1] if keep else [gen.pick([1, 1, 2]), gen.pick([1, 1, 2])]
    s = [1, 1] if keep else [gen.pick([1, 1, 2]), gen.pick([1, 1, 2])]
    if mult is not None:  # Keras refuses unequal depthwise strides
        s = [s[0], s[0]]
    if refuse:
        s, d = [2, gen.pick([1, 2])], [gen.pick([1, 2]), 2]
    elif max(s) > 1 and max(d) > 1:
        d = [1, 1]
    modes = ["number", "pair"] if numeric else ["valid", "same", "number", "pair"]
    mode = gen.pick(modes)  # ('same' at a stride in a block: padded as each use's size needs)
    if keep:
        k = [gen.pick([1, 3]), gen.pick([1, 3])]
        d = [gen.pick([1, 2]), 1]
        pads = [d[0] * (k[0] - 1) // 2, d[1] * (k[1] - 1) // 2]
        mode = "same" if not numeric and gen.flip(50) else "pair"
    else:
        pads = [gen.int(0, 2), gen.int(0, 2)]
        if mode == "number":
            pads[1] = pads[0]
        if mode in ("valid", "same"):
            pads = [0, 0]
        for i, n in enumerate((h, w)):
            if mode != "same" and n + 2 * pads[i] < d[i] * (k[i] - 1) + 1:
                k[i] = 1  # (a dilation of a 1-wide kernel changes nothing, but is written)
    layer: dict[str, Any] = {"type": "conv2d"}
    if mult is not None:
        layer["depthwise"] = True
        if mult != 1 or gen.flip(30):
            layer["multiplier"] = b.param(mult, "mult", [1, 2])
    else:
        layer["filters"] = b.param(filters, "width", [1, 2, 3, 4] if groups == 1 else None)
    layer["kernel"] = pair_field(gen, b, k, "kern")
    if s != [1, 1] or gen.flip(10):
        layer["stride"] = pair_field(gen, b, s, "step")
    if d != [1, 1] or gen.flip(10):
        layer["dilation"] = pair_field(gen, b, d, "dil")
    if mode == "same":
        layer["padding"] = "same"
    elif mode == "valid":
        if gen.flip(50):
            layer["padding"] = "valid"
    elif mode == "number" or pads[0] == pads[1] and gen.flip(50):
        layer["padding"] = b.param(pads[0], "pad")
    else:
        layer["padding"] = pads
    if groups != 1:
        layer["groups"] = groups
    if gen.flip(30):
        layer["bias"] = b.param(False, "use_bias", [True, False])
    if act and gen.flip(60):
        layer["activation"] = activation(gen, b)
    return layer


def make_pool(gen: Gen, b: Builder, shape: Shape, kind: str | None = None) -> dict[str, Any]:
    """A max or average pool that fits `shape` (the `pool` focus: every field a pair)."""
    _, h, w = shape
    size = [gen.int(1, 3), gen.int(1, 3)]
    pads = [gen.int(0, size[0] // 2), gen.int(0, size[1] // 2)]
    for i, n in enumerate((h, w)):
        if n + 2 * pads[i] < size[i]:
            size[i], pads[i] = 1, 0
    layer: dict[str, Any] = {
        "type": kind or gen.pick(["maxpool2d", "avgpool2d"]),
        "size": pair_field(gen, b, size, "size"),
    }
    if gen.focus == "pool":
        layer["stride"] = [gen.int(1, 2), 3]
    elif gen.flip(50):
        layer["stride"] = pair_field(gen, b, [gen.int(1, 3), gen.int(1, 3)], "step")
    if pads != [0, 0] or gen.flip(10):
        layer["padding"] = pair_field(gen, b, pads, "pad")
    if layer["type"] == "maxpool2d" and gen.flip(30):
        layer["ceil_mode"] = b.param(True, "ceil")  # (changes shapes: one value)
    return layer


def make_conv_transpose(gen: Gen, b: Builder, shape: Shape, full: bool = False) -> dict[str, Any]:
    """A conv_transpose2d that fits `shape`, at most `MAX_SIDE` wide; `full`: a stride above 1
    on both axes, a kernel below the stride, padding and output padding, each on some axis
    where the input allows. Never dilated (Keras refuses it)."""
    _, h, w = shape
    k = [gen.int(1, 3), gen.int(1, 3)]
    s = gen.pick([[2, 3], [3, 2], [2, 2]]) if full else [gen.pick([1, 2, 2, 3]) for _ in (0, 1)]
    sides = (h, w)
    for i, n in enumerate(sides):
        while s[i] > 1 and (n - 1) * s[i] + k[i] + s[i] - 1 > MAX_SIDE:
            s[i] -= 1
    if full and max(s) > 1:  # a kernel below the stride
        i = gen.pick([i for i in (0, 1) if s[i] > 1])
        k[i] = gen.int(1, s[i] - 1)
    op = [gen.int(1, s[i] - 1) if s[i] > 1 and gen.flip(100 if full else 40) else 0 for i in (0, 1)]
    pads = [gen.pick([0, 1, 1]) if full or gen.flip(40) else 0 for _ in (0, 1)]
    for i, n in enumerate(sides):
        while pads[i] and (n - 1) * s[i] - 2 * pads[i] + k[i] + op[i] <= 0:
            pads[i] -= 1
    if full and pads == [0, 0]:
        i = 0 if h >= w else 1
        if (sides[i] - 1) * s[i] - 2 + k[i] + op[i] > 0:
            pads[i] = 1
    layer: dict[str, Any] = {
        "type": "conv_transpose2d",
        "filters": b.param(gen.int(1, 3), "width", [1, 2, 3, 4]),
        "kernel": pair_field(gen, b, k, "kern"),
    }
    if s != [1, 1] or gen.flip(10):
        layer["stride"] = pair_field(gen, b, s, "step")
    if pads != [0, 0] or gen.flip(10):
        layer["padding"] = pair_field(gen, b, pads, "pad")
    if op != [0, 0] or gen.flip(10):
        layer["output_padding"] = pair_field(gen, b, op, "outpad")
    if gen.flip(5):
        layer["dilation"] = pair_field(gen, b, [1, 1], "dil")
    if gen.flip(30):
        layer["bias"] = b.param(False, "use_bias", [True, False])
    if gen.flip(50):
        layer["activation"] = activation(gen, b)
    return layer


def make_upsample(gen: Gen, b: Builder, shape: Shape, mode: str | None = None) -> dict[str, Any]:
    """An upsample that fits `shape` (at most `MAX_SIDE` wide), often with a non-square scale."""
    _, h, w = shape
    scale = [gen.int(1, 2), gen.int(1, 3)]
    if gen.flip(50):
        scale.reverse()
    if scale == [1, 1]:
        scale[gen.int(0, 1)] = 2
    for i, n in enumerate((h, w)):
        while scale[i] > 1 and n * scale[i] > MAX_SIDE:
            scale[i] -= 1
    mode = mode or gen.pick(["nearest", "bilinear"])
    layer: dict[str, Any] = {"type": "upsample", "scale": pair_field(gen, b, scale, "zoom")}
    if mode != "nearest" or gen.flip(30):
        layer["mode"] = mode
    return layer


STANDALONE = [
    *ACTIVATIONS,
    "dropout",
    "gaussian_noise",
    "batchnorm",
    "layernorm",
    "groupnorm",
    "scale",
    "drop_path",
]
SEQUENCE_STANDALONE = [k for k in STANDALONE if k not in ("batchnorm", "groupnorm")]
"""The shape-keeping kinds that act on each step of a sequence (BatchNorm and GroupNorm take
vectors and images only)."""


def make_elementwise(gen: Gen, b: Builder, kind: str | None = None) -> dict[str, Any]:
    """A layer that keeps its input's shape (an activation, dropout, drop_path, noise, a
    normalisation, a scale); a GroupNorm's groups divide the channels of the tail. Of a
    sequence, one of the kinds that take sequences (not BatchNorm or GroupNorm)."""
    kind = kind or gen.pick(SEQUENCE_STANDALONE if b.rank() == 2 else STANDALONE)
    layer: dict[str, Any] = {"type": kind}
    if kind in ("dropout", "drop_path"):
        layer["rate"] = b.param(gen.pick([0.0, 0.0, 0.5]), "drop", [0.0, 0.2])
    elif kind == "gaussian_noise":
        layer["stddev"] = b.param(gen.pick([0.0, 0.0, 0.3]), "noise", [0.0])
    elif kind == "batchnorm":
        if gen.flip(50):
            layer["momentum"] = b.param(gen.pick([0.01, 0.5]), "mom", [0.3, 0.05])
        if gen.flip(50):
            layer["epsilon"] = b.param(gen.pick([1e-3, 0.1]), "eps", [1e-4, 1e-2])
    elif kind in ("layernorm", "groupnorm"):
        if kind == "groupnorm":
            c = b.shape()[0]  # groups of several channels where the channels allow
            divisors = [g for g in range(1, c + 1) if c % g == 0]
            groups = gen.pick(divisors[1:-1] or divisors)
            layer["groups"] = b.param(groups, "grp", [1, 2])
        if gen.flip(40):
            layer["epsilon"] = b.param(gen.pick([1e-6, 1e-3]), "eps", [1e-4, 1e-2])
    elif kind == "scale":
        if gen.flip(70):
            layer["init"] = b.param(gen.pick([1e-6, 0.5, -2.0]), "init", [1.0, 0.1])
    elif kind == "gelu" and gen.wants("standalone", 50):
        layer["approximate"] = "tanh" if gen.focus == "standalone" else gen.pick(["none", "tanh"])
    elif kind in ("leaky_relu", "elu") and gen.flip(70):
        layer["alpha"] = b.param(
            gen.pick([0.0, 0.2] if kind == "leaky_relu" else [0.5, 2.0]), "slope", ALPHAS
        )
    if kind in ("dropout", "gaussian_noise", "batchnorm", "drop_path") or gen.flip(30):
        layer["name"] = b.fresh()
    return layer


def make_dense(
    gen: Gen, b: Builder, *, units: int | None = None, act: Any = "draw"
) -> dict[str, Any]:
    units = units or gen.int(1, 6)
    layer: dict[str, Any] = {"type": "dense", "units": b.param(units, "units", [1, 2, 3, 4, 5, 6])}
    if gen.flip(25):
        layer["bias"] = b.param(False, "use_bias", [True, False])
    if act == "draw":
        act = activation(gen, b) if gen.flip(60) else None
    if act is not None:
        layer["activation"] = act
    return layer


def named(b: Builder, layer: dict[str, Any], *inputs: str) -> dict[str, Any]:
    layer = {
        "type": layer["type"],
        "name": b.fresh(),
        **{k: v for k, v in layer.items() if k != "type"},
    }
    if inputs:
        layer["inputs"] = list(inputs)
    return layer


# ----------------------------------------------------------------------------- steps


def step_conv(gen: Gen, b: Builder) -> None:
    b.try_add(named(b, make_conv(gen, b, b.shape())))


def step_pool(gen: Gen, b: Builder, kind: str | None = None) -> None:
    layer = make_pool(gen, b, b.shape(), kind)
    b.try_add(named(b, layer) if gen.flip(70) else layer)


def step_elementwise(gen: Gen, b: Builder, kind: str | None = None) -> None:
    b.try_add(make_elementwise(gen, b, kind))


def step_dense(gen: Gen, b: Builder) -> None:
    b.try_add(named(b, make_dense(gen, b)))


def all_or_nothing(step: Callable[..., None]) -> Callable[..., None]:
    """A step of several layers: if one does not fit, none is added (an unused branch would
    make the spec invalid)."""

    def run(gen: Gen, b: Builder, *args: Any, **kwargs: Any) -> None:
        saved = b.snapshot()
        try:
            step(gen, b, *args, **kwargs)
        except Invalid:
            b.restore(saved)

    return run


@all_or_nothing
def step_merge(
    gen: Gen,
    b: Builder,
    kind: str | None = None,
    count: int | None = None,
    axis: int | None = None,
) -> None:
    """Branches from the current tail, merged by add, concat or multiply with the tail itself;
    a concat along `axis` (drawn if None). Sequences concatenate steps (axis 0: the branches
    keep the features, not always the steps) or features (axis 1: they keep the steps)."""
    trunk, shape = b.tail, b.shape()
    kind = kind or gen.pick(["add", "concat", "add", "concat", "multiply"])
    count = count or gen.pick([2, 2, 3])
    image, sequence = len(shape) == 3, len(shape) == 2
    if axis is None:
        axis = gen.pick([0, 1, 2]) if kind == "concat" and image else 0
        if kind == "concat" and sequence:
            axis = gen.pick([0, 1])
    if image and axis and shape[axis] * count > 40:
        axis = 0
    branches = []
    for _ in range(count - 1):
        if gen.flip(40):
            layer = named(b, make_elementwise(gen, b, gen.pick(ACTIVATIONS)), trunk)
        elif sequence and kind == "concat":
            keep = "features" if axis == 0 else "steps"
            layer = named(b, make_sequence_layer(gen, b, shape, keep), trunk)
        elif sequence:
            layer = named(b, make_sequence_layer(gen, b, shape, "shape"), trunk)
        elif image:
            filters = None if kind == "concat" and axis == 0 else shape[0]
            layer = named(b, make_conv(gen, b, shape, filters=filters, keep=True), trunk)
        else:
            units = None if kind == "concat" else shape[0]
            layer = named(b, make_dense(gen, b, units=units), trunk)
        branches.append(b.add(layer))
    merged: dict[str, Any] = {"type": kind, "inputs": gen.draw(st.permutations([trunk, *branches]))}
    if axis or kind == "concat" and gen.flip(20):
        merged["axis"] = axis
    b.add(named(b, merged) if gen.flip(50) else merged)


def step_resample(gen: Gen, b: Builder) -> None:
    """An image made larger: a transposed conv or an upsample."""
    shape = b.shape()
    if gen.flip(50):
        b.try_add(named(b, make_conv_transpose(gen, b, shape)))
    else:
        layer = make_upsample(gen, b, shape)
        b.try_add(named(b, layer) if gen.flip(70) else layer)


@all_or_nothing
def step_gate(gen: Gen, b: Builder, kind: str | None = None, first: bool = False) -> None:
    """The tail's channels scaled by a gate computed from it (squeeze-and-excitation): a
    keepdims global pool, 1x1 convs and a sigmoid, a (C, 1, 1) gate (`se`); or a global pool
    and a dense layer, a (C,) gate (`vector`); multiplied with the tail. A sequence's steps by
    a (T, 1) gate of a dense layer, first in the multiply's inputs if `first`."""
    trunk, shape = b.tail, b.shape()
    if len(shape) == 2:  # a sequence's steps each scaled by a (T, 1) gate, broadcast
        gate = {"type": "dense", "name": b.fresh(), "units": 1, "inputs": [trunk]}
        b.add({**gate, "activation": gen.pick(["sigmoid", "hardsigmoid"])})
        inputs = [b.tail, trunk] if first else gen.draw(st.permutations([trunk, b.tail]))
        b.add(named(b, {"type": "multiply", "inputs": inputs}))
        return
    need(len(shape) == 3)
    c = shape[0]
    kind = kind or gen.pick(["se", "vector"])
    pool = gen.pick(["global_avgpool2d", "global_maxpool2d"])
    gate_act = gen.pick(["sigmoid", "sigmoid", "hardsigmoid"])
    if kind == "se":
        b.add({"type": pool, "name": b.fresh(), "keepdims": True, "inputs": [trunk]})
        if gen.flip(60):  # the squeeze: fewer channels
            act = gen.pick(["relu", "silu", None])
            squeeze: dict[str, Any] = {"type": "conv2d", "name": b.fresh()}
            squeeze["filters"] = b.param(max(1, c // 2), "width", [1, 2])
            squeeze["kernel"] = 1
            if act is not None:
                squeeze["activation"] = act
            b.add(squeeze)
        gate: dict[str, Any] = {"type": "conv2d", "name": b.fresh(), "filters": c, "kernel": 1}
    else:
        b.add({"type": pool, "name": b.fresh(), "inputs": [trunk]})
        gate = {"type": "dense", "name": b.fresh(), "units": c}
    if gen.flip(70):
        gate["activation"] = gate_act
        b.add(gate)
    else:
        b.add(gate)
        b.add({"type": gate_act})
    b.add(named(b, {"type": "multiply", "inputs": gen.draw(st.permutations([trunk, b.tail]))}))


@all_or_nothing
def step_residual(
    gen: Gen,
    b: Builder,
    rate: float | None = None,
    branch: str | None = None,
    scale: bool | None = None,
) -> None:
    """A residual branch as ConvNeXt's and EfficientNet's: a conv (maybe depthwise) or a dense
    layer keeping the shape, maybe a normalisation, a layer scale, a drop_path, and the add
    with the tail (`rate`: the drop_path's, drawn if None). Of a sequence, a transformer's: a
    LayerNorm first (pre-norm) or after, then self-attention, an MLP (dense layers, the
    first wider), a conv1d or a recurrent layer (`branch`: which, drawn if None). `scale`: a
    layer scale or not (drawn if None)."""
    trunk, shape = b.tail, b.shape()
    if len(shape) == 2:
        pre = gen.flip(60)
        if pre:
            b.add(named(b, make_elementwise(gen, b, "layernorm"), trunk))
        source = b.tail if pre else trunk
        branch = branch or gen.pick(["attention", "mlp", "conv1d", "recurrent"])
        if branch == "mlp":
            hidden = make_dense(
                gen, b, units=2 * shape[1], act=activation(gen, b, ["gelu", "relu"])
            )
            b.add(named(b, hidden, source))
            b.add(named(b, make_dense(gen, b, units=shape[1], act=None)))
        else:
            b.add(named(b, make_sequence_layer(gen, b, shape, "shape", branch), source))
        if not pre and gen.flip(40):
            b.add(make_elementwise(gen, b, "layernorm"))
    elif len(shape) == 3:
        layer = make_conv(gen, b, shape, filters=shape[0], keep=True, depthwise=40)
        b.add(named(b, layer, trunk))
    else:
        b.add(named(b, make_dense(gen, b, units=shape[0]), trunk))
    if len(shape) != 2 and gen.flip(40):
        b.add(make_elementwise(gen, b, gen.pick(["layernorm", "groupnorm", "batchnorm"])))
    if scale or scale is None and gen.wants("residual", 70):
        b.add(make_elementwise(gen, b, "scale"))
    if rate is None:
        rate = gen.pick([0.0, 0.0, 0.2])
    b.add({"type": "drop_path", "name": b.fresh(), "rate": b.param(rate, "drop", [0.0, 0.2])})
    b.add(named(b, {"type": "add", "inputs": gen.draw(st.permutations([trunk, b.tail]))}))


def step_repeat(gen: Gen, b: Builder) -> None:
    """A repeated layer (in a block, maybe `repeat: $param`)."""
    times = b.param(gen.pick([1, 2, 3]), "times", [1, 2])
    shape = b.shape()
    if len(shape) == 3 and gen.flip(60):
        layer = named(b, make_conv(gen, b, shape, keep=True))
    elif len(shape) == 1 and gen.flip(50):
        layer = named(b, make_dense(gen, b, units=shape[0]))
    elif len(shape) == 2 and gen.flip(60):
        layer = named(b, make_sequence_layer(gen, b, shape, "shape"))
    else:
        layer = named(b, make_elementwise(gen, b))
    layer["repeat"] = times
    b.try_add(layer)


@all_or_nothing
def step_share(gen: Gen, b: Builder, kind: str | None = None, act: Any = "draw") -> None:
    """A layer, and the same layer (`share:`) applied to another tensor of the same shape,
    merged: `owner(x)`, `twin(side(x))`, `add/concat(owner, twin)`."""
    trunk, shape = b.tail, b.shape()
    image = len(shape) == 3
    kinds = ["conv2d", "maxpool2d", "avgpool2d", "batchnorm"] if image else ["dense", "batchnorm"]
    if len(shape) == 2:
        kinds = ["dense", "layernorm", "conv1d", "attention", "recurrent", "pool1d"]
    if BLOCK_SHARE:
        kinds.append("block")
    kind = kind or gen.pick(kinds)
    if kind == "block":
        call = block_call(gen, b, fresh=gen.flip(50))
        if call is None:
            raise Invalid
        layer = {k: v for k, v in call.items() if k != "repeat"}
    elif kind == "conv2d":
        layer = named(b, make_conv(gen, b, shape, numeric=gen.wants("share_conv2d", 70)))
    elif kind in ("maxpool2d", "avgpool2d"):
        layer = named(b, make_pool(gen, b, shape, kind))
    elif kind == "dense":
        fused = activation(gen, b, [act]) if act not in ("draw", None) else act
        layer = named(b, make_dense(gen, b, act=fused))
    elif kind in ("conv1d", "attention", "recurrent", "pool1d"):
        layer = named(b, make_sequence_layer(gen, b, shape, "any", kind))
    else:
        layer = named(
            b, make_elementwise(gen, b, "layernorm" if kind == "layernorm" else "batchnorm")
        )
    owner = b.add({**layer, "inputs": [trunk]})
    side = b.add(named(b, make_elementwise(gen, b, gen.pick(["tanh", "sigmoid", "relu"])), trunk))
    twin = b.add({**layer, "name": b.fresh(), "inputs": [side], "share": owner})
    merged = {
        "type": gen.pick(["add", "concat"]),
        "inputs": gen.draw(st.permutations([owner, twin])),
    }
    b.add(merged)


def block_call(
    gen: Gen, b: Builder, fresh: bool = False, again: str | None = None, source: str | None = None
) -> dict[str, Any] | None:
    """A use of a block (not added) taking the tail or `source`: a new block (`fresh`), the
    block `again`, or one written before, with arguments of its first use or others (the first
    that fits); None if none fits."""
    return next(iter(block_calls(gen, b, fresh, again, source)), None)


def block_calls(
    gen: Gen, b: Builder, fresh: bool = False, again: str | None = None, source: str | None = None
) -> list[dict[str, Any]]:
    """The uses `block_call` chooses from, each that fits, in order of preference."""
    rank = b.rank(source)
    old = [d for d in gen.drafts.values() if d.rank == rank and d.depth > b.depth]
    used = {layer["block"] for layer in b.layers if layer["type"] == "block"}
    used |= set(b.expect.uses.values())
    if again is not None:
        draft = gen.drafts[again]
    elif old and not fresh and (gen.focus == "block_reuse" or gen.flip(40)):
        draft = gen.pick(old)
    else:
        draft = define_block(gen, b) if b.depth < 2 else None
        if draft is None:
            return []
    first: dict[str, Any] = {"type": "block", "name": b.fresh(), "block": draft.name}
    if source is not None:
        first["inputs"] = [source]
    through = gen.focus == "block_nested" and b.draft is not None
    if through:  # pass every argument through from the enclosing block's parameters
        draft.first_args = dict(draft.values)
    if draft.first_args:
        first["args"] = {
            k: b.param(v, "arg", draft.vary[k], force=through) for k, v in draft.first_args.items()
        }
    candidates = [first]
    if draft.name in used:  # a block used before: other arguments, all of them or one
        varied = {}
        for key, vary in draft.vary.items():
            value = draft.values[key]
            choices = [v for v in vary or [] if (type(v), v) != (type(value), value)]
            if choices and gen.wants("block_reuse", 50):
                varied[key] = gen.pick(choices)
        others = [varied] + ([{k: v} for k, v in varied.items()] if len(varied) > 1 else [])
        candidates = [
            dict(first, args={**first.get("args", {}), **other}) for other in others if other
        ] + candidates
    if again is None and gen.wants("block_repeat", 25):
        times = b.param(gen.pick([1, 2]), "times", [1, 2])
        candidates = [dict(c, repeat=times) for c in candidates] + candidates
    fitting = []
    for call in candidates:
        try:
            expand_layer(b.expect.copy(), b.scope.copy(), call, b.args, gen.blocks)
        except Invalid:
            continue
        fitting.append(call)
    return fitting


def step_block(gen: Gen, b: Builder) -> None:
    """Use a block: a new one, or one written before (maybe with other arguments)."""
    call = block_call(gen, b)
    if call is not None:
        b.add(call)


@all_or_nothing
def step_block_twice(gen: Gen, b: Builder) -> None:
    """A new block used twice on the same input, the second time with other arguments where
    they fit (they change channels at most), the outputs concatenated."""
    trunk = b.tail
    call = block_call(gen, b, fresh=True, source=trunk)
    if call is None:
        raise Invalid
    one = b.add({k: v for k, v in call.items() if k != "repeat"})
    after_one = b.snapshot()
    for other in block_calls(gen, b, again=call["block"], source=trunk):
        try:
            two = b.add(other)
            concat: dict[str, Any] = {"type": "concat", "inputs": [one, two]}
            if b.rank(one) == 2:  # (the other arguments change the features, not the steps)
                concat["axis"] = 1
            b.add(concat)
            return
        except Invalid:  # other arguments that change more than the channels
            b.restore(after_one)
    raise Invalid


def define_block(gen: Gen, b: Builder) -> BlockDraft | None:
    def fill(body: Builder) -> None:
        for _ in range(gen.int(1, 3)):
            STEPS[gen.pick(BLOCK_STEPS[len(body.shape())])](gen, body)
        if gen.focus == "block_params":
            step_repeat(gen, body)
        if gen.focus in ("block_reuse", "block_nested"):  # a parameter any value fits
            slope = body.param(gen.pick(ALPHAS), "slope", ALPHAS, force=True)
            body.add({"type": "leaky_relu", "alpha": slope})
        if gen.focus == "block_nested" and b.depth == 0:
            step_block(gen, body)

    return written_block(gen, b, fill)


def written_block(gen: Gen, b: Builder, fill: Callable[[Builder], None]) -> BlockDraft | None:
    """A new block for the tail's shape, its layers written by `fill` (None: it wrote none)."""
    gen.block_count += 1
    draft = BlockDraft(f"blk{gen.block_count}", b.rank(), b.depth + 1)
    body = Builder(gen, b.shape(), draft, vocab=b.vocab)
    fill(body)
    if not body.layers:
        return None
    block: dict[str, Any] = {}
    if draft.defaults:
        block["params"] = draft.defaults
    if gen.flip(20):
        block["doc"] = "A random block."
    block["layers"] = body.layers
    gen.blocks[draft.name] = block
    gen.drafts[draft.name] = draft
    return draft


# ----------------------------------------------------------------------------- sequences


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def make_conv1d(
    gen: Gen,
    b: Builder,
    shape: Shape,
    *,
    filters: int | None = None,
    keep: bool = False,
    mode: str | None = None,
    stride: int | None = None,
    dilation: int | None = None,
) -> dict[str, Any]:
    """A conv1d that fits `shape`; `keep` keeps the steps (stride 1, `same` or the matching
    number); `mode`: its padding (`valid`, `same` or `number`), `stride` and `dilation`, each
    drawn if None. Never a stride and a dilation above 1 together (Keras refuses it); in a
    block, `same` at a stride too (padded as the length each use gives it needs)."""
    steps = shape[0]
    mode = mode or gen.pick(["same", "number"] if keep else ["valid", "same", "number"])
    k = gen.int(1, 3)
    s = stride or (1 if keep else gen.pick([1, 1, 2]))
    d = dilation or (1 if s > 1 else gen.pick([1, 1, 2]))
    pad = 0
    if mode == "number":
        if keep:
            k = gen.pick([1, 3])
            pad = d * (k - 1) // 2
        else:
            pad = gen.int(0, 2)
    if mode != "same" and steps + 2 * pad < d * (k - 1) + 1:
        k = 1  # (a dilation of a 1-wide kernel changes nothing, but is written)
    layer: dict[str, Any] = {
        "type": "conv1d",
        "filters": b.param(filters or gen.int(1, 6), "width", [1, 2, 3, 4]),
        "kernel": b.param(k, "kern"),
    }
    if s != 1 or gen.flip(10):
        layer["stride"] = b.param(s, "step")
    if d != 1 or gen.flip(10):
        layer["dilation"] = b.param(d, "dil")
    if mode == "same":
        layer["padding"] = "same"
    elif mode == "number":
        layer["padding"] = b.param(pad, "pad")
    elif gen.flip(50):
        layer["padding"] = "valid"
    if gen.flip(25):
        layer["bias"] = b.param(False, "use_bias", [True, False])
    if gen.flip(50):
        layer["activation"] = activation(gen, b)
    return layer


def make_pool1d(
    gen: Gen, b: Builder, shape: Shape, kind: str | None = None, stride: bool | None = None
) -> dict[str, Any]:
    """A max or average pool over the steps of `shape`, with a stride of its own (`stride`;
    drawn if None) or its size's."""
    size = min(gen.int(1, 3), shape[0])
    layer: dict[str, Any] = {
        "type": kind or gen.pick(["maxpool1d", "avgpool1d"]),
        "size": b.param(size, "size"),
    }
    if stride or stride is None and gen.flip(50):
        step = gen.int(1, 3) if stride is None else gen.pick([n for n in (1, 2, 3) if n != size])
        layer["stride"] = b.param(step, "step")
    return layer


def make_attention(
    gen: Gen, b: Builder, shape: Shape, *, causal: bool | None = None, cross: bool = False
) -> dict[str, Any]:
    """A multi-head attention on `shape` (self-attention; `cross`: the caller names a context
    in `inputs`, and it is not causal), its heads dividing the features; `causal` drawn if
    None; written out (false too) in the `patches` focus and at times elsewhere."""
    width = shape[1]
    layer: dict[str, Any] = {
        "type": "multihead_attention",
        "heads": b.param(gen.pick(divisors(width)), "heads", [1]),
    }
    if cross:
        causal = False
    elif causal is None:
        causal = gen.flip(30)
    if causal or gen.wants("patches", 15):
        layer["causal"] = causal  # not a block parameter (Keras takes it per call)
    if gen.flip(20):
        layer["dropout"] = b.param(gen.pick([0.0, 0.1]), "drop", [0.0, 0.2])
    if gen.flip(20):
        layer["bias"] = b.param(False, "use_bias", [True, False])
    return layer


def make_recurrent(
    gen: Gen,
    b: Builder,
    shape: Shape,
    kind: str | None = None,
    *,
    width: int | None = None,
    last: bool = False,
    stacked: bool | None = None,
    bidirectional: bool | None = None,
) -> dict[str, Any]:
    """An LSTM or GRU (`kind`; drawn if None) on `shape`: `width` output features (units
    times directions; drawn if None), the last state (`last`) or every step's, stacked layers
    and both directions each drawn if None (both directions only for an even `width`)."""
    kind = kind or gen.pick(["lstm", "gru"])
    both = gen.flip(40) if bidirectional is None else bidirectional
    if width is not None:
        both = both and width % 2 == 0
        units = width // (2 if both else 1)
    else:
        units = gen.int(1, 4)
    stack = gen.pick([1, 1, 2]) if stacked is None else (2 if stacked else 1)
    layer: dict[str, Any] = {
        "type": kind,
        "units": b.param(units, "units", None if width else [1, 2, 3, 4]),
    }
    if stack != 1 or gen.flip(10):
        layer["layers"] = b.param(stack, "stack", [1, 2])
    if both or gen.flip(10):
        layer["bidirectional"] = both
    if last or gen.flip(10):
        layer["returns"] = "last" if last else "sequence"
    return layer


SEQUENCE_LAYERS = {
    "shape": ["dense", "conv1d", "attention", "recurrent"],
    "features": ["dense", "conv1d", "attention", "recurrent", "pool1d"],
    "steps": ["dense", "conv1d", "recurrent"],
    "any": ["dense", "conv1d", "attention", "recurrent", "pool1d"],
}
"""The layers of a sequence that can keep its shape, its features, its steps, or anything."""


def make_sequence_layer(
    gen: Gen, b: Builder, shape: Shape, keep: str = "any", kind: str | None = None
) -> dict[str, Any]:
    """A layer on a sequence (not added): a dense layer on each step, a conv1d, self-attention,
    a recurrent layer or a 1-D pool (`kind`; drawn if None among `SEQUENCE_LAYERS[keep]`),
    keeping the `shape`, the `features`, the `steps`, or `any`thing."""
    kind = kind or gen.pick(SEQUENCE_LAYERS[keep])
    width = shape[1] if keep in ("shape", "features") else None
    if kind == "dense":
        return make_dense(gen, b, units=width)
    if kind == "conv1d":
        return make_conv1d(gen, b, shape, filters=width, keep=keep in ("shape", "steps"))
    if kind == "attention":
        return make_attention(gen, b, shape)
    if kind == "recurrent":
        return make_recurrent(gen, b, shape, width=width)
    return make_pool1d(gen, b, shape)


def step_sequence(gen: Gen, b: Builder, kind: str | None = None) -> None:
    """One layer of a sequence: `make_sequence_layer`'s."""
    b.try_add(named(b, make_sequence_layer(gen, b, b.shape(), kind=kind)))


def step_conv1d(gen: Gen, b: Builder) -> None:
    step_sequence(gen, b, "conv1d")


def step_attention_or_cross(gen: Gen, b: Builder) -> None:
    step_attention(gen, b, cross=gen.flip(30))


def step_recurrent(gen: Gen, b: Builder) -> None:
    step_sequence(gen, b, "recurrent")


def step_pool1d(gen: Gen, b: Builder) -> None:
    layer = make_pool1d(gen, b, b.shape())
    b.try_add(named(b, layer) if gen.flip(70) else layer)


@all_or_nothing
def step_attention(gen: Gen, b: Builder, causal: bool | None = None, cross: bool = False) -> None:
    """Self-attention on the tail (`causal` drawn if None); or (`cross`) the tail attending to
    a context of its features: an earlier sequence, or one made from the tail with fewer
    steps (a pool or a strided conv1d)."""
    trunk, shape = b.tail, b.shape()
    need(len(shape) == 2)
    if not cross:
        b.add(named(b, make_attention(gen, b, shape, causal=causal)))
        return
    earlier = [
        ref
        for ref in b.scope.outputs
        if ref != trunk and b.rank(ref) == 2 and b.shape(ref)[1] == shape[1]
    ]
    if earlier and gen.flip(50):
        context = gen.pick(earlier)
    elif shape[0] > 1 and gen.flip(50):
        context = b.add(named(b, make_pool1d(gen, b, shape), trunk))
    else:
        conv = make_conv1d(gen, b, shape, filters=shape[1], stride=2, mode="valid")
        context = b.add(named(b, conv, trunk))
    b.add(named(b, make_attention(gen, b, shape, cross=True), trunk, context))


def step_positions(
    gen: Gen, b: Builder, token: bool | None = None, length: str | None = None
) -> None:
    """A class token (`token`; drawn if None) and a position embedding (ViT's, BERT's), whose
    table is as long as the sequence (`length` `default`: unwritten; `written`) or `longer`
    (drawn if None)."""
    if b.rank() != 2:
        return
    if token or token is None and gen.flip(50):
        b.try_add(named(b, {"type": "class_token"}) if gen.flip(50) else {"type": "class_token"})
    steps = b.shape()[0]
    length = length or gen.pick(["default", "written", "longer"])
    layer: dict[str, Any] = {"type": "position_embedding"}
    if length != "default":
        extra = gen.int(1, 3) if length == "longer" else 0
        layer["max_length"] = b.param(steps + extra, "length")
    b.try_add(named(b, layer) if gen.flip(60) else layer)


READOUTS = ["select", "global_avgpool1d", "global_maxpool1d", "recurrent", "flatten"]
"""How a sequence becomes one vector."""


@all_or_nothing
def step_readout(
    gen: Gen, b: Builder, kinds: list[str] | None = None, negative: bool = False
) -> None:
    """The sequence read out as one vector, by one of `READOUTS` or by several of them
    (`kinds`, drawn if None), concatenated (as sequences.yaml's head); a `select` counts back
    from the end if `negative`."""
    trunk, shape = b.tail, b.shape()
    need(len(shape) == 2)
    kinds = kinds or ([gen.pick(READOUTS)] if gen.flip(70) else gen.draw(readout_sets))
    outputs = []
    for kind in kinds:
        layer: dict[str, Any]
        if kind == "select":
            first = [-1, -shape[0]] if negative else [0, -1, -shape[0], shape[0] - 1]
            layer = {"type": "select", "name": b.fresh(), "index": gen.pick(first)}
        elif kind == "recurrent":
            layer = named(b, make_recurrent(gen, b, shape, last=True))
        else:
            layer = {"type": kind}
        outputs.append(b.add({**layer, "inputs": [trunk]} if len(kinds) > 1 else layer))
    if len(outputs) > 1:
        b.add({"type": "concat", "inputs": gen.draw(st.permutations(outputs))})


readout_sets = st.lists(st.sampled_from(READOUTS[:-1]), min_size=2, max_size=3, unique=True)


@all_or_nothing
def step_to_sequence(gen: Gen, b: Builder, patch: bool | None = None) -> None:
    """An image as a sequence of its positions (to_sequence), after a patch conv (kernel and
    stride alike: ViT's stem; `patch` drawn if None, always where the image has more than
    `MAX_STEPS` positions)."""
    c, h, w = b.shape()
    if patch or h * w > MAX_STEPS or patch is None and gen.flip(50):
        size = next(p for p in range(1, 13) if (h // p) * (w // p) <= MAX_STEPS)
        size = max(size, min(h, w, gen.pick([1, 2, 2])))
        conv: dict[str, Any] = {"type": "conv2d", "name": b.fresh()}
        conv["filters"] = b.param(gen.pick([2, 4, 6]), "width", [2, 4])
        conv["kernel"] = conv["stride"] = b.param(size, "patch")
        b.add(conv)
    b.add(named(b, {"type": "to_sequence"}) if gen.flip(50) else {"type": "to_sequence"})


def step_embed(gen: Gen, b: Builder, padding: bool | None = None) -> None:
    """Token ids embedded (an embedding comes first: nothing else takes them), maybe in a block
    with a position embedding; with a padding_index (`padding`; drawn if None), which the
    random token ids hit."""
    vocab = b.vocab
    assert vocab is not None

    def fill(body: Builder) -> None:
        layer: dict[str, Any] = {
            "type": "embedding",
            "vocab": body.param(vocab + gen.pick([0, 0, 3]), "vocab"),
            "dim": body.param(gen.pick([2, 3, 4, 4, 6, 8]), "dim"),
        }
        if padding or padding is None and gen.flip(40):
            layer["padding_index"] = body.param(gen.pick([0, 0, vocab - 1]), "pad")
        name = body.add(named(body, layer) if gen.flip(70) else layer)
        if body.draft is None:
            gen.embedding = name
        if body.draft is not None and gen.flip(60):
            step_positions(gen, body, token=False)

    if gen.focus not in ("tokens", "per_step_cross_entropy") and gen.flip(30):  # (those tie
        # a dense layer to it)
        draft = written_block(gen, b, fill)
        call = block_call(gen, b, again=draft.name) if draft else None
        if call is not None:
            b.add(call)
            return
    fill(b)


@all_or_nothing
def step_encoder(gen: Gen, b: Builder) -> None:
    """A transformer encoder block (a pre-norm self-attention residual with a layer scale, an
    MLP residual), used once, or repeated, or again with other arguments."""

    def fill(body: Builder) -> None:
        step_residual(gen, body, branch="attention", scale=True)
        if body.layers and body.shape() == b.shape():
            step_residual(gen, body, branch="mlp")

    draft = written_block(gen, b, fill)
    call = block_call(gen, b, again=draft.name) if draft else None
    need(call is not None)
    assert call is not None and draft is not None
    if gen.flip(40):
        times = gen.pick([2, 3])
        for fitting in block_calls(gen, b, again=draft.name):
            try:
                b.add({**fitting, "repeat": times})
                return
            except Invalid:
                continue
    b.add(call)
    if gen.flip(50):
        for other in block_calls(gen, b, again=draft.name):
            if b.try_add(other) is not None:
                return


STEPS: dict[str, Callable[[Gen, Builder], None]] = {
    "conv": step_conv,
    "pool": step_pool,
    "elementwise": step_elementwise,
    "dense": step_dense,
    "merge": step_merge,
    "repeat": step_repeat,
    "share": step_share,
    "block": step_block,
    "resample": step_resample,
    "gate": step_gate,
    "residual": step_residual,
    "sequence": step_sequence,
    "conv1d": step_conv1d,
    "pool1d": step_pool1d,
    "attention": step_attention_or_cross,
    "recurrent": step_recurrent,
    "positions": step_positions,
    "readout": step_readout,
}
SEQUENCE_STEPS = ["sequence", "conv1d", "pool1d", "attention", "attention", "recurrent"] + [
    "dense", "elementwise", "merge", "repeat", "share", "block", "residual", "residual", "gate",
    "positions",
]  # fmt: skip
BLOCK_STEPS = {
    3: ["conv", "conv", "pool", "elementwise", "merge", "repeat", "share", "block"]
    + ["resample", "gate", "residual"],
    2: [*SEQUENCE_STEPS, "readout"],
    1: ["dense", "dense", "elementwise", "merge", "repeat", "share", "block", "residual"],
}
BODY_STEPS = {
    3: ["conv", "conv", "pool", "elementwise", "merge", "repeat", "share", "block"]
    + ["resample", "gate", "residual"],
    2: [*SEQUENCE_STEPS, "readout"],
    1: ["dense", "elementwise", "merge", "repeat", "share", "block", "residual"],
}


def focus_step(gen: Gen, b: Builder) -> None:
    """The step the focus asks for (where it is a step)."""
    focus = gen.focus
    if focus == "conv":
        step_conv(gen, b)
    elif focus == "keras_refusal":
        b.add(named(b, make_conv(gen, b, b.shape(), refuse=True)))
    elif focus == "conv_groups":
        if b.shape()[0] % 2:
            b.add(named(b, make_conv(gen, b, b.shape(), filters=2 * gen.int(1, 2), grouped=0)))
        b.try_add(named(b, make_conv(gen, b, b.shape(), grouped=100, depthwise=0)))
    elif focus == "pool":
        step_pool(gen, b)
    elif focus == "flat_input":
        step_elementwise(gen, b, "batchnorm")
    elif focus == "standalone":
        for kind in STANDALONE:
            step_elementwise(gen, b, kind)
    elif focus == "stochastic":  # compared in eval mode only
        b.add({"type": "dropout", "rate": gen.pick([0.1, 0.5])})
        b.add({"type": "gaussian_noise", "stddev": gen.pick([0.1, 1.0])})
        step_residual(gen, b, gen.pick([0.1, 0.5]))
    elif focus == "depthwise":
        for multiplier in gen.draw(st.permutations([1, 2])):
            conv = make_conv(gen, b, b.shape(), depthwise=100, multiplier=multiplier)
            b.try_add(named(b, conv))
    elif focus == "conv_transpose":
        b.try_add(
            named(b, make_conv_transpose(gen, b, b.shape(), full=True)),
            named(b, make_conv_transpose(gen, b, b.shape())),
        )
    elif focus == "upsample":
        for mode in gen.draw(st.permutations(["nearest", "bilinear"])):
            b.try_add(make_upsample(gen, b, b.shape(), mode))
    elif focus == "norms":  # LayerNorm and GroupNorm of images, then of vectors
        if b.shape()[0] in (1, 2, 3):  # channels for groups of several channels
            b.try_add(named(b, make_conv(gen, b, b.shape(), filters=4, keep=True, grouped=0)))
        for kind in ("layernorm", "groupnorm"):
            step_elementwise(gen, b, kind)
        if len(b.shape()) == 3:
            b.add(named(b, {"type": gen.pick(["global_avgpool2d", "global_maxpool2d"])}))
        for kind in gen.draw(st.permutations(["layernorm", "groupnorm"])):
            step_elementwise(gen, b, kind)
    elif focus == "gates":  # both gates, and a product of equal shapes
        for kind in gen.draw(st.permutations(["se", "vector"])):
            step_gate(gen, b, kind)
        step_merge(gen, b, "multiply")
    elif focus == "residual":
        step_residual(gen, b, 0.0)
    elif focus in PER_STEP_FOCI:  # a causal self-attention or a recurrent layer, as LMs
        if gen.flip(50):
            step_attention(gen, b, causal=True)
        else:
            step_recurrent(gen, b)
    elif focus == "merge3":  # a 3-input add and a 3-input concat
        for kind in gen.draw(st.permutations(["add", "concat"])):
            step_merge(gen, b, kind, 3)
    elif focus == "concat_axes":  # an image's height and width
        for axis in gen.draw(st.permutations([1, 2])):
            step_merge(gen, b, "concat", axis=axis)
    elif focus in SEQUENCE_FOCI:
        sequence_focus_step(gen, b)
    elif focus == "block_reuse":
        step_block_twice(gen, b)
    elif focus.startswith("block_"):
        step_block(gen, b)
    elif focus == "repeat":
        step_repeat(gen, b)
    elif focus.startswith("share_dense_"):
        act = focus[len("share_dense_") :]
        if len(b.shape()) == 3:
            b.add({"type": gen.pick(["flatten", "global_avgpool2d", "global_maxpool2d"])})
        step_share(gen, b, "dense", None if act == "none" else act)
    elif focus.startswith("share_"):
        step_share(gen, b, focus[len("share_") :])


def sequence_focus_step(gen: Gen, b: Builder) -> None:
    """The sequence foci, several features each (the CI sample has room for few foci):
    `tokens` (after the embedding with a padding_index): a class token and a longer position
    table, causal self-attention, cross-attention; `sequence`: conv1d with each padding (one
    strided, one dilated), both 1-D pools (one with a stride of its own), a stacked
    bidirectional recurrent layer and another, concatenations of steps and of features, a
    per-step gate (first in its multiply's inputs);
    `patches`: an image as a sequence after a patch conv (maybe in a block, with a default
    position table), transformer encoder blocks, a repeated sequence layer."""
    focus = gen.focus
    if focus == "patches":
        if gen.flip(50):
            draft = written_block(gen, b, lambda body: patch_stem(gen, body))
            call = block_call(gen, b, again=draft.name) if draft else None
            if call is not None:
                b.add(call)
        if b.rank() == 3:
            patch_stem(gen, b)
        step_encoder(gen, b)
        kind = gen.pick(["conv1d", "attention", "recurrent"])
        layer = named(b, make_sequence_layer(gen, b, b.shape(), "shape", kind))
        b.try_add({**layer, "repeat": gen.pick([2, 3])})
        return
    if b.rank() != 2:
        return
    if focus == "tokens":
        step_positions(gen, b, token=True, length="longer")
        step_attention(gen, b, causal=True)
        step_attention(gen, b, cross=True)
        return
    parts = ["valid", "same", "number", "maxpool1d", "avgpool1d", "lstm", "gru"]
    parts += ["concat0", "concat1", "gate"]
    odd = gen.pick(["lstm", "gru"])  # stacked and bidirectional
    for part in gen.draw(st.permutations(parts)):
        shape = b.shape()
        layer: dict[str, Any]
        if part in ("valid", "same", "number"):
            stride, dilation = {"valid": (2, 1), "number": (1, 2), "same": (None, None)}[part]
            layer = make_conv1d(gen, b, shape, mode=part, stride=stride, dilation=dilation)
        elif part in ("lstm", "gru"):
            both = part == odd
            layer = make_recurrent(gen, b, shape, part, stacked=both, bidirectional=both)
        elif part.startswith("concat"):
            step_merge(gen, b, "concat", axis=int(part[-1]))
            continue
        elif part == "gate":
            if shape[1] == 1:  # (a gate of one feature would not broadcast)
                b.add(named(b, make_dense(gen, b, units=gen.int(2, 4))))
            step_gate(gen, b, first=True)
            continue
        else:
            layer = make_pool1d(gen, b, shape, part, stride=part == "maxpool1d")
        b.try_add(named(b, layer))


def patch_stem(gen: Gen, b: Builder) -> None:
    """ViT's stem: a patch conv, to_sequence, a position embedding as long as the sequence."""
    step_to_sequence(gen, b, patch=True)
    if b.rank() == 2:
        step_positions(gen, b, length="default")


LOGIT_ACTIVATIONS = [None, None, "relu", "tanh", {"type": "leaky_relu", "alpha": 0.1}, "elu"]
"""What a cross_entropy network may end in (not softmax, log_softmax or sigmoid)."""


def head(gen: Gen, b: Builder, loss: str) -> None:
    """End the network so that its output fits `loss` (netspec.objective's rules)."""
    if b.rank() == 3 and gen.focus not in ("image_output", "flatten_output") and gen.flip(12):
        step_to_sequence(gen, b)  # then a sequence's head
    if b.rank() == 2 and sequence_head(gen, b, loss):
        return
    image = len(b.shape()) == 3
    if image and loss == "mse" and gen.wants("image_output", 40) and gen.focus != "flatten_output":
        if not b.layers:
            step_elementwise(gen, b)
        return
    if image:
        flatten = gen.focus == "flatten_output" or gen.flip(50)
        pool = gen.pick(["global_avgpool2d", "global_maxpool2d"])
        b.add({"type": "flatten"} if flatten else named(b, {"type": pool}))
        if gen.focus == "flatten_output" or gen.flip(30):
            k = b.shape()[0]
            if loss in ("cross_entropy", "mse") and k >= 2:
                return _pass_through(gen, b)
            if loss in ("nll", "kl_div") and k >= 2:
                b.add({"type": "log_softmax"})
                return _pass_through(gen, b)
            if loss == "binary_cross_entropy" and gen.focus != "loss_binary_cross_entropy":
                b.add({"type": "sigmoid"})
                return _pass_through(gen, b)
    for _ in range(gen.int(0, 2)):
        step_dense(gen, b)
        if gen.flip(30):
            step_elementwise(gen, b)
    k = gen.int(2, 6)
    if loss == "cross_entropy":
        b.add(named(b, make_dense(gen, b, units=k, act=gen.pick(LOGIT_ACTIVATIONS))))
    elif loss in ("nll", "kl_div"):
        if gen.flip(50):
            b.add(named(b, make_dense(gen, b, units=k, act="log_softmax")))
        else:
            b.add(named(b, make_dense(gen, b, units=k, act=None)))
            b.add({"type": "log_softmax"})
    elif loss == "binary_cross_entropy":
        k = gen.int(1, 4)
        ending = gen.pick(["fused", "layer", "logits"])
        if gen.focus in ("loss_binary_cross_entropy", "bce_sigmoid"):  # one focus each
            ending = "logits" if gen.focus != "bce_sigmoid" else gen.pick(["fused", "layer"])
        b.add(named(b, make_dense(gen, b, units=k, act="sigmoid" if ending == "fused" else None)))
        if ending == "layer":
            b.add({"type": "sigmoid"})
    else:
        b.add(named(b, make_dense(gen, b, units=k)))
    _pass_through(gen, b)


def sequence_head(gen: Gen, b: Builder, loss: str) -> bool:
    """A sequence's head: for mse, maybe the sequence itself (a dense layer on each step first,
    or not; the `patches` focus always); else read out as a vector (the `tokens` focus by a
    select counting from the end, the `sequence` focus by four readouts concatenated), then a
    dense layer tied to the embedding as the output (the `tokens` focus always, other token
    networks sometimes), or `head` goes on from the vector. True when the output is done."""
    if loss == "mse" and gen.focus not in ("tokens", "sequence") and gen.wants("patches", 30):
        if gen.flip(60):  # (linear in the patches focus: a ReLU's zeros would compare nothing)
            act = None if gen.focus == "patches" else "draw"
            b.add(named(b, make_dense(gen, b, units=gen.int(1, 4), act=act)))
        _pass_through(gen, b)
        return True
    if loss in PER_STEP_LOSSES and (
        gen.focus in PER_STEP_FOCI or gen.focus not in SEQUENCE_FOCI and gen.flip(25)
    ):
        per_step_head(gen, b, loss)
        return True
    if gen.focus == "tokens":
        step_readout(gen, b, ["select"], negative=True)
        if tied_head(gen, b, loss):
            return True
    elif gen.focus == "sequence":
        step_readout(gen, b, gen.draw(st.permutations(READOUTS[:-1])))
    else:
        step_readout(gen, b)
    if b.rank() == 2:  # (a readout that did not fit)
        b.add({"type": "global_avgpool1d"})
    return gen.embedding is not None and gen.flip(30) and tied_head(gen, b, loss)


def per_step_head(gen: Gen, b: Builder, loss: str) -> None:
    """A (T, K) output, scores over K classes at each step, for a per-step `loss`: a language
    model's, a dense layer tied to the embedding (at times, where the network has one); or a
    dense layer of K units on each step (maybe after a sequence layer), logits or (nll)
    log-probabilities."""
    if gen.wants("per_step_cross_entropy", 50) and tied_head(gen, b, loss):
        return
    if gen.flip(40):
        step_sequence(gen, b, gen.pick(["conv1d", "attention", "recurrent", "dense"]))
    k = gen.int(2, 6)
    if loss == "cross_entropy":
        b.add(named(b, make_dense(gen, b, units=k, act=gen.pick(LOGIT_ACTIVATIONS))))
    elif gen.flip(50):
        b.add(named(b, make_dense(gen, b, units=k, act="log_softmax")))
    else:
        b.add(named(b, make_dense(gen, b, units=k, act=None)))
        b.add({"type": "log_softmax"})
    _pass_through(gen, b)


@all_or_nothing
def _tie(gen: Gen, b: Builder, loss: str) -> None:
    """`tied_head`'s layers (all of them, or none where one does not fit)."""
    embedding = b.expect.layers[gen.embedding or ""]
    if b.shape()[-1] != embedding["dim"]:
        b.add(named(b, make_dense(gen, b, units=embedding["dim"])))
    tied = {"type": "dense", "name": b.fresh(), "units": embedding["vocab"], "bias": False}
    b.add({**tied, "share": gen.embedding})
    if loss in ("nll", "kl_div"):
        b.add({"type": "log_softmax"})


def tied_head(gen: Gen, b: Builder, loss: str) -> bool:
    """A language model's output layer: scores over the vocabulary from a dense layer tied to
    the network's embedding (its table, transposed; a dense layer to the embedding's width
    first where the features differ), log-probabilities for nll and kl_div. True when added
    (the network has its own embedding, and the output fits the loss)."""
    if gen.embedding is None:
        return False
    before = len(b.layers)
    _tie(gen, b, loss)
    if len(b.layers) == before:
        return False
    _pass_through(gen, b)
    return True


def _pass_through(gen: Gen, b: Builder) -> None:
    """Sometimes a dropout or noise after the output layer (the output's kind passes)."""
    if gen.flip(15):
        b.add(make_elementwise(gen, b, gen.pick(["dropout", "gaussian_noise"])))


IMAGE_FOCI = {
    "conv",
    "conv_groups",
    "concat_axes",
    "patches",
    "pool",
    "keras_refusal",
    "flatten_output",
    "image_output",
    "depthwise",
    "conv_transpose",
    "upsample",
    "norms",
    "gates",
} | {f"share_{kind}" for kind in ("conv2d", "maxpool2d", "avgpool2d")}
SEQUENCE_FOCI = {"tokens", "sequence", "patches"}
VECTOR_FOCI = {"standalone", "flat_input", "share_batchnorm"}
"""The foci (besides the image ones) whose features need an image or a vector: the others may
draw a sequence or token input."""


INPUT_KINDS = ["image", "flat", "tokens", "sequence"]
INPUT_NAMES = {
    "image": ["image", "photo", "scan"],
    "flat": ["meta", "extra", "stats"],
    "tokens": ["words", "ids", "text"],
    "sequence": ["series", "audio", "track"],
}
"""The names of named inputs (`inputs:`), by kind: valid, not reserved, none `y` or `*_val`."""
PER_STEP_FOCI = {f"per_step_{loss}" for loss in PER_STEP_LOSSES}
SEVERAL_FOCI = {"several_io", "several_sequences"}


def draw_input(gen: Gen, kind: str) -> tuple[Shape, int | None]:
    """An input of `kind` (`INPUT_KINDS`): its shape, and its vocab for token ids."""
    if kind == "flat":
        return (gen.int(2, 12),), None
    if kind == "tokens":  # a small vocab, so that the random ids hit the padding_index
        return (gen.int(3, 12),), gen.int(2, 10)
    if kind == "sequence":
        return (gen.int(8 if gen.focus == "sequence" else 1, 12), gen.int(1, 8)), None
    return (gen.int(1, 4), gen.int(4, 12), gen.int(4, 12)), None


def input_name(b: Builder, kind: str) -> str:
    """A name for a new input of `kind`, not taken yet."""
    taken = b.inputs or {}
    return next(n for n in INPUT_NAMES[kind] if n not in taken)


def input_kind(b: Builder, name: str) -> str:
    if name in b.expect.vocab:
        return "tokens"
    return {1: "flat", 2: "sequence", 3: "image"}[len(b.expect.entries[name])]


def branch_layer(gen: Gen, b: Builder) -> dict[str, Any]:
    """A first layer with weights for the tail, an input (not added): an embedding of token
    ids, a conv of an image, a dense layer on features or on each step, a conv1d."""
    shape = b.shape()
    if b.vocab is not None:
        layer: dict[str, Any] = {
            "type": "embedding",
            "vocab": b.vocab + gen.pick([0, 0, 2]),
            "dim": gen.pick([2, 3, 4, 6]),
        }
        if gen.flip(40):
            layer["padding_index"] = gen.pick([0, b.vocab - 1])
        return named(b, layer)
    if len(shape) == 3:
        return named(b, make_conv(gen, b, shape, grouped=0))
    if len(shape) == 2 and gen.flip(40):
        return named(b, make_conv1d(gen, b, shape))
    return named(b, make_dense(gen, b))


def several_inputs(gen: Gen, b: Builder) -> None:
    """The body of the foci of several inputs: `several_io`, 3 named inputs, the second the
    first's twin (its first layer sharing the first's weights: a siamese encoder), the third
    of another kind; `several_sequences`, 2 sequences (token ids or features), at times twins.
    Each input through a branch of layers, merged (`merge_branches`)."""
    first = b.tail
    names = [first]
    sequences = gen.focus == "several_sequences"
    twin = gen.flip(30) if sequences else True
    for i in range(1, 2 if sequences else 3):
        if i == 1 and twin:
            kind = input_kind(b, first)
            shape, vocab = b.expect.entries[first], b.expect.vocab.get(first)
        else:
            kinds = ["tokens", "sequence"] if sequences else INPUT_KINDS
            kind = gen.pick([k for k in kinds if sequences or k != input_kind(b, first)])
            shape, vocab = draw_input(gen, kind)
        names.append(input_name(b, kind))
        b.add_input(names[-1], shape, vocab)
    tails, owner = [], None
    for i, name in enumerate(names):
        b.branch(name)
        if i == 1 and twin and owner is not None:
            layer = {k: v for k, v in owner.items() if k not in ("name", "inputs")}
            b.add({**layer, "name": b.fresh(), "inputs": [name], "share": owner["name"]})
        else:
            layer = branch_layer(gen, b)
            if b.try_add(layer) is None:  # (a layer of no weights fits anything)
                b.add({"type": gen.pick(["relu", "tanh"]), "inputs": [name]})
            else:
                owner = b.layers[-1] if i == 0 else owner
                if layer["type"] == "embedding" and gen.embedding is None:
                    gen.embedding = layer["name"]  # (a dense layer may tie it)
        steps = ["sequence", "elementwise", "residual", "positions"] if sequences else None
        for _ in range(gen.int(0, 2)):
            STEPS[gen.pick(steps or BODY_STEPS[len(b.shape())])](gen, b)
        tails.append(b.tail)
    merge_branches(gen, b, tails, pair=twin)


def merge_branches(gen: Gen, b: Builder, tails: list[str], pair: bool = False) -> None:
    """The branches `tails` made one. Two sequences (in the `several_sequences` focus) by
    cross-attention (one attending to the other, made as wide) or by a concat of their steps,
    where they fit. What is left read out as vectors: the first two first added or multiplied
    where they are a `pair` (a twin's), and concatenated with the rest; or all concatenated,
    added or multiplied (each made as wide by a dense layer)."""
    tails = list(tails)
    sequences = [t for t in tails if b.rank(t) == 2]
    if gen.focus == "several_sequences" and len(sequences) == 2:
        query, context = gen.draw(st.permutations(sequences))
        width = b.shape(query)[1]
        saved = b.snapshot()
        for how in ("cross", "steps"):  # (the steps of both where attention does not fit)
            try:
                other = context
                if b.shape(other)[1] != width:  # (made as wide)
                    b.branch(other)
                    act = None if how == "cross" else "draw"
                    other = b.add(named(b, make_dense(gen, b, units=width, act=act)))
                if how == "cross":  # cross-attention
                    layer = make_attention(gen, b, b.shape(query), cross=True)
                    b.add(named(b, layer, query, other))
                else:  # the steps of both
                    inputs = gen.draw(st.permutations([query, other]))
                    b.add({"type": "concat", "name": b.fresh(), "inputs": inputs})
                return
            except Invalid:
                b.restore(saved)
    kind = gen.pick(["concat", "concat", "add", "multiply"])
    units = gen.int(2, 6)
    vectors = []
    for i, tail in enumerate(tails):
        b.branch(tail)
        if b.rank() == 3:
            pool = gen.pick(["flatten", "global_avgpool2d", "global_maxpool2d"])
            b.add(named(b, {"type": pool}))
        elif b.rank() == 2:
            layer = gen.pick(["flatten", "global_avgpool1d", "global_maxpool1d", "select"])
            b.add(named(b, {"type": layer, "index": -1} if layer == "select" else {"type": layer}))
        wide = kind != "concat" or pair and i < 2
        if wide and (b.shape() != (units,) or b.expect.orders.get(b.scope.previous)):
            b.add(named(b, make_dense(gen, b, units=units)))
        vectors.append(b.tail)
    if pair and len(vectors) == 3:
        both = {"type": "add", "inputs": vectors[:2]}
        vectors = [b.add(named(b, both)), vectors[2]]
        kind = "concat"
    elif pair:
        kind = gen.pick(["add", "multiply"])
    merged: dict[str, Any] = {"type": kind, "inputs": gen.draw(st.permutations(vectors))}
    b.add(named(b, merged) if gen.flip(50) else merged)


@all_or_nothing
def step_extra_input(gen: Gen, b: Builder) -> None:
    """Another named input, shaped as the tail (float features), through a layer that keeps
    its shape, merged with the tail (add, concat or multiply)."""
    trunk, shape = b.tail, b.shape()
    need(b.rank() in (1, 2, 3))
    kind = {1: "flat", 2: "sequence", 3: "image"}[len(shape)]
    name = input_name(b, kind)
    b.add_input(name, shape)
    b.branch(name)
    if gen.flip(30):
        b.add(make_elementwise(gen, b, gen.pick(["relu", "tanh", "sigmoid"])))
    elif len(shape) == 3:
        b.add(named(b, make_conv(gen, b, shape, filters=shape[0], keep=True, grouped=0)))
    elif len(shape) == 2:
        b.add(named(b, make_sequence_layer(gen, b, shape, "shape")))
    else:
        b.add(named(b, make_dense(gen, b, units=shape[0])))
    merged = {
        "type": gen.pick(["add", "concat", "multiply"]),
        "inputs": gen.draw(st.permutations([trunk, b.tail])),
    }
    b.add(named(b, merged))


def second_output(gen: Gen, b: Builder, trained: str, merged: str | None) -> str | None:
    """Another output besides `trained` (the loss's): a layer before it, or (from the layer
    `merged`, when given, at times) a second head, a dense layer; None where there is none."""
    if merged is not None and gen.flip(50):
        b.branch(merged)
        return b.add(named(b, make_dense(gen, b, units=gen.int(1, 4))))
    earlier = [
        name
        for name, node in b.scope.outputs.items()
        if node not in b.expect.entries and name != trained
    ]
    return gen.pick(earlier) if earlier else None


@st.composite
def networks(draw: st.DrawFn, focus: str | None = None) -> Net:
    """One random valid network, drawn around `focus` (one of `FOCI`; drawn if None)."""
    gen = Gen(draw, focus or draw(st.sampled_from(FOCI)))
    if gen.focus.startswith("loss_"):
        loss = gen.focus[len("loss_") :]
    elif gen.focus in PER_STEP_FOCI:
        loss = gen.focus[len("per_step_") :]
    elif gen.focus == "bce_sigmoid":
        loss = "binary_cross_entropy"
    elif gen.focus in ("image_output", "patches"):
        loss = "mse"
    else:
        loss = gen.pick([*LOSSES, "cross_entropy"])  # the common case, twice as often
    kind = gen.focus if gen.focus in ("tokens", "sequence") else "image"
    if gen.focus == "per_step_cross_entropy":  # a language model's (tied_head)
        kind = "tokens"
    elif gen.focus in PER_STEP_FOCI:
        kind = gen.pick(["tokens", "sequence"])
    elif gen.focus == "several_io":
        kind = gen.pick(INPUT_KINDS)
    elif gen.focus == "several_sequences":
        kind = gen.pick(["tokens", "sequence"])
    elif gen.focus not in IMAGE_FOCI | SEQUENCE_FOCI:
        if gen.wants("flat_input", 25):
            kind = "flat"
        elif gen.focus not in VECTOR_FOCI and gen.flip(30):
            kind = gen.pick(["sequence", "tokens"])
    shape, vocab = draw_input(gen, kind)
    several = gen.focus in SEVERAL_FOCI or gen.flip(8)  # `inputs:`, named
    b = Builder(gen, shape, vocab=vocab, name=INPUT_NAMES[kind][0] if several else None)
    merged = None
    if gen.focus in SEVERAL_FOCI:
        several_inputs(gen, b)
        merged = b.tail
    else:
        if vocab is not None:
            step_embed(gen, b, padding=True if gen.focus == "tokens" else None)
        steps = gen.int(0, 3)
        focus_at = gen.int(0, steps)
        for i in range(steps + 1):
            saved = b.snapshot()
            if i == focus_at:
                focus_step(gen, b)
            elif gen.focus in SEQUENCE_FOCI | PER_STEP_FOCI and len(b.shape()) == 2:
                STEPS[gen.pick(SEQUENCE_STEPS)](gen, b)  # (the head reads it out)
            else:
                STEPS[gen.pick(BODY_STEPS[len(b.shape())])](gen, b)
            if gen.focus in PER_STEP_FOCI | {"tokens", "sequence"} and b.rank() != 2:
                b.restore(saved)  # (a block that read the sequence out: the head does)
        if several and gen.flip(60):
            step_extra_input(gen, b)
    head(gen, b, loss)
    trained, outputs = b.tail, None
    if gen.focus in SEVERAL_FOCI or gen.flip(12):
        other = second_output(gen, b, trained, merged)
        if other is not None:
            outputs = gen.draw(st.permutations([trained, other]))
    train: dict[str, Any] = {"loss": loss}
    if outputs is not None and (outputs[0] != trained or gen.flip(30)):
        train["output"] = trained
    if gen.flip(50):
        train["optimizer"] = gen.pick(["sgd", "adam", {"type": "adamw", "lr": 0.01}])
    train["batch_size"] = 4
    if loss == "cross_entropy" and gen.wants("per_step_cross_entropy", 10):
        classes = b.expect.shapes[b.scope.outputs[trained]][-1]
        train["ignore_index"] = gen.pick([-1, 0, classes - 1])
    elif loss == "cross_entropy" and gen.flip(25):
        train["label_smoothing"] = 0.1
    scores = len(b.expect.shapes[b.scope.outputs[trained]]) == 1
    one_image = len(shape) == 3 and (b.inputs is None or len(b.inputs) == 1)
    mixable = loss == "cross_entropy" and scores and one_image
    if mixable and "ignore_index" not in train and gen.flip(40):
        train["data"] = gen.pick([{"mixup": 0.2}, {"cutmix": 1.0}, {"mixup": 0.8, "cutmix": 1.0}])
    return Net(
        shape,
        b.layers,
        gen.blocks,
        train,
        b.expect,
        gen.focus,
        vocab,
        inputs=b.inputs,
        outputs=outputs,
        output_nodes=[b.scope.outputs[n] for n in outputs or [trained]],
        trained=b.scope.outputs[trained],
    )


def draw_networks(count: int, at: int) -> list[Net]:
    """`count` networks, the same for the same arguments: for each focus in turn, Hypothesis'
    generation with a seed made of `at` and the focus, so that every focus is drawn once
    `count >= len(FOCI)`. Each run's first example is Hypothesis' simplest one (every draw at
    its minimum); it is left out unless it is all there is."""
    per_focus = -(-count // len(FOCI))
    runs = []
    for focus in FOCI:
        drawn: list[Net] = []

        @settings(
            max_examples=per_focus + 1,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @seed(zlib.crc32(f"{at}:{focus}".encode()))  # each focus its own stream
        @given(networks(focus))
        def collect(net: Net) -> None:
            drawn.append(net)  # noqa: B023 (run at once)

        collect()
        runs.append(drawn[1:] if len(drawn) > per_focus else drawn)
    ordered = [run[i] for i in range(per_focus) for run in runs if i < len(run)]
    return ordered[:count]


EXAMPLES = int(os.environ.get("NETSPEC_PROPERTY_EXAMPLES", "50"))
"""Networks in the sample the framework tests compare (CI: 50; the long profile: more)."""
SEED = int(os.environ.get("NETSPEC_PROPERTY_SEED", "1"))


@functools.cache
def sample() -> list[Net]:
    """The sample of `EXAMPLES` networks with seed `SEED` (NETSPEC_PROPERTY_EXAMPLES and
    NETSPEC_PROPERTY_SEED in the environment; 50 and 1 by default, as in CI)."""
    return draw_networks(EXAMPLES, SEED)
