"""Random valid networks for the property tests (Hypothesis), with what netspec should make of
them, computed here independently of netspec: every node's name and shape, the parameters,
buffers and MACs (the formulas of docs/spec.md), and which nodes share weights.

`networks()` draws one network (`Net`); `draw_networks(n, seed)` draws a fixed sample of `n`
for the tests that compare the frameworks. The generator covers the whole language: every
standalone layer kind, every fused activation, blocks with `$params` (required and defaulted,
nested, used again with other arguments), `repeat` on layers and block uses, `share:` (conv
with numeric padding, pools, batchnorm, dense with each activation, block uses where netspec
allows it), non-default fields (pairs, dilation, groups, padding modes, BatchNorm momentum and
epsilon, no bias), 2- and 3-input merges on every concat axis, and a `train:` section whose
loss fits the output (netspec.objective's rules). The layers of modern vision networks too:
depthwise convolutions (multiplier 1 and 2), transposed convolutions (padding, output padding,
a kernel below the stride), upsampling (nearest, bilinear, non-square scales), LayerNorm (of
images and of vectors), GroupNorm, layer scale, `multiply` (equal shapes, a squeeze-and-
excitation gate of a keepdims pool, and a (C,) gate of a dense layer) and `drop_path` on a
residual branch before its add, in blocks and repeats as the other kinds are. Each network is
drawn around one *focus* (`FOCI`); `draw_networks` cycles through them, so a sample of
`len(FOCI)` or more networks has each at least once (tests/test_properties.py counts what a
sample covers).

Networks are small (inputs at most 12x12, upsampled to at most `MAX_SIDE`, a few channels) so
that each runs in milliseconds. They avoid what a backend refuses at build time, except the
`keras_refusal` focus: a conv with a stride and a dilation above 1, which the Keras emitter
refuses (`Net.refused`). So no add, multiply or GroupNorm mixes or takes flat features that
Keras orders differently from torch (those from a flatten of an image; `Expect.orders`), and no
shared weights see features in two orders. Nor do they hold the other convolutions the Keras
build refuses, since TensorFlow's kernels cannot run them (tests/test_emit.py checks those
refusals): a depthwise conv with unequal strides, a dilated transposed conv.
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
        "merge3_add",
        "merge3_concat",
        "concat_axis1",
        "concat_axis2",
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
    ]
    + [f"share_dense_{a}" for a in [*ACTIVATIONS, "none"]]
    + [f"loss_{loss}" for loss in LOSSES]
    + ["bce_sigmoid"]
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


def pool_out(size: int, kernel: int, stride: int, padding: int) -> int:
    need(2 * padding <= kernel and size + 2 * padding >= kernel)
    return (size + 2 * padding - kernel) // stride + 1


MAX_SIDE = 32
"""The largest height or width the generator lets an upsample or a transposed conv make."""


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
        return (x[0], *(pool_out(n, k[i], s[i], p[i]) for i, n in enumerate(x[1:]))), 0, 0, 0
    if kind in ("global_avgpool2d", "global_maxpool2d"):
        need(len(x) == 3)
        return ((x[0], 1, 1) if layer.get("keepdims", False) else (x[0],)), 0, 0, 0
    if kind == "flatten":
        return (math.prod(x),), 0, 0, 0
    if kind == "dense":
        need(len(x) == 1)
        units = layer["units"]
        return (units,), x[0] * units + (units if layer.get("bias", True) else 0), 0, x[0] * units
    if kind == "batchnorm":
        need(len(x) in (1, 3))
        return x, 2 * x[0], 2 * x[0], 0
    if kind in ("layernorm", "groupnorm", "scale"):  # a weight (and a shift) per channel
        need(len(x) in (1, 3))
        need(kind != "groupnorm" or x[0] % layer["groups"] == 0)
        return x, (1 if kind == "scale" else 2) * x[0], 0, 0
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
        )


@dataclass
class Scope:
    """One layer list being expanded: its name prefix and its outputs by local name."""

    prefix: str
    outputs: dict[str, str]
    previous: str
    unnamed: dict[str, int] = field(default_factory=dict)

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
            _node(expect, name_i, layer, ins, _owner(expect, name_i, sharing))
            ins = [name_i]
        out = ins[0]
    else:
        owner = scope.prefix + layer["share"] if "share" in layer else None
        if sharing is not None:
            owner = _owner(expect, full, sharing)
        _node(expect, full, layer, ins, owner)
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
    expect: Expect, name: str, layer: dict[str, Any], ins: list[str], owner: str | None
) -> None:
    shapes = [expect.shape(i) for i in ins]
    out, params, buffers, macs = formula(layer, shapes)
    # what the Keras emitter refuses: features that Keras orders differently from torch added
    # or multiplied with others, or grouped; shared weights seeing features in two orders
    orders = [expect.orders.get(i) for i in ins]
    if layer["type"] in ("add", "multiply"):
        need(all(o == orders[0] for o in orders))
    if layer["type"] == "groupnorm":
        need(orders[0] is None)
    if owner is not None:
        need(owner in expect.layers and owner not in expect.shares)
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
        scope = Scope(use + ".", {INPUT: out}, out)
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

    @property
    def refused(self) -> str | None:
        """Why the Keras emitter refuses the network (None: both backends build it)."""
        for layer in self.expect.layers.values():
            if layer["type"] in ("conv2d", "conv_transpose2d"):
                s, d = pair(layer.get("stride", 1)), pair(layer.get("dilation", 1))
                if max(s) > 1 and max(d) > 1:
                    return KERAS_REFUSAL
        return None

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "netspec": 1,
            "name": "Random",
            "input": {"shape": list(self.input_shape)},
        }
        if self.blocks:
            spec["blocks"] = self.blocks
        spec["layers"] = self.layers
        spec["train"] = self.train
        return spec

    def text(self) -> str:
        """The spec as YAML, one layer a line (each a JSON flow mapping, which YAML reads), to
        print with a failure: save it as spec.yaml and `netspec build` it to reproduce."""
        lines = ["netspec: 1", "name: Random", f"input: {json.dumps(self.spec()['input'])}"]
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
        """Whether the network computes a deterministic function while training (every dropout
        and drop_path rate and noise stddev is 0), so that training mode can be compared too."""
        return all(
            layer.get("rate", 0) == 0 and layer.get("stddev", 0) == 0
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

    def __init__(self, gen: Gen, shape: Shape, draft: BlockDraft | None = None) -> None:
        self.gen = gen
        self.draft = draft
        self.layers: list[dict[str, Any]] = []
        entry = INPUT if draft is None else f"{draft.name}_probe_input"
        prefix = "" if draft is None else f"{draft.name}_probe."
        self.expect = Expect({entry: shape})
        self.scope = Scope(prefix, {INPUT: entry}, entry)
        self.tail = INPUT
        self.count = 0

    @property
    def args(self) -> dict[str, Any]:
        return {} if self.draft is None else self.draft.values

    @property
    def depth(self) -> int:
        return 0 if self.draft is None else self.draft.depth

    def shape(self, ref: str | None = None) -> Shape:
        return self.expect.shape(self.scope.outputs[ref or self.tail])

    def fresh(self) -> str:
        self.count += 1
        return f"n{self.count}"

    def add(self, layer: dict[str, Any]) -> str:
        """Append `layer` (raises Invalid, leaving the list as it was, if it cannot be)."""
        expect, scope = self.expect.copy(), self.scope.copy()
        name = expand_layer(expect, scope, layer, self.args, self.gen.blocks)
        self.expect, self.scope = expect, scope
        self.layers.append(layer)
        self.tail = name
        return name

    def snapshot(self) -> tuple[Any, ...]:
        return (list(self.layers), self.expect, self.scope, self.tail)

    def restore(self, saved: tuple[Any, ...]) -> None:
        """Back to `saved` (names drawn since stay drawn: a name is never given twice)."""
        self.layers, self.expect, self.scope, self.tail = saved

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
    in_block = b.draft is not None
    if mult is not None:  # Keras refuses unequal depthwise strides
        s = [s[0], s[0]]
    if refuse:
        s, d = [2, gen.pick([1, 2])], [gen.pick([1, 2]), 2]
    elif max(s) > 1 and max(d) > 1:
        d = [1, 1]
    modes = ["number", "pair"] if numeric else ["valid", "same", "number", "pair"]
    if in_block and max(s) > 1 and "same" in modes:
        modes.remove("same")  # 'same' at a stride pads by input size: one block, many sizes
    mode = gen.pick(modes)
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


def make_elementwise(gen: Gen, b: Builder, kind: str | None = None) -> dict[str, Any]:
    """A layer that keeps its input's shape (an activation, dropout, drop_path, noise, a
    normalisation, a scale); a GroupNorm's groups divide the channels of the tail."""
    kind = kind or gen.pick(STANDALONE)
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

    def run(gen: Gen, b: Builder, *args: Any) -> None:
        saved = b.snapshot()
        try:
            step(gen, b, *args)
        except Invalid:
            b.restore(saved)

    return run


@all_or_nothing
def step_merge(gen: Gen, b: Builder, kind: str | None = None, count: int | None = None) -> None:
    """Branches from the current tail, merged by add, concat or multiply with the tail itself."""
    trunk, shape = b.tail, b.shape()
    kind = kind or gen.pick(["add", "concat", "add", "concat", "multiply"])
    count = count or gen.pick([2, 2, 3])
    image = len(shape) == 3
    axis = gen.pick([0, 1, 2]) if kind == "concat" and image else 0
    if kind == "concat" and image and gen.focus.startswith("concat_axis"):
        axis = int(gen.focus[-1])
    if image and axis and shape[axis] * count > 40:
        axis = 0
    branches = []
    for _ in range(count - 1):
        if gen.flip(40):
            layer = named(b, make_elementwise(gen, b, gen.pick(ACTIVATIONS)), trunk)
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
def step_gate(gen: Gen, b: Builder, kind: str | None = None) -> None:
    """The tail's channels scaled by a gate computed from it (squeeze-and-excitation): a
    keepdims global pool, 1x1 convs and a sigmoid, a (C, 1, 1) gate (`se`); or a global pool
    and a dense layer, a (C,) gate (`vector`); multiplied with the tail."""
    trunk, shape = b.tail, b.shape()
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
def step_residual(gen: Gen, b: Builder, rate: float | None = None) -> None:
    """A residual branch as ConvNeXt's and EfficientNet's: a conv (maybe depthwise) or a dense
    layer keeping the shape, maybe a normalisation, a layer scale, a drop_path, and the add
    with the tail (`rate`: the drop_path's, drawn if None)."""
    trunk, shape = b.tail, b.shape()
    if len(shape) == 3:
        branch = make_conv(gen, b, shape, filters=shape[0], keep=True, depthwise=40)
    else:
        branch = make_dense(gen, b, units=shape[0])
    b.add(named(b, branch, trunk))
    if gen.flip(40):
        b.add(make_elementwise(gen, b, gen.pick(["layernorm", "groupnorm", "batchnorm"])))
    if gen.wants("residual", 70):
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
    else:
        layer = named(b, make_elementwise(gen, b, "batchnorm"))
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
    rank = len(b.shape(source))
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
            b.add({"type": "concat", "inputs": [one, two]})
            return
        except Invalid:  # other arguments that change more than the channels
            b.restore(after_one)
    raise Invalid


def define_block(gen: Gen, b: Builder) -> BlockDraft | None:
    shape = b.shape()
    gen.block_count += 1
    draft = BlockDraft(f"blk{gen.block_count}", len(shape), b.depth + 1)
    body = Builder(gen, shape, draft)
    for _ in range(gen.int(1, 3)):
        STEPS[gen.pick(BLOCK_STEPS[len(body.shape())])](gen, body)
    if gen.focus == "block_params":
        step_repeat(gen, body)
    if gen.focus in ("block_reuse", "block_nested"):  # a parameter any value fits
        slope = body.param(gen.pick(ALPHAS), "slope", ALPHAS, force=True)
        body.add({"type": "leaky_relu", "alpha": slope})
    if gen.focus == "block_nested" and b.depth == 0:
        step_block(gen, body)
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
}
BLOCK_STEPS = {
    3: ["conv", "conv", "pool", "elementwise", "merge", "repeat", "share", "block"]
    + ["resample", "gate", "residual"],
    1: ["dense", "dense", "elementwise", "merge", "repeat", "share", "block", "residual"],
}
BODY_STEPS = {
    3: ["conv", "conv", "pool", "elementwise", "merge", "repeat", "share", "block"]
    + ["resample", "gate", "residual"],
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
        b.try_add(named(b, make_conv(gen, b, b.shape(), grouped=100)))
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
    elif focus.startswith("merge3_"):
        step_merge(gen, b, focus[len("merge3_") :], 3)
    elif focus.startswith("concat_axis"):
        step_merge(gen, b, "concat")
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


LOGIT_ACTIVATIONS = [None, None, "relu", "tanh", {"type": "leaky_relu", "alpha": 0.1}, "elu"]
"""What a cross_entropy network may end in (not softmax, log_softmax or sigmoid)."""


def head(gen: Gen, b: Builder, loss: str) -> None:
    """End the network so that its output fits `loss` (netspec.objective's rules)."""
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


def _pass_through(gen: Gen, b: Builder) -> None:
    """Sometimes a dropout or noise after the output layer (the output's kind passes)."""
    if gen.flip(15):
        b.add(make_elementwise(gen, b, gen.pick(["dropout", "gaussian_noise"])))


IMAGE_FOCI = {
    "conv",
    "conv_groups",
    "concat_axis1",
    "concat_axis2",
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


@st.composite
def networks(draw: st.DrawFn, focus: str | None = None) -> Net:
    """One random valid network, drawn around `focus` (one of `FOCI`; drawn if None)."""
    gen = Gen(draw, focus or draw(st.sampled_from(FOCI)))
    if gen.focus.startswith("loss_"):
        loss = gen.focus[len("loss_") :]
    elif gen.focus == "bce_sigmoid":
        loss = "binary_cross_entropy"
    elif gen.focus == "image_output":
        loss = "mse"
    else:
        loss = gen.pick([*LOSSES, "cross_entropy"])  # the common case, twice as often
    if gen.focus not in IMAGE_FOCI and gen.wants("flat_input", 25):
        shape: Shape = (gen.int(2, 12),)
    else:
        shape = (gen.int(1, 4), gen.int(4, 12), gen.int(4, 12))
    b = Builder(gen, shape)
    steps = gen.int(0, 3)
    focus_at = gen.int(0, steps)
    for i in range(steps + 1):
        if i == focus_at:
            focus_step(gen, b)
        else:
            STEPS[gen.pick(BODY_STEPS[len(b.shape())])](gen, b)
    head(gen, b, loss)
    train: dict[str, Any] = {"loss": loss}
    if gen.flip(50):
        train["optimizer"] = gen.pick(["sgd", "adam", {"type": "adamw", "lr": 0.01}])
    train["batch_size"] = 4
    return Net(shape, b.layers, gen.blocks, train, b.expect, gen.focus)


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
