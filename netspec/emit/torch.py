"""The PyTorch emitter: one `nn.Module` class per block and one for the network.

Every layer of the spec is a submodule named as in the spec, so `state_dict()` keys are the
spec's hierarchical names (`block3.conv.1.weight`); `repeat` becomes an `nn.ModuleList`.
Fused activations are applied functionally in `forward` (a block parameter they use, such as
`alpha: $slope`, is kept as an attribute by the constructor). Constructors of block classes take
`in_channels` and the block's parameters, and every channel count inside is an expression of
them, so one class serves every use of the block (as torchvision's `BasicBlock` does).

A layer or block use that shares (`share:`) has no submodule: `forward` calls the owner's
(`self.enc(x)`), padding explicitly and activating as the owner does, since their input shapes
and configuration are equal (checked by the passes); a dense layer tied to an embedding applies
its table through a module without weights (`self.logits(x, self.tok.weight)`).

What each kind's module takes is in `netspec.emit.torch_layers` (one function per kind).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from netspec.emit.base import (
    MODULE_NAMES,
    Body,
    Item,
    Namespace,
    bodies,
    camel,
    commented,
    environment,
    expr,
    header,
    io_literals,
    literal,
    vocab_literal,
    wrap,
)
from netspec.emit.torch_layers import (
    Context,
    asymmetric_pad,
    feature_dim,
    in_place,
    module_args,
    runtime_same,
)
from netspec.ir import ActivationFn, BlockCall, ParamRef, features
from netspec.network import Network
from netspec.passes import INPUT

HELPERS = {
    "same_padding": "same_padding",
    "gaussian_noise": "GaussianNoise",
    "add": "Add",
    "concat": "Concat",
    "multiply": "Multiply",
    "scale": "Scale",
    "drop_path": "DropPath",
    "layernorm": "LayerNorm2d",
    "embedding": "Embedding",
    "tied": "TiedLinear",
    "position_embedding": "PositionEmbedding",
    "class_token": "ClassToken",
    "to_sequence": "ToSequence",
    "select": "Select",
    "conv1d": "SequenceConv1d",
    "maxpool1d": "SequenceMaxPool1d",
    "avgpool1d": "SequenceAvgPool1d",
    "global_avgpool1d": "GlobalAvgPool1d",
    "global_maxpool1d": "GlobalMaxPool1d",
    "multihead_attention": "MultiheadAttention",
    "lstm": "LSTM",
    "gru": "GRU",
}
"""Layer kinds torch has no module for, or none that takes (N, T, F) sequences as they come: the
generated file defines a small one, a subclass of torch's where there is one, so state_dict keys
stay torch's (LayerNorm2d: torch's LayerNorm normalises the last axis; images need their channel
axis; the 1-D convolutions and pools transpose to torch's (N, F, T))."""

_FUSED: dict[str, Callable[[ActivationFn, str, str], str]] = {
    "relu": lambda a, x, dim: f"F.relu({x})",
    "sigmoid": lambda a, x, dim: f"torch.sigmoid({x})",
    "tanh": lambda a, x, dim: f"torch.tanh({x})",
    "leaky_relu": lambda a, x, dim: f"F.leaky_relu({x}, {expr(a.alpha)})",  # type: ignore[attr-defined]
    "elu": lambda a, x, dim: f"F.elu({x}, {expr(a.alpha)})",  # type: ignore[attr-defined]
    "softmax": lambda a, x, dim: f"F.softmax({x}, dim={dim})",
    "log_softmax": lambda a, x, dim: f"F.log_softmax({x}, dim={dim})",
    "relu6": lambda a, x, dim: f"F.relu6({x})",
    "silu": lambda a, x, dim: f"F.silu({x})",
    "gelu": lambda a, x, dim: (
        f'F.gelu({x}, approximate="tanh")'
        if a.approximate == "tanh"  # type: ignore[attr-defined]
        else f"F.gelu({x})"
    ),
    "hardswish": lambda a, x, dim: f"F.hardswish({x})",
    "hardsigmoid": lambda a, x, dim: f"F.hardsigmoid({x})",
}


def _channels(item: Item, ctx: Context, ins: list[str]) -> str:
    layer = item.layer
    if isinstance(layer, BlockCall):
        result = ctx.block_out[layer.block]
        defaults = ctx.network.spec.blocks[layer.block].params
        args = {**{k: v for k, v in defaults.items() if v is not None}, **layer.args}
        mapping = {"in_channels": ins[0], **{k: expr(v) for k, v in args.items()}}
        return _simplified(_substituted(result, mapping))
    shapes = ctx.network.shapes
    out = layer.channels(ins, item.uniform("input rank", lambda n: len(shapes[n.inputs[0]])))
    if out is None:
        return str(item.uniform("flattened size", lambda n: features(shapes[n.name])))
    return out


def _substituted(expression: str, mapping: dict[str, str]) -> str:
    """A block's channel expression with its names (`in_channels`, parameters) replaced by the
    use's; a replacement is parenthesised in a product (a depthwise conv's `in_channels * m`)."""
    product = "*" in expression

    def one(match: re.Match[str]) -> str:
        value = mapping.get(match.group(0), match.group(0))
        simple = value.isidentifier() or value.isdigit()
        return f"({value})" if product and not simple else value

    return re.sub(r"(?<![\w.])[A-Za-z_]\w*(?![\w.])", one, expression)


def _simplified(expression: str) -> str:
    """`max(a, a)` is `a`, and a `max` of numbers its value (a multiply's channels, in a block
    used with its gate as wide as its input)."""

    def one(match: re.Match[str]) -> str:
        args = [a.strip() for a in match.group(1).split(",")]
        if len(set(args)) == 1:
            return args[0]
        if all(a.isdigit() for a in args):
            return str(max(int(a) for a in args))
        return match.group(0)

    return re.sub(r"max\(([^()]*)\)", one, expression)


def _fixed(item: Item, ctx: Context, out: str) -> bool:
    """Whether every copy of a repeated block takes the channels the first one gives (so one
    constructor expression serves them all)."""
    return "self." not in out and _channels(item, ctx, [out]) == out


def _body_view(body: Body, ctx: Context, env: Any, ns: Namespace) -> dict[str, Any]:
    if body.block:
        ctx.channels = {INPUT: "in_channels"}
    else:
        shapes = ctx.network.input_shapes.items()
        ctx.channels = {name: str(features(shape)) for name, shape in shapes}
    ctx.attrs = Namespace({item.name for item in body.items})
    ctx.in_place = in_place(body)
    init: list[str] = []
    forward: list[str] = []
    if body.input_var == "identity":
        forward.append("        identity = x")
    previous = INPUT if body.block or not ctx.network.several_inputs else ""
    for item in body.items:
        refs = item.layer.inputs or [previous]
        ins = [ctx.channels[r] for r in refs]
        out = _channels(item, ctx, ins)
        layer = item.layer
        if isinstance(layer, BlockCall) and "self." in ctx.block_out[layer.block]:
            ctx.needs_out.add(layer.block)  # its channels are known once it is built
            out = f"self.{item.shares or item.name}.out_channels"
        ctx.channels[item.name] = out
        previous = item.name
        line = f"# spec line {item.line}"
        if item.tied:  # no weights of its own: it is given the embedding's
            init.append(commented(f"self.{item.name} = TiedLinear()", line, 8))
        elif item.shares is None:
            template = env.get_template(f"layers/{item.kind}.py.jinja")
            if item.repeated and isinstance(layer, BlockCall) and not _fixed(item, ctx, out):
                # each copy's channels follow from the one before: build them in a chain
                ctx.needs_out.add(layer.block)
                ctx.channels[item.name] = f"self.{item.name}[-1].out_channels"
                first = template.module.module(module_args(item, ctx, ins[:1]))
                more = template.module.module(
                    module_args(item, ctx, [f"self.{item.name}[-1].out_channels"])
                )
                init.append(commented(f"self.{item.name} = nn.ModuleList([{first}])", line, 8))
                init.append(f"        for _ in range({expr(layer.repeat)} - 1):")
                init.append(wrap(f"self.{item.name}.append({more})", 12))
            elif item.repeated and _channels(item, ctx, [out]) != out:
                # each copy's channels follow from the one before (a depthwise conv with a
                # multiplier): build them in a chain
                ctx.channels[item.name] = f"self.{item.name}[-1].out_channels"
                first = template.module.module(module_args(item, ctx, ins[:1]))
                more = template.module.module(
                    module_args(item, ctx, [f"self.{item.name}[-1].out_channels"])
                )
                init.append(commented(f"self.{item.name} = nn.ModuleList()", line, 8))
                init.append(wrap(f"self.{item.name}.append({first})", 8))
                init.append(f"        for _ in range({expr(layer.repeat)} - 1):")
                init.append(wrap(f"self.{item.name}.append({more})", 12))
            elif item.repeated:
                first = ins[0] if ins[0] == out else f"{ins[0]} if i == 0 else {out}"
                ctor = template.module.module(module_args(item, ctx, [first]))
                loop = f"for {'_' if first == ins[0] else 'i'} in range({expr(item.layer.repeat)})"
                statement = f"self.{item.name} = nn.ModuleList({ctor} {loop})"
                if len(statement) + 8 > 88:
                    inner = f"{ctor} {loop}"
                    inner = (
                        f"            {inner}"
                        if len(inner) + 12 <= 88
                        else f"{wrap(ctor, 12)}\n            {loop}"
                    )
                    statement = f"self.{item.name} = nn.ModuleList(\n{inner}\n        )"
                init.append(commented(statement, line, 8))
            else:
                ctor = template.module.module(module_args(item, ctx, ins))
                statement = f"self.{item.name} = {ctor}"
                init.append(commented(statement, line, 8))
        forward.extend(_forward(item, ctx))
    return {
        "name": ns.claim(camel(body.block)) if body.block else None,
        "block": body.block,
        "params": body.params,
        "signature": _signature(body),
        "doc": literal(body.summary),
        "line": body.line,
        "init": [f"        self.{a} = {p}" for p, a in ctx.kept.items()] + init,
        "forward": forward,
        "forward_signature": _forward_signature(body),
        "output": _returned(body),
        "out_channels": ctx.channels[previous],
    }


def _kept(act: ActivationFn | None, ctx: Context) -> ActivationFn | None:
    """`act` as `forward` reads it: a block parameter (`$slope`) becomes the attribute that
    keeps it (`self.slope`), since only the constructor gets the block's arguments."""
    if act is None:
        return None
    update = {}
    for key, value in act:
        if isinstance(value, ParamRef):
            if value not in ctx.kept:
                ctx.kept[value] = ctx.attrs.claim(value)
            update[key] = ParamRef(f"self.{ctx.kept[value]}")
    return act.model_copy(update=update)


def _forward_signature(body: Body) -> str:
    """`forward`'s line: one tensor `x`, or the network's named inputs; a tuple of tensors
    back for several outputs."""
    args = "".join(f", {a}: torch.Tensor" for a in body.args)
    returns = "torch.Tensor"
    if body.output_vars:
        returns = f"tuple[{', '.join(['torch.Tensor'] * len(body.output_vars))}]"
    return wrap(f"def forward(self{args}) -> {returns}:", 4)


def _returned(body: Body) -> str:
    return ", ".join(body.output_vars) if body.output_vars else body.output_var


def _signature(body: Body) -> str:
    """A block class's `__init__` line, wrapped as ruff format would."""
    params = "".join(f", {p}: {t}" for p, t in body.params.items())
    return wrap(f"def __init__(self, in_channels: int{params}) -> None:", 4)


def _forward(item: Item, ctx: Context) -> list[str]:
    pad = " " * 8
    target = item.shares or item.name
    act = _kept(getattr(item.layer, "activation", None), ctx)

    def fused(x: str) -> str:
        return _FUSED[act.type](act, x, feature_dim(item, ctx)) if act is not None else x

    uneven = asymmetric_pad(item, ctx)
    sized = runtime_same(item, ctx) and item.kind == "conv2d"  # (SequenceConv1d pads itself)

    def padded(x: str, conv: str) -> str:
        """`x` as a 'same' conv2d that torch cannot pad itself takes it."""
        if uneven is not None:  # the same for every use and copy
            return f"F.pad({x}, {literal(uneven)})"
        return f"same_padding({x}, {conv})" if sized else x

    if item.repeated:
        lines = (
            [] if item.input_vars[0] == item.var else [f"{pad}{item.var} = {item.input_vars[0]}"]
        )
        lines.append(f"{pad}for module in self.{target}:")
        x = padded(item.var, "module")
        lines.append(wrap(f"{item.var} = {fused(f'module({x})')}", 12))
        return lines
    args = ", ".join(item.input_vars)
    if item.tied:  # the embedding's (vocab, dim) table is an (out, in) weight
        call = f"self.{item.name}({args}, self.{target}.weight)"
        return [wrap(f"{item.var} = {fused(call)}", 8)]
    args = padded(args, f"self.{target}")
    return [wrap(f"{item.var} = {fused(f'self.{target}({args})')}", 8)]


def emit_model(network: Network) -> str:
    env = environment("torch")
    ns = Namespace({"torch", "nn", "F", *MODULE_NAMES, *HELPERS.values()})
    model_class = ns.claim(network.name)
    classes: dict[str, str] = {}
    block_out: dict[str, str] = {}
    needs_out: set[str] = set()
    views = []
    padded = False  # some 'same' convolution pads in forward as its input's size needs
    for body in bodies(network):
        ctx = Context(network, classes, block_out)
        ctx.needs_out = needs_out
        view = _body_view(body, ctx, env, ns)
        if any(runtime_same(item, ctx) for item in body.items):
            padded = True
        if body.block:
            classes[body.block] = view["name"]
            block_out[body.block] = view["out_channels"]
        else:
            view["name"] = model_class
        views.append(view)
    for view in views:  # blocks whose users read their channels from the built module
        if view["block"] in needs_out:
            view["init"].append(f"        self.out_channels = {view['out_channels']}")
    kinds = {n.layer.type for n in network.nodes}  # type: ignore[attr-defined]
    if not any(
        n.layer.type == "layernorm" and len(network.shapes[n.inputs[0]]) == 3  # type: ignore[attr-defined]
        for n in network.nodes
    ):
        kinds.discard("layernorm")  # nn.LayerNorm serves (F,) features
    owners = {n.name: n.layer.type for n in network.nodes}  # type: ignore[attr-defined]
    if any(owners.get(n.shares or "") == "embedding" for n in network.nodes):
        kinds.add("tied")  # a dense layer tied to an embedding
    if padded or "conv1d" in kinds:  # (SequenceConv1d calls it where its pad is "same")
        kinds.add("same_padding")
    return env.get_template("model.py.jinja").render(
        header=header(network),
        spec_doc=literal(network.spec.doc or f"{network.name}, generated by netspec."),
        views=views,
        helpers=[k for k in HELPERS if k in kinds],
        model=model_class,
        input_shape=literal(network.input_shape),
        num_parameters=f"{network.params:_}",
        vocab=vocab_literal(network),
        **io_literals(network),
        uses_functional=bool({"conv1d", "tied", "same_padding"} & kinds)
        or any("F." in line for v in views for line in v["forward"]),
    )
