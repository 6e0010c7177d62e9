"""The Keras 3 emitter: functional-API code, one class per block, backend-agnostic
(`keras.layers` only), channels-last as Keras users expect.

Layout: the model takes (H, W, C) images. It computes the same function as the torch model:
concat axes are mapped to channels-last, and Flatten flattens in Keras's (H, W, C) order, as
`keras.applications` models do; `netspec.weights` permutes the rows of the dense layer after a
flatten when it copies weights between backends. A flatten whose features reach an output in
place permutes the image to (C, H, W) first (`<name>.permute`), so that outputs and losses mean
what the spec says (`netspec.emit.orders`). Layer names are the spec's hierarchical names,
so weights are matched by name. Where Keras has no equivalent of a torch behaviour, explicit
layers keep the meaning: integer conv/avg-pool padding is a `ZeroPadding2D` (`<name>.pad`),
unless Keras's `padding="same"` pads alike (stride 1, padding dilation * (kernel - 1) / 2);
max-pool padding pads with -inf (`NegInfPadding2D`), as torch does; an activation with no
Keras string (leaky_relu, elu with alpha != 1) is a layer `<name>.act`.

Blocks and sharing: a block is a plain class (not a `keras.layers.Layer`) whose `__init__`
makes the block's layers and whose `__call__` applies them, as the torch emitter's module
classes do. Its layers are the model's own, top-level layers, named `<use>.<layer>`, so
`model.get_layer(name)` and matching weights by name work as without blocks; a Keras Layer
subclass would nest them out of `get_layer`'s reach. Sharing is calling one object again: a
layer that shares calls the owner's layer object (kept in a variable, or an attribute in a
class) between padding and activation layers of its own, which hold no weights; a block use
that shares calls the owner use's block object; a dense layer tied to an embedding calls the
embedding with `reverse=True` (its table transposed, as keras_hub's ReversibleEmbedding).

What each kind's layer takes is in `netspec.emit.keras_layers` (one function per kind).
"""

from __future__ import annotations

from typing import Any

from netspec.emit.base import (
    LINE_WIDTH,
    MODULE_NAMES,
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
    io_literals,
    literal,
    pystr,
    vocab_literal,
    wrap,
)
from netspec.emit.keras_layers import ARGUMENTS, CALLS, fused, keras_same, token_embedding
from netspec.emit.orders import feature_orders, torch_order
from netspec.ir import BlockCall
from netspec.network import Network

HELPERS = {
    "neg_inf_padding": "NegInfPadding2D",
    "batch_norm": "BatchNorm",
    "gelu": "GELU",
    "scale": "Scale",
    "drop_path": "DropPath",
    "token_embedding": "TokenEmbedding",
    "position_embedding": "PositionEmbedding",
    "class_token": "ClassToken",
    "select": "SelectStep",
    "recurrent": "Recurrent",
}
"""Layers the generated file defines (templates under `helpers/`), by template."""

KIND_HELPERS = {
    "batchnorm": "batch_norm",
    "gelu": "gelu",
    "scale": "scale",
    "drop_path": "drop_path",
    "position_embedding": "position_embedding",
    "class_token": "class_token",
    "select": "select",
    "lstm": "recurrent",
    "gru": "recurrent",
}
"""The helper each layer kind (or fused activation) needs."""

_PADDED = {"conv2d", "maxpool2d", "avgpool2d", "conv1d"}
"""Kinds whose integer `padding` Keras takes as a padding layer before them."""


class _Emitter:
    def __init__(self, network: Network) -> None:
        self.network = network
        self.env = environment("keras")
        self.classes: dict[str, str] = {}
        """The class of each block."""
        self.uses_neg_inf = False
        self.torch_order = torch_order(network)
        """The flattens that flatten in the spec's order (`netspec.emit.orders`)."""

    def layer_name(self, body: Body, local: str, suffix: str = "") -> str:
        if body.block is None:
            return f'f"{local}{suffix}"' if "{i}" in local else literal(local + suffix)
        return f'f"{{name}}.{local}{suffix}"'

    def pre(self, item: Item, body: Body, local: str) -> tuple[str, str] | None:
        """The layer Keras needs before this one to mean what the spec says, as (key suffix,
        constructor): explicit padding (zeros, or -inf before a max-pool, as torch pads), or
        the permutation to (C, H, W) before a flatten whose order an output shows
        (`netspec.emit.orders`)."""
        if item.kind == "flatten" and any(n.path in self.torch_order for n in item.nodes):
            if item.repeated:  # each copy would permute, the second a flat input
                raise EmitError(
                    f"layer {item.name!r} (line {item.line}): a repeated flatten whose features "
                    "reach an output: Keras permutes the image before it, which the later "
                    "copies cannot take; drop repeat (a flatten of flat features changes nothing)"
                )
            name = self.layer_name(body, local, ".permute")
            return ".permute", f"layers.Permute((3, 1, 2), name={name})"
        pad = getattr(item.layer, "padding", None)
        ceil = getattr(item.layer, "ceil_mode", False)  # maxpool2d's: a bool or a $param
        if item.kind not in _PADDED or pad in ("valid", "same", (0, 0)) and ceil is False:
            return None
        if item.kind in ("conv2d", "conv1d") and keras_same(item.layer):
            return None  # Keras's own "same" pads so
        name = self.layer_name(body, local, ".pad")
        if item.kind == "maxpool2d":
            self.uses_neg_inf = True
            if ceil is False:
                return ".pad", f"NegInfPadding2D({expr(pad)}, name={name})"
            layer = item.layer  # the end padded as far as the last window reaches:
            pool = f"({expr(layer.size)}, {expr(layer.strides())})"  # type: ignore[attr-defined]
            if ceil is not True:  # a block's parameter, known per use
                pool = f"{pool} if {expr(ceil)} else None"
            return ".pad", f"NegInfPadding2D({expr(pad)}, ceil={pool}, name={name})"
        if item.kind == "conv1d":
            if item.paddings == {"same"}:  # a block's argument: Keras's own "same" pads so
                return None
            if not all(isinstance(p, int) for p in item.paddings):  # 'valid' too: each use's
                pad = item.pads(self.network.shapes)
                if pad == (0, 0):
                    return None
            return ".pad", f"layers.ZeroPadding1D({expr(pad)}, name={name})"
        return ".pad", f"layers.ZeroPadding2D({expr(pad)}, name={name})"

    def post(self, item: Item, body: Body, local: str) -> list[tuple[str, str]]:
        """The layers after this one, as (key suffix, constructor): the crop that gives a
        transposed convolution torch's `padding`, and the activation layer of a fused
        activation with no Keras string."""
        steps = []
        crop = getattr(item.layer, "padding", None) if item.kind == "conv_transpose2d" else None
        if crop not in (None, (0, 0)):
            name = self.layer_name(body, local, ".crop")
            steps.append((".crop", f"layers.Cropping2D({expr(crop)}, name={name})"))
        _, separate = fused(getattr(item.layer, "activation", None))
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
        view = {"args": f"name={name}"} if fn is None else fn(self.network, item, name)
        return template.module.layer(view)

    def steps(self, body: Body, item: Item) -> list[tuple[str, str | None]]:
        """The layer objects an item applies, in order, as (key, constructor): its padding, its
        layer or block (constructor None: the owner's object, for a use that shares) and its
        activation layer. A sharing use has padding and activation of its own (they hold no
        weights): it computes exactly what its owner computes."""
        local = f"{item.name}.{{i}}" if item.repeated else item.name
        pre = self.pre(item, body, local)
        steps: list[tuple[str, str | None]] = [] if pre is None else [(item.name + pre[0], pre[1])]
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
        self.steps_of_item = self.steps(body, item)
        for key, ctor in self.steps_of_item:
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
        calls = CALLS.get(item.kind)
        apply: list[str] = []
        for key, obj in zip((k for k, _ in self.steps_of_item), objects):
            main = key == (item.shares or item.name)
            args = calls(item, [x] if item.repeated else ins) if calls and main else source
            if item.tied and main:  # the embedding applied transposed
                args = f"{source}, reverse=True"
            apply.append(f"{x} = {obj}({args})")
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
            "outputs": body.output_vars,
            "signature": wrap(f"def __init__(self{params}, *, name: str) -> None:", 4),
            "doc": literal(_doc(body, self.network)),
            "block": body.block,
        }


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


def _doc(body: Body, network: Network) -> str:
    if body.block is not None:
        return body.summary
    what = {
        1: "(F,) features",
        2: "(T, F) sequences",
        3: "(H, W, C) images, channels last",
    }[len(network.input_shape)]
    if network.several_inputs:
        what = ", ".join(network.graph.inputs) + " by name (a dict)"
    elif vocab_literal(network):
        what = "(T,) token ids"
    return f"A freshly initialised model; input {what}."


def _check_feature_orders(network: Network) -> None:
    """One Keras kernel serves every use of a shared dense or BatchNorm layer, so every use
    must see its features in the order the owner does (torch's order is the same everywhere)."""
    orders = feature_orders(network)
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


def _model_io(network: Network, model: dict[str, Any]) -> tuple[list[str], str]:
    """`build_model`'s first lines (one `keras.Input` per input, channels last, token ids
    int32) and the inputs and outputs of its `keras.Model(...)`: one input `inputs` (applied
    as `x`), or a dict by name; one output, or a list."""
    lines = []
    sources = network.spec.sources()
    for name, shape in network.input_shapes.items():
        keras_shape = (*shape[1:], shape[0]) if len(shape) == 3 else shape
        dtype = literal("int32") if sources[name].tokens else None
        var = "inputs" if not network.several_inputs else name
        made = call("keras.Input", shape=literal(keras_shape), dtype=dtype, name=pystr(name))
        lines.append(wrap(f"{var} = {made}", 4))
    if not network.several_inputs:
        lines.append("    x = inputs")
        given = "inputs"
    else:
        given = "{" + ", ".join(f"{pystr(n)}: {n}" for n in network.graph.inputs) + "}"
    outputs = model["outputs"] or [model["output"]]
    returned = outputs[0] if len(outputs) == 1 else "[" + ", ".join(outputs) + "]"
    return lines, f"{given}, {returned}"


def emit_model(network: Network) -> str:
    kinds = _kinds(network)
    _check_feature_orders(network)
    emitter = _Emitter(network)
    ns = Namespace({"keras", "layers", *MODULE_NAMES, *HELPERS.values()})
    views = []
    for body in bodies(network):
        if body.block is not None:
            emitter.classes[body.block] = ns.claim(camel(body.block))
        view = emitter.body_view(body)
        view["name"] = emitter.classes.get(body.block or "", "build_model")
        views.append(view)
    used = {KIND_HELPERS[k] for k in kinds if k in KIND_HELPERS}
    if emitter.uses_neg_inf:
        used.add("neg_inf_padding")
    if any(token_embedding(network, n) for n in network.nodes):
        used.add("token_embedding")
    inputs, model_io = _model_io(network, views[-1])
    return emitter.env.get_template("model.py.jinja").render(
        header=header(network),
        spec_doc=literal(network.spec.doc or f"{network.name}, generated by netspec."),
        blocks=views[:-1],
        model=views[-1],
        name=literal(network.name),
        input_shape=literal(network.input_shape),
        num_parameters=f"{network.params:_}",
        vocab=vocab_literal(network),
        **io_literals(network),
        num_buffers=f"{network.buffers:_}",
        helpers=[template for template in HELPERS if template in used],
        model_inputs=inputs,
        model_return=wrap(f"return keras.Model({model_io}, name={literal(network.name)})", 4),
    )
