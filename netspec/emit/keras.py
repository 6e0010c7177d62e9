"""The Keras 3 emitter: functional-API code, one class per block, backend-agnostic
(`keras.layers` only), channels-last as Keras users expect.

Layout: the model takes (H, W, C) images. It computes the same function as the torch model:
concat axes are mapped to channels-last, and Flatten flattens in Keras's (H, W, C) order, as
`keras.applications` models do; `netspec.weights` permutes the rows of the dense layer after a
flatten when it copies weights between backends. Layer names are the spec's hierarchical names,
so weights are matched by name. Where Keras has no equivalent of a torch behaviour, explicit
layers keep the meaning: integer conv/avg-pool padding is a `ZeroPadding2D` (`<name>.pad`);
max-pool padding pads with -inf (`NegInfPadding2D`), as torch does; an activation with no
Keras string (leaky_relu, elu with alpha != 1) is a layer `<name>.act`.

Blocks and sharing: a block is a plain class (not a `keras.layers.Layer`) whose `__init__`
makes the block's layers and whose `__call__` applies them, as the torch emitter's module
classes do. Its layers are the model's own, top-level layers, named `<use>.<layer>`, so
`model.get_layer(name)` and matching weights by name work as without blocks; a Keras Layer
subclass would nest them out of `get_layer`'s reach. Sharing is calling one object again: a
layer that shares calls the owner's layer object (kept in a variable, or an attribute in a
class) between padding and activation layers of its own, which hold no weights; a block use
that shares calls the owner use's block object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netspec.emit.base import (
    LINE_WIDTH,
    Body,
    EmitError,
    Item,
    Namespace,
    bodies,
    call,
    camel,
    commented,
    environment,
    expr,
    header,
    literal,
    wrap,
)
from netspec.ir import (
    ActivationFn,
    BatchNorm,
    BlockCall,
    Conv2d,
    ConvTranspose2d,
    Dense,
    GroupNorm,
    ParamRef,
    Upsample,
)
from netspec.network import Network
from netspec.passes import INPUT

HELPERS = {
    "neg_inf_padding": "NegInfPadding2D",
    "batch_norm": "BatchNorm",
    "gelu": "GELU",
    "scale": "Scale",
    "drop_path": "DropPath",
}
"""Layers the generated file defines (templates under `helpers/`), by template."""

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


def _fused(act: ActivationFn | None) -> tuple[str | None, str | None]:
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


_PADDED = {"conv2d", "maxpool2d", "avgpool2d"}
"""Kinds whose integer `padding` Keras takes as a padding layer before them."""


class _Emitter:
    def __init__(self, network: Network) -> None:
        self.network = network
        self.env = environment("keras")
        self.classes: dict[str, str] = {}
        """The class of each block."""
        self.uses_neg_inf = False

    def layer_name(self, body: Body, local: str, suffix: str = "") -> str:
        if body.block is None:
            return f'f"{local}{suffix}"' if "{i}" in local else literal(local + suffix)
        return f'f"{{name}}.{local}{suffix}"'

    def pre(self, item: Item, body: Body, local: str) -> str | None:
        """The layer Keras needs before this one to mean what the spec says: explicit padding
        (zeros, or -inf before a max-pool, as torch pads), as a constructor."""
        pad = getattr(item.layer, "padding", None)
        if item.kind not in _PADDED or pad in ("valid", "same", (0, 0)):
            return None
        name = self.layer_name(body, local, ".pad")
        if item.kind == "maxpool2d":
            self.uses_neg_inf = True
            return f"NegInfPadding2D({expr(pad)}, name={name})"
        return f"layers.ZeroPadding2D({expr(pad)}, name={name})"

    def post(self, item: Item, body: Body, local: str) -> list[tuple[str, str]]:
        """The layers after this one, as (key suffix, constructor): the crop that gives a
        transposed convolution torch's `padding`, and the activation layer of a fused
        activation with no Keras string."""
        steps = []
        crop = getattr(item.layer, "padding", None) if item.kind == "conv_transpose2d" else None
        if crop not in (None, (0, 0)):
            name = self.layer_name(body, local, ".crop")
            steps.append((".crop", f"layers.Cropping2D({expr(crop)}, name={name})"))
        _, separate = _fused(getattr(item.layer, "activation", None))
        if separate is not None:
            steps.append((".act", f"{separate}, name={self.layer_name(body, local, '.act')})"))
        return steps

    def core(self, body: Body, item: Item, local: str) -> str:
        """The constructor of the item's own layer, or of its block's class."""
        layer, name = item.layer, self.layer_name(body, local)
        if isinstance(layer, BlockCall):
            args = [f"{k}={expr(v)}" for k, v in layer.args.items()]
            return call(self.classes[layer.block], *args, name=name)
        template = self.env.get_template(f"layers/{item.kind}.py.jinja")
        fn = ARGUMENTS.get(item.kind)
        view = {"args": f"name={name}"} if fn is None else fn(self, item, name)
        return template.module.layer(view)

    def steps(self, body: Body, item: Item) -> list[tuple[str, str | None]]:
        """The layer objects an item applies, in order, as (key, constructor): its padding, its
        layer or block (constructor None: the owner's object, for a use that shares) and its
        activation layer. A sharing use has padding and activation of its own (they hold no
        weights): it computes exactly what its owner computes."""
        local = f"{item.name}.{{i}}" if item.repeated else item.name
        pre = self.pre(item, body, local)
        steps: list[tuple[str, str | None]] = [] if pre is None else [(f"{item.name}.pad", pre)]
        if item.shares is not None:
            steps.append((item.shares, None))
        else:
            steps.append((item.name, self.core(body, item, local)))
        return steps + [(item.name + key, ctor) for key, ctor in self.post(item, body, local)]

    def statements(self, body: Body, item: Item, ns: Namespace) -> tuple[list[str], list[str]]:
        """(lines that make the item's layers, lines that apply them). In a block's class the
        first are `__init__`'s, each layer an attribute; in `build_model` a layer is made where
        it is applied, except one that a later layer shares, kept in a variable."""
        x, ins = item.var, item.input_vars
        make: list[str] = []
        objects: list[str] = []
        for key, ctor in self.steps(body, item):
            if ctor is None:
                objects.append(self.objects[key])
            elif body.block is not None:
                attr = "self." + (key if key == item.name else ns.claim(key))
                if item.repeated:
                    make.append(_listed(attr, ctor, expr(item.layer.repeat)))
                else:
                    make.append(f"{attr} = {ctor}")
                objects.append(attr + ("[i]" if item.repeated else ""))
                self.objects[key] = attr
            elif key in self.owners:
                kind = "block" if isinstance(item.layer, BlockCall) else "layer"
                self.objects[key] = ns.claim(f"{key}_{kind}")
                make.append(f"{self.objects[key]} = {ctor}")
                objects.append(self.objects[key])
            else:
                objects.append(ctor)
        source = x if item.repeated else ins[0] if len(ins) == 1 else "[" + ", ".join(ins) + "]"
        apply: list[str] = []
        for obj in objects:
            apply.append(f"{x} = {obj}({source})")
            source = x
        if not item.repeated:
            return make, apply
        count = f"len(self.{item.name})" if body.block else expr(item.layer.repeat)
        first = [] if ins[0] == x else [f"{x} = {ins[0]}"]
        return make, first + [f"for i in range({count}):"] + ["    " + a for a in apply]

    def body_view(self, body: Body) -> dict[str, Any]:
        """A block's class (`init`: its `__init__`, `lines`: its `__call__`), or `build_model`
        (`lines` only)."""
        self.owners = {i.shares for i in body.items if i.shares}
        self.objects: dict[str, str] = {}
        """The object (variable or attribute) of each layer made so far, by key (`steps`)."""
        names = Namespace(
            {i.name for i in body.items}
            | {"x", "identity", "name", "inputs", "i"}
            | set(body.params)
        )
        depth = 8 if body.block else 4
        init: list[str] = []
        lines = [" " * depth + "identity = x"] if body.input_var == "identity" else []
        for item in body.items:
            make, apply = self.statements(body, item, names)
            if body.block is None:
                make, apply = [], make + apply
            comment = f"# spec line {item.line}"
            init += _indented(make, comment, depth)
            lines += _indented(apply, comment, depth)
        params = "".join(f", {p}: {t}" for p, t in body.params.items())
        return {
            "init": init,
            "lines": lines,
            "output": body.output_var,
            "signature": wrap(f"def __init__(self{params}, *, name: str) -> None:", 4),
            "doc": literal(_doc(body)),
            "block": body.block,
        }


Arguments = Callable[["_Emitter", Item, str], dict[str, Any]]
ARGUMENTS: dict[str, Arguments] = {}
"""What each kind's layer template needs, by kind (a kind with no entry takes only its
`name=`): one function per kind, so a new kind is one entry here and one template."""


def arguments(*kinds: str) -> Callable[[Arguments], Arguments]:
    def register(fn: Arguments) -> Arguments:
        for kind in kinds:
            ARGUMENTS[kind] = fn
        return fn

    return register


def _call(*args: str, **kwargs: str | None) -> dict[str, Any]:
    """A template view whose `args` are a constructor's arguments."""
    return {"args": call("", *args, **kwargs)[1:-1]}


def _refuse(item: Item, unsupported: Callable[[Any], bool], what: str) -> None:
    """Refuse what Keras (or TensorFlow's CPU kernels) cannot run, checked on every concrete
    copy of the item (block parameters may differ between uses)."""
    if any(unsupported(n.layer) for use in item.uses for n in use):
        raise EmitError(f"layer {item.name!r} (line {item.line}): Keras {what}")


@arguments("conv2d")
def _conv2d(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
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
    act, _ = _fused(layer.activation)
    common = {
        "strides": _kw(layer.stride, (1, 1)),
        "padding": literal("same") if layer.padding == "same" else None,
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
def _conv_transpose2d(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    """Keras's 'valid' transposed convolution with an explicit `output_padding` computes
    torch's size before its padding, which a crop (`post`) then removes."""
    layer = item.layer
    assert isinstance(layer, ConvTranspose2d)
    _refuse(
        item,
        lambda c: c.dilation != (1, 1),
        "(TensorFlow's CPU kernels) transposed convolutions take no dilation above 1",
    )
    act, _ = _fused(layer.activation)
    # Keras's default output_padding (None) differs from torch's where the kernel is smaller
    # than the stride; an explicit one always means torch's formula
    explicit = layer.output_padding != (0, 0) or any(
        k < s for k, s in zip(layer.kernel, layer.stride)
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
def _pool2d(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    return _call(expr(item.layer.size), strides=_kw(item.layer.stride, None), name=name)  # type: ignore[attr-defined]


@arguments("global_avgpool2d", "global_maxpool2d")
def _global_pool2d(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    keepdims = item.layer.keepdims  # type: ignore[attr-defined]
    return _call(keepdims="True" if keepdims else None, name=name)


@arguments("upsample")
def _upsample(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, Upsample)
    return _call(expr(layer.scale), interpolation=literal(layer.mode), name=name)


@arguments("dense")
def _dense(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, Dense)
    act, _ = _fused(layer.activation)
    return _call(expr(layer.units), activation=act, use_bias=_kw(layer.bias, True), name=name)


@arguments("batchnorm")
def _batchnorm(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, BatchNorm)
    m = layer.momentum
    momentum = f"1 - {m}" if isinstance(m, ParamRef) else repr(round(1 - m, 12))
    return _call(axis="-1", momentum=momentum, epsilon=expr(layer.epsilon), name=name)


@arguments("layernorm")
def _layernorm(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    return _call(axis="-1", epsilon=expr(item.layer.epsilon), name=name)  # type: ignore[attr-defined]


@arguments("groupnorm")
def _groupnorm(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    layer = item.layer
    assert isinstance(layer, GroupNorm)
    return _call(expr(layer.groups), axis="-1", epsilon=expr(layer.epsilon), name=name)


@arguments("scale")
def _scale(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    return _call(expr(item.layer.init), name=name)  # type: ignore[attr-defined]


@arguments("dropout", "drop_path")
def _rate(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    return _call(expr(item.layer.rate), name=name)  # type: ignore[attr-defined]


@arguments("gaussian_noise")
def _gaussian_noise(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    return _call(expr(item.layer.stddev), name=name)  # type: ignore[attr-defined]


@arguments("leaky_relu")
def _leaky_relu(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    return _call(negative_slope=expr(item.layer.alpha), name=name)  # type: ignore[attr-defined]


@arguments("elu")
def _elu(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    return _call(alpha=expr(item.layer.alpha), name=name)  # type: ignore[attr-defined]


@arguments("softmax")
def _softmax(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    return _call(axis="-1", name=name)


@arguments("gelu")
def _gelu(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    return _call(approximate=str(item.layer.approximate == "tanh"), name=name)  # type: ignore[attr-defined]


@arguments("sigmoid", "tanh", "log_softmax", "relu6", "silu", "hardswish", "hardsigmoid")
def _activation(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    return _call(literal(KERAS_ACTIVATIONS[item.kind]), name=name)


@arguments("concat")
def _concat(emitter: _Emitter, item: Item, name: str) -> dict[str, Any]:
    shapes = emitter.network.shapes
    rank = item.uniform("input rank", lambda n: len(shapes[n.inputs[0]]))
    axis = -1 if rank == 1 or item.layer.axis == 0 else item.layer.axis  # type: ignore[attr-defined]
    return _call(axis=str(axis), name=name)


def _listed(attr: str, ctor: str, count: str) -> str:
    """`attr = [ctor for i in range(count)]` in a class's `__init__` (depth 8), formatted as
    ruff format does: on one line, else the comprehension on its own line, else the
    constructor wrapped above its `for`."""
    line = f"{attr} = [{ctor} for i in range({count})]"
    if 8 + len(line) <= LINE_WIDTH:
        return line
    inner = f"{ctor} for i in range({count})"
    if 12 + len(inner) <= LINE_WIDTH:
        return f"{attr} = [\n            {inner}\n        ]"
    return f"{attr} = [\n{wrap(ctor, 12)}\n            for i in range({count})\n        ]"


def _indented(lines: list[str], comment: str, base: int) -> list[str]:
    """Lines at `base` plus their own leading spaces, wrapped as ruff format would (a line
    already split is kept); the first carries the spec-line comment."""
    result = []
    for index, line in enumerate(lines):
        text = line.lstrip(" ")
        depth = base + len(line) - len(text)
        if index == 0:
            result.append(commented(text, comment, depth))
        else:
            result.append(" " * depth + text if "\n" in text else wrap(text, depth))
    return result


def _doc(body: Body) -> str:
    if body.block is None:
        return "A freshly initialised model; input (H, W, C) images, channels last."
    return body.summary


def _kw(value: Any, default: Any) -> str | None:
    return None if value == default else expr(value)


def _feature_orders(network: Network) -> dict[str, Any]:
    """For each node, how Keras orders its features against torch, as a comparable value (None:
    alike). Only flat features from a flatten of an image differ (Keras flattens (H, W, C)):
    the walk of `netspec.weights.feature_orders`, describing orders instead of computing them
    (an emitter needs no numpy)."""
    orders: dict[str, Any] = {INPUT: None}
    for node in network.nodes:
        kind = node.layer.type  # type: ignore[attr-defined]
        ins = [orders[i] for i in node.inputs]
        in_shape = network.shapes[node.inputs[0]]
        if kind == "flatten" and len(in_shape) == 3:
            permuted = in_shape[0] > 1 and in_shape[1] * in_shape[2] > 1
            orders[node.name] = in_shape if permuted else None
        elif kind == "dense" or len(in_shape) == 3 or len(network.shapes[node.name]) != 1:
            orders[node.name] = None
        elif kind == "concat":
            sizes = [network.shapes[i][0] for i in node.inputs]
            orders[node.name] = None if ins == [None] * len(ins) else tuple(zip(ins, sizes))
        else:
            orders[node.name] = ins[0]
    return orders


def _check_feature_orders(network: Network) -> None:
    """One Keras kernel serves every use of a shared dense or BatchNorm layer, so every use
    must see its features in the order the owner does (torch's order is the same everywhere)."""
    orders = _feature_orders(network)
    by_name = {n.name: n for n in network.nodes}
    for node in network.nodes:
        kind = node.layer.type  # type: ignore[attr-defined]
        ins = [orders[i] for i in node.inputs]
        mixed = kind in ("add", "multiply") and any(o != ins[0] for o in ins)
        if mixed or (kind == "groupnorm" and ins[0] is not None):
            line = network.document.source.locate(node.path)[0]
            what = {"add": "adds", "multiply": "multiplies", "groupnorm": "groups"}[kind]
            raise EmitError(
                f"layer {node.name!r} (line {line}) {what} features that Keras orders "
                "differently from torch (it flattens images as (H, W, C), torch as (C, H, W)); "
                "apply it before the flatten, or to features that are not from a flatten"
            )
        owner = by_name.get(node.shares or "")
        if owner is None or not network.stats[owner.name].params:
            continue
        if orders[node.inputs[0]] != orders[owner.inputs[0]]:
            line = network.document.source.locate(node.path)[0]
            raise EmitError(
                f"layer {node.name!r} (line {line}) shares {owner.name!r}, but Keras sees their "
                "inputs' features in different orders (it flattens images as (H, W, C), torch "
                "as (C, H, W)); feed both from flattens of images of one shape"
            )


def _kinds(network: Network) -> set[str]:
    """The layer kinds and fused activations the network uses."""
    kinds = set()
    for node in network.nodes:
        kinds.add(node.layer.type)  # type: ignore[attr-defined]
        fused = getattr(node.layer, "activation", None)
        if fused is not None:
            kinds.add(fused.type)
    return kinds


def emit_model(network: Network) -> str:
    kinds = _kinds(network)
    _check_feature_orders(network)
    emitter = _Emitter(network)
    ns = Namespace(
        {"keras", "layers", "INPUT_SHAPE", "NUM_PARAMETERS", "build_model", *HELPERS.values()}
    )
    views = []
    for body in bodies(network):
        if body.block is not None:
            emitter.classes[body.block] = ns.claim(camel(body.block))
        view = emitter.body_view(body)
        view["name"] = emitter.classes.get(body.block or "", "build_model")
        views.append(view)
    shape = network.input_shape
    keras_shape = (*shape[1:], shape[0]) if len(shape) == 3 else shape
    return emitter.env.get_template("model.py.jinja").render(
        header=header(network),
        spec_doc=literal(network.spec.doc or f"{network.name}, generated by netspec."),
        blocks=views[:-1],
        model=views[-1],
        name=literal(network.name),
        input_shape=literal(shape),
        keras_shape=literal(keras_shape),
        num_parameters=f"{network.params:_}",
        num_buffers=f"{network.buffers:_}",
        helpers=[
            template
            for template, used in (
                ("neg_inf_padding", emitter.uses_neg_inf),
                ("batch_norm", "batchnorm" in kinds),
                ("gelu", "gelu" in kinds),
                ("scale", "scale" in kinds),
                ("drop_path", "drop_path" in kinds),
            )
            if used
        ],
    )
