"""The Keras 3 emitter: functional-API code, one function per block, backend-agnostic
(`keras.layers` only), channels-last as Keras users expect.

Layout: the model takes (H, W, C) images. It computes the same function as the torch model:
concat axes are mapped to channels-last, and Flatten flattens in Keras's (H, W, C) order, as
`keras.applications` models do; `netspec.weights` permutes the rows of the dense layer after a
flatten when it copies weights between backends. Layer names are the spec's hierarchical names,
so weights are matched by name. Where Keras has no equivalent of a torch behaviour, explicit
layers keep the meaning: integer conv/avg-pool padding is a `ZeroPadding2D` (`<name>.pad`);
max-pool padding pads with -inf (`NegInfPadding2D`), as torch does.
"""

from __future__ import annotations

from typing import Any

from netspec.emit.base import (
    Body,
    EmitError,
    Item,
    Namespace,
    bodies,
    call,
    commented,
    environment,
    expr,
    header,
    literal,
    wrap,
)
from netspec.ir import ActivationFn, BlockCall, Conv2d, ParamRef
from netspec.network import Network

_STRING_ACTIVATIONS = {"relu", "sigmoid", "tanh", "softmax"}


def _fused(act: ActivationFn | None) -> tuple[str | None, str | None]:
    """(activation= argument, separate activation layer) for a fused activation."""
    if act is None:
        return None, None
    if act.type in _STRING_ACTIVATIONS or (act.type == "elu" and act.alpha == 1.0):  # type: ignore[attr-defined]
        return literal(act.type), None
    if act.type == "leaky_relu":
        return None, f"layers.LeakyReLU(negative_slope={expr(act.alpha)}"  # type: ignore[attr-defined]
    return None, f"layers.ELU(alpha={expr(act.alpha)}"  # type: ignore[attr-defined]


class _Emitter:
    def __init__(self, network: Network) -> None:
        self.network = network
        self.env = environment("keras")
        self.functions: dict[str, str] = {}
        self.uses_neg_inf = False

    def layer_name(self, body: Body, local: str, suffix: str = "") -> str:
        if body.block is None:
            return f'f"{local}{suffix}"' if "{i}" in local else literal(local + suffix)
        return f'f"{{name}}.{local}{suffix}"'

    def args(self, item: Item, name: str) -> str:
        layer, kind = item.layer, item.kind
        if kind == "conv2d":
            assert isinstance(layer, Conv2d)
            if layer.stride != (1, 1) and layer.dilation != (1, 1):
                raise EmitError(
                    f"layer {item.name!r} (line {item.line}): Keras's Conv2D does not support "
                    "a stride above 1 together with a dilation above 1"
                )
            act, _ = _fused(layer.activation)
            return call(
                "",
                expr(layer.filters),
                expr(layer.kernel),
                strides=_kw(layer.stride, (1, 1)),
                padding=literal("same") if layer.padding == "same" else None,
                dilation_rate=_kw(layer.dilation, (1, 1)),
                groups=_kw(layer.groups, 1),
                use_bias=_kw(layer.bias, True),
                activation=act,
                name=name,
            )[1:-1]
        if kind in ("maxpool2d", "avgpool2d"):
            return call("", expr(layer.size), strides=_kw(layer.stride, None), name=name)[1:-1]  # type: ignore[attr-defined]
        if kind == "dense":
            act, _ = _fused(layer.activation)  # type: ignore[attr-defined]
            return call(
                "", expr(layer.units), activation=act, use_bias=_kw(layer.bias, True), name=name
            )[1:-1]  # type: ignore[attr-defined]
        if kind == "batchnorm":
            m = layer.momentum  # type: ignore[attr-defined]
            momentum = f"1 - {m}" if isinstance(m, ParamRef) else repr(round(1 - m, 12))
            return call("", axis="-1", momentum=momentum, epsilon=expr(layer.epsilon), name=name)[
                1:-1
            ]  # type: ignore[attr-defined]
        if kind == "dropout":
            return call("", expr(layer.rate), name=name)[1:-1]  # type: ignore[attr-defined]
        if kind == "gaussian_noise":
            return call("", expr(layer.stddev), name=name)[1:-1]  # type: ignore[attr-defined]
        if kind == "leaky_relu":
            return call("", negative_slope=expr(layer.alpha), name=name)[1:-1]  # type: ignore[attr-defined]
        if kind == "elu":
            return call("", alpha=expr(layer.alpha), name=name)[1:-1]  # type: ignore[attr-defined]
        if kind == "softmax":
            return call("", axis="-1", name=name)[1:-1]
        if kind in ("sigmoid", "tanh"):
            return call("", literal(kind), name=name)[1:-1]
        if kind == "concat":
            rank = item.uniform("input rank", lambda n: len(self.network.shapes[n.inputs[0]]))
            axis = -1 if rank == 1 or layer.axis == 0 else layer.axis  # type: ignore[attr-defined]
            return call("", axis=str(axis), name=name)[1:-1]
        return f"name={name}"

    def pre(self, item: Item, body: Body, local: str, x: str) -> list[str]:
        """Layers Keras needs before this one to mean what the spec says."""
        layer = item.layer
        pad = getattr(layer, "padding", None)
        if pad in (None, "valid", "same", (0, 0)):
            return []
        name = self.layer_name(body, local, ".pad")
        padding = expr(pad)
        if item.kind == "maxpool2d":
            self.uses_neg_inf = True
            return [f"{x} = NegInfPadding2D({padding}, name={name})({x})"]
        return [f"{x} = layers.ZeroPadding2D({padding}, name={name})({x})"]

    def post(self, item: Item, body: Body, local: str, x: str) -> list[str]:
        _, separate = _fused(getattr(item.layer, "activation", None))
        if separate is None:
            return []
        return [f"{x} = {separate}, name={self.layer_name(body, local, '.act')})({x})"]

    def statements(self, body: Body, item: Item, ns: Namespace) -> list[str]:
        layer = item.layer
        local = f"{item.name}.{{i}}" if item.repeated else item.name
        name = self.layer_name(body, local)
        x = item.var
        ins = item.input_vars
        lines: list[str] = []
        if isinstance(layer, BlockCall):
            args = [f"{k}={expr(v)}" for k, v in layer.args.items()]
            fn = self.functions[layer.block]
            if item.repeated:
                first = [] if ins[0] == x else [f"{x} = {ins[0]}"]
                loop = f"for i in range({expr(layer.repeat)}):"
                return first + [loop, f"    {x} = {call(fn, x, *args, name=name)}"]
            return [f"{x} = {call(fn, ins[0], *args, name=name)}"]
        template = self.env.get_template(f"layers/{item.kind}.py.jinja")
        ctor = template.module.layer({"args": self.args(item, name)})
        source = ins[0] if len(ins) == 1 else "[" + ", ".join(ins) + "]"
        if item.shares is not None:
            return [f"{x} = {self.shared[item.shares]}({source})"]
        if item.name in self.owners:
            var = ns.claim(f"{item.name}_layer")
            self.shared[item.name] = var
            lines.append(f"{var} = {ctor}")
            ctor = var
        if item.repeated:
            body_lines = [
                *self.pre(item, body, local, x),
                f"{x} = {ctor}({x})",
                *self.post(item, body, local, x),
            ]
            first = [] if ins[0] == x else [f"{x} = {ins[0]}"]
            return (
                lines
                + first
                + [f"for i in range({expr(layer.repeat)}):"]
                + ["    " + b for b in body_lines]
            )
        pre = self.pre(item, body, local, source)
        if pre:
            pre = [p.replace(f"{source} = ", f"{x} = ", 1) for p in pre]
            source = x
        return lines + pre + [f"{x} = {ctor}({source})"] + self.post(item, body, local, x)

    def body_view(self, body: Body, ns: Namespace) -> dict[str, Any]:
        self.owners = {i.shares for i in body.items if i.shares}
        self.shared: dict[str, str] = {}
        local_ns = Namespace(
            {i.name for i in body.items}
            | {"x", "identity", "name", "inputs", "i"}
            | set(body.params)
        )
        indented = ["    identity = x"] if body.input_var == "identity" else []
        for item in body.items:
            for index, line in enumerate(self.statements(body, item, local_ns)):
                depth = 4 + (len(line) - len(line.lstrip(" ")))
                text = line.lstrip(" ")
                if index == 0:
                    indented.append(commented(text, f"# spec line {item.line}", depth))
                else:
                    indented.append(wrap(text, depth))
        return {
            "lines": indented,
            "output": body.output_var,
            "params": body.params,
            "doc": literal(_doc(body)),
            "block": body.block,
        }


def _doc(body: Body) -> str:
    if body.block is None:
        return "A freshly initialised model; input (H, W, C) images, channels last."
    return body.summary


def _kw(value: Any, default: Any) -> str | None:
    return None if value == default else expr(value)


def emit_model(network: Network) -> str:
    emitter = _Emitter(network)
    ns = Namespace(
        {"keras", "layers", "INPUT_SHAPE", "NUM_PARAMETERS", "build_model", "NegInfPadding2D"}
    )
    views = []
    for body in bodies(network):
        if body.block is not None:
            emitter.functions[body.block] = ns.claim(body.block)
        view = emitter.body_view(body, ns)
        view["function"] = emitter.functions.get(body.block or "", "build_model")
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
        neg_inf=emitter.uses_neg_inf,
    )
