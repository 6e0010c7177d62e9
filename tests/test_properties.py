"""Properties (Hypothesis): random valid networks validate with the shapes, parameter counts and
MACs that the layer formulas give, computed here independently of netspec; random damage to a
valid spec is either still valid or refused with `netspec.SpecError`, never any other exception.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netspec
from netspec.network import analyse
from netspec.schema import schema
from netspec.spec import load_bytes

SPECS = sorted((Path(__file__).resolve().parent.parent / "specs").glob("*.yaml"))
SCHEMA = jsonschema.Draft7Validator(schema())
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Shape = tuple[int, ...]


# ----------------------------------------------------------------------------- the formulas


def conv_out(size: int, kernel: int, stride: int, dilation: int, padding: str | int) -> int:
    if padding == "same":
        return -(-size // stride)
    pad = 0 if padding == "valid" else int(padding)
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def pool_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


@dataclass
class Net:
    """A network under construction, with what the spec should come to: shapes, counts."""

    shape: Shape
    """The current output shape (the input's, to begin with)."""
    layers: list[dict[str, Any]] = field(default_factory=list)
    shapes: dict[str, Shape] = field(default_factory=dict)
    params: int = 0
    buffers: int = 0
    macs: int = 0
    tail: str = "input"
    unnamed: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.input_shape = self.shape

    def spec(self) -> dict[str, Any]:
        return {
            "netspec": 1,
            "name": "Random",
            "input": {"shape": list(self.input_shape)},
            "layers": self.layers,
        }

    def add(self, layer: dict[str, Any], shape: Shape, *, named: bool = True) -> str:
        if named:
            name = layer["name"] = f"n{len(self.layers)}"
        else:
            self.unnamed[layer["type"]] = self.unnamed.get(layer["type"], 0) + 1
            name = f"{layer['type']}_{self.unnamed[layer['type']]}"
        self.layers.append(layer)
        self.shapes[name] = self.shape = shape
        self.tail = name
        return name


def written_pair(draw: st.DrawFn, a: int, b: int) -> Any:
    """A pair as a spec author may write it: `3` when both are equal, or `[3, 5]`."""
    return a if a == b and draw(st.booleans()) else [a, b]


def conv(
    draw: st.DrawFn, net: Net, *, filters: int | None = None, same: bool = False
) -> dict[str, Any]:
    """A conv2d that fits the current shape; `same` keeps height and width (stride 1)."""
    c, h, w = net.shape
    groups = draw(st.sampled_from([g for g in (1, 2, 4) if c % g == 0]))
    if filters is None:
        filters = groups * draw(st.integers(1, 4))
    elif filters % groups:
        groups = 1
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dh, dw = (1, 1) if same else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    sh, sw = (1, 1) if same else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding: Any = "same" if same else draw(st.sampled_from(["valid", "same", 0, 1, 2]))
    pad = 0 if padding in ("valid", "same") else padding
    if padding != "same" and (h + 2 * pad < dh * (kh - 1) + 1 or w + 2 * pad < dw * (kw - 1) + 1):
        kh = kw = dh = dw = 1  # always fits
    bias = draw(st.booleans())
    layer: dict[str, Any] = {
        "type": "conv2d",
        "filters": filters,
        "kernel": written_pair(draw, kh, kw),
    }
    if (sh, sw) != (1, 1):
        layer["stride"] = written_pair(draw, sh, sw)
    if (dh, dw) != (1, 1):
        layer["dilation"] = written_pair(draw, dh, dw)
    if padding != "valid" or draw(st.booleans()):
        layer["padding"] = padding
    if groups != 1:
        layer["groups"] = groups
    if not bias:
        layer["bias"] = False
    if draw(st.booleans()):
        layer["activation"] = draw(st.sampled_from(["relu", "tanh", {"type": "elu", "alpha": 0.5}]))
    out = (filters, conv_out(h, kh, sh, dh, padding), conv_out(w, kw, sw, dw, padding))
    net.params += filters * (c // groups) * kh * kw + (filters if bias else 0)
    net.macs += math.prod(out) * (c // groups) * kh * kw
    net.add(layer, out)
    return layer


def pool(draw: st.DrawFn, net: Net) -> None:
    c, h, w = net.shape
    size = draw(st.integers(1, 3))
    pad = draw(st.integers(0, size // 2))
    if min(h, w) + 2 * pad < size:
        size, pad = 1, 0
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    layer: dict[str, Any] = {
        "type": draw(st.sampled_from(["maxpool2d", "avgpool2d"])),
        "size": size,
    }
    if stride is not None:
        layer["stride"] = stride
    if pad:
        layer["padding"] = pad
    step = size if stride is None else stride
    net.add(layer, (c, pool_out(h, size, step, pad), pool_out(w, size, step, pad)))


def elementwise(draw: st.DrawFn, net: Net) -> None:
    """Layers that keep the shape; activations are left unnamed (auto-named `<type>_<n>`)."""
    kind = draw(
        st.sampled_from(["relu", "sigmoid", "leaky_relu", "softmax", "batchnorm", "dropout"])
    )
    if kind == "batchnorm":
        net.params += 2 * net.shape[0]
        net.buffers += 2 * net.shape[0]
        net.add({"type": "batchnorm"}, net.shape)
    elif kind == "dropout":
        net.add({"type": "dropout", "rate": draw(st.sampled_from([0.0, 0.25, 0.5]))}, net.shape)
    else:
        net.add({"type": kind}, net.shape, named=False)


def branch(draw: st.DrawFn, net: Net, merge: str) -> None:
    """A side branch from the current tail, merged back by `add` or `concat` (`inputs:`)."""
    trunk, (c, h, w) = net.tail, net.shape
    axis = draw(st.sampled_from([0, 1, 2])) if merge == "concat" else 0
    filters = c if merge == "add" or axis else draw(st.integers(1, 4))
    conv(draw, net, filters=filters, same=True)["inputs"] = [trunk]
    side = net.tail
    merged = list(net.shape)
    if merge == "concat":
        merged[axis] += (c, h, w)[axis]
    layer = {"type": merge, "inputs": draw(st.permutations([side, trunk]))}
    if axis:
        layer["axis"] = axis
    net.add(layer, tuple(merged))


def dense_head(draw: st.DrawFn, net: Net) -> None:
    for _ in range(draw(st.integers(0, 2))):
        units = draw(st.integers(1, 16))
        net.params += net.shape[0] * units + units
        net.macs += net.shape[0] * units
        layer: dict[str, Any] = {"type": "dense", "units": units}
        if draw(st.booleans()):
            layer["activation"] = draw(st.sampled_from(["relu", "softmax", {"type": "leaky_relu"}]))
        net.add(layer, (units,))
        if draw(st.booleans()):
            elementwise(draw, net)


@st.composite
def networks(draw: st.DrawFn) -> Net:
    """Image networks (conv, pool, skip connections, then a head) and feature networks."""
    if draw(st.booleans()):
        net = Net((draw(st.integers(1, 4)), draw(st.integers(4, 20)), draw(st.integers(4, 20))))
        for _ in range(draw(st.integers(1, 6))):
            step = draw(st.sampled_from(["conv", "pool", "elementwise", "add", "concat"]))
            if step == "conv":
                conv(draw, net)
            elif step == "pool":
                pool(draw, net)
            elif step == "elementwise":
                elementwise(draw, net)
            else:
                branch(draw, net, step)
        head = draw(st.sampled_from(["none", "flatten", "global_avgpool2d"]))
        if head != "none":
            c, h, w = net.shape
            net.add({"type": head}, (c * h * w,) if head == "flatten" else (c,))
            dense_head(draw, net)
    else:
        net = Net((draw(st.integers(1, 32)),))
        elementwise(draw, net)
        dense_head(draw, net)
    return net


# ----------------------------------------------------------------------------- valid networks


@SETTINGS
@given(networks())
def test_random_valid_networks_have_the_shapes_and_counts_of_the_formulas(net: Net) -> None:
    spec = net.spec()
    network = netspec.load(json.dumps(spec, indent=1))  # JSON is YAML
    assert [node.name for node in network.nodes] == list(net.shapes)
    assert {name: network.shapes[name] for name in net.shapes} == net.shapes
    assert (network.params, network.buffers, network.macs) == (net.params, net.buffers, net.macs)
    assert list(SCHEMA.iter_errors(spec)) == []  # the editor schema agrees


# ----------------------------------------------------------------------------- damaged specs

RAW_SCALARS = [
    "~", "null", "yes", "no", "on", "true", "0", "-1", "0x7fffffff", "0o17", "1e309", "-.inf",
    ".nan", "1e-3", "3.0", "123456789012345678901234567890", "'10'", '""', "[]", "{}",
    "[1, 2, 3]", "[0, 0]", "{type: relu}", "$x", "$", "$filters", "$9", "input", "same",
    "valid", "relu", "block", "forward", "__init__", "caf\u00e9", '"\\u202e"', "!!str x",
    "!!int 3", "&a 1", "*a", "<<", "'a: b'", "- 1", "x" * 300,
]  # fmt: skip
SHIPPED = [netspec.load(path).document.data for path in SPECS]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    return [path] + [p for key, child in children for p in _paths(child, (*path, key))]


@st.composite
def damaged_specs(draw: st.DrawFn) -> str:
    """A valid spec with one to three values deleted or replaced by any YAML scalar."""
    data = json.loads(
        json.dumps(draw(st.one_of(st.sampled_from(SHIPPED), networks().map(Net.spec))))
    )
    raw: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        *parent_path, key = draw(st.sampled_from(_paths(data)[1:]))
        parent = data
        for step in parent_path:
            parent = parent[step]
        if draw(st.booleans()):
            del parent[key]
        else:
            value = draw(st.one_of(
                st.sampled_from(RAW_SCALARS), st.integers(-(2**70), 2**70).map(str),
                st.floats().map(repr), st.text(max_size=8).map(json.dumps),
            ))  # fmt: skip
            parent[key] = f"\x00{len(raw)}\x00"
            raw.append(value)
        if not _paths(data)[1:]:
            break
    text = json.dumps(data, indent=1)
    for i, value in enumerate(raw):
        text = text.replace(json.dumps(f"\x00{i}\x00"), value)
    return text


def must_load_or_refuse(text: str | bytes) -> None:
    """The only acceptable outcomes: a `Network`, or a `SpecError` with located problems."""
    try:
        if isinstance(text, bytes):
            analyse(load_bytes(text, "spec.yaml"))
        else:
            analyse(load_bytes(text.encode("utf-8", "surrogatepass"), "spec.yaml"))
    except netspec.SpecError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.line >= 1 and problem.col >= 1
            assert "\n" not in str(problem)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_specs())
def test_damaged_specs_are_valid_or_refused_cleanly(text: str) -> None:
    must_load_or_refuse(text)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from([path.read_bytes() for path in SPECS]),
    st.integers(0, 2000),
    st.integers(0, 8),
    st.binary(max_size=8),
)
def test_specs_with_random_bytes_spliced_in_are_valid_or_refused_cleanly(
    spec: bytes, at: int, cut: int, junk: bytes
) -> None:
    at %= len(spec)
    must_load_or_refuse(spec[:at] + junk + spec[at + cut :])


@settings(max_examples=100, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab:-[]{},&*!|>'\"\n #~?.$01") + ["\t", "é", "\u202e"]))
)
def test_random_text_is_valid_or_refused_cleanly(text: str) -> None:
    must_load_or_refuse(text)
