"""Properties (Hypothesis): random valid networks validate with the shapes, parameter counts and
MACs that the layer formulas give, computed independently of netspec (tests/netgen.py, which
also draws the networks that tests/test_random_models.py runs in both frameworks); the sample
those tests compare covers every feature the generator claims; random damage to a valid spec
is either still valid or refused with `netspec.SpecError`, never any other exception.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netspec
from netspec.emit.orders import torch_order
from netspec.ir import LAYER_KINDS
from netspec.network import Network, analyse
from netspec.schema import schema
from netspec.spec import load_bytes
from tests.netgen import (
    ACTIVATIONS,
    BLOCK_SHARE,
    EXAMPLES,
    FOCI,
    LOSSES,
    PER_STEP_LOSSES,
    SEQUENCE_KINDS,
    Net,
    networks,
    sample,
)

SPECS = sorted((Path(__file__).resolve().parent.parent / "specs").glob("*.yaml"))
SCHEMA = jsonschema.Draft7Validator(schema())
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

__all__ = ["SETTINGS", "Net", "networks"]  # tests/test_graph.py draws from here too


# ----------------------------------------------------------------------------- valid networks


@SETTINGS
@given(networks())
def test_random_valid_networks_have_the_shapes_and_counts_of_the_formulas(net: Net) -> None:
    spec = net.spec()
    network = netspec.load(json.dumps(spec, indent=1))  # JSON is YAML
    assert [node.name for node in network.nodes] == list(net.shapes)
    assert {name: network.shapes[name] for name in net.shapes} == net.shapes
    assert (network.params, network.buffers, network.macs) == (net.params, net.buffers, net.macs)
    assert {n.name: n.shares for n in network.nodes if n.shares} == net.expect.shares
    inputs = {name: shape for name, (shape, _) in net.input_entries.items()}
    assert network.input_shapes == inputs and network.several_inputs == (net.inputs is not None)
    assert list(network.graph.outputs) == net.output_nodes  # in `outputs:`' order
    assert network.objective.output == net.trained  # `train.output`, or the first output
    assert network.objective.loss == net.loss
    per_step = net.loss in ("cross_entropy", "nll") and len(net.shapes[net.trained]) == 2
    assert network.objective.per_step == per_step
    assert network.objective.ignore_index == net.train.get("ignore_index")
    assert list(SCHEMA.iter_errors(spec)) == []  # the editor schema agrees


# ----------------------------------------------------------------------------- coverage


def features(net: Net, network: Network) -> set[str]:
    """What one network exercises, read from the spec and netspec's expansion of it."""
    inputs = {1: "input flat", 2: "input sequence", 3: "input image"}
    found = {f"loss {net.loss}"}
    for shape, vocab in net.input_entries.values():
        found.add("input tokens" if vocab else inputs[len(shape)])
    found |= _io(net, network)
    by_name = {n.name: n for n in network.nodes}
    for node in network.nodes:
        layer, kind = node.layer, node.layer.type  # type: ignore[attr-defined]
        found.add(f"layer {kind}")
        act = getattr(layer, "activation", None)
        if act is not None:
            found.add(f"activation {act.type}")
        for fn in (layer, act):
            if getattr(fn, "type", None) == "leaky_relu" and fn.alpha != 0.01:  # type: ignore[union-attr]
                found.add("leaky_relu alpha")
            if getattr(fn, "type", None) == "elu" and fn.alpha != 1.0:  # type: ignore[union-attr]
                found.add("elu alpha")
            if getattr(fn, "type", None) == "gelu" and fn.approximate == "tanh":  # type: ignore[union-attr]
                found.add("gelu approximate tanh")
        if node.shares and not any(
            i.shares and node.name.startswith(i.name + ".") for i in network.graph.instances
        ):
            owner = by_name[node.shares].layer
            if kind == "conv2d":
                numeric = owner.padding not in ("same", "valid")  # type: ignore[attr-defined]
                found.add("share conv2d" + (" numeric padding" if numeric else ""))
            elif kind == "dense" and owner.type == "embedding":
                found.add("dense tied to embedding")
            elif kind == "dense":
                found.add(f"share dense {act.type if act else 'none'}")
            else:
                found.add(f"share {kind}")
        if kind == "conv2d":
            padding = layer.padding  # type: ignore[attr-defined]
            if isinstance(padding, str):
                found.add(f"conv padding {padding}")
            else:
                found.add(
                    "conv padding numbers" if padding[0] == padding[1] else "conv padding pair"
                )
            found |= {
                f"conv {what}"
                for what, on in [
                    ("stride", layer.stride != (1, 1)),  # type: ignore[attr-defined]
                    ("dilation", layer.dilation != (1, 1)),  # type: ignore[attr-defined]
                    ("groups", layer.groups > 1),  # type: ignore[attr-defined]
                    ("no bias", not layer.bias),  # type: ignore[attr-defined]
                ]
                if on
            }
        if kind == "conv2d" and layer.depthwise:  # type: ignore[attr-defined]
            found.add("conv depthwise")
            if layer.multiplier != 1:  # type: ignore[attr-defined]
                found.add("conv depthwise multiplier")
        found |= _modern(network, node, by_name)
        found |= _sequences(network, node)
        if kind in ("maxpool2d", "avgpool2d"):
            size, stride, pad = layer.size, layer.stride, layer.padding  # type: ignore[attr-defined]
            found |= {
                f"pool {what}"
                for what, on in [
                    ("size pair", size[0] != size[1]),
                    ("stride", stride is not None and stride != size),
                    ("stride pair", stride is not None and stride[0] != stride[1]),
                    ("padding", pad != (0, 0)),
                    ("padding pair", pad[0] != pad[1]),
                ]
                if on
            }
        if kind == "dense" and not layer.bias:  # type: ignore[attr-defined]
            found.add("dense no bias")
        if kind == "batchnorm":
            found.add(f"batchnorm rank {len(network.shapes[node.name])}")
            if layer.momentum != 0.1:  # type: ignore[attr-defined]
                found.add("batchnorm momentum")
            if layer.epsilon != 1e-5:  # type: ignore[attr-defined]
                found.add("batchnorm epsilon")
        if kind in ("add", "concat") and len(node.inputs) >= 3:
            found.add(f"{kind} 3 inputs")
        if kind == "concat":
            found.add(f"concat axis {layer.axis}")  # type: ignore[attr-defined]
        if kind == "dropout" and layer.rate > 0:  # type: ignore[attr-defined]
            found.add("dropout rate")
        if kind == "gaussian_noise" and layer.stddev > 0:  # type: ignore[attr-defined]
            found.add("gaussian_noise stddev")
    uses: dict[str, list[Any]] = {}
    for use in network.graph.instances:
        found.add("layer block")
        uses.setdefault(use.block, []).append(use.args)
        if getattr(use, "shares", None):
            found.add("share block")
    if any(len(args) > 1 for args in uses.values()):
        found.add("block used twice")
    if any(len({json.dumps(a, sort_keys=True) for a in args}) > 1 for args in uses.values()):
        found.add("block used with other arguments")
    found |= _written(net)
    if torch_order(network):
        found.add("output from a flatten")
    if len(network.output_shape) == 3:
        found.add("output image")
    if len(network.output_shape) == 2:
        found.add("output sequence")
    if net.loss == "binary_cross_entropy":
        found.add("bce on sigmoid" if _ends_in(network, "sigmoid") else "bce on logits")
    found.add("keras refuses" if net.refused else "both backends")
    if net.deterministic and not net.refused:
        found.add("compared in training mode")
    return found


def _io(net: Net, network: Network) -> set[str]:
    """What one network exercises of several inputs and outputs and of the objective: how
    many inputs (named) and outputs, inputs of different kinds, the layers that merge what
    different inputs give and weights shared across them, what an output is (a layer that
    feeds others, a block use), which output the loss applies to, a per-step loss."""
    found = set()
    graph, objective = network.graph, network.objective
    if network.several_inputs:
        found.add(f"inputs: {len(graph.inputs)}")
        kinds = {"tokens" if vocab else len(shape) for shape, vocab in net.input_entries.values()}
        if len(kinds) > 1:
            found.add("inputs of different kinds")
    reach: dict[str, frozenset[str]] = {name: frozenset([name]) for name in graph.inputs}
    for node in network.nodes:  # which inputs each node depends on
        reach[node.name] = frozenset().union(*(reach[i] for i in node.inputs))
        if len({reach[i] for i in node.inputs}) > 1:
            found.add(f"inputs merged by {node.layer.type}")  # type: ignore[attr-defined]
        if node.shares and reach[node.name] != reach[node.shares]:
            found.add("weights shared across inputs")
    if len(graph.outputs) > 1:
        found.add(f"outputs: {len(graph.outputs)}")
        feeds = {i for node in network.nodes for i in node.inputs}
        if any(name in feeds for name in graph.outputs):
            found.add("output in mid-network")
        if any(o.startswith(u.name + ".") for o in graph.outputs for u in graph.instances):
            found.add("output of a block use")
        if objective.output != graph.outputs[0]:
            found.add("loss on the second output")
    if objective.per_step:
        found.add(f"per-step {objective.loss}")
        kinds = {n.name: n.layer.type for n in network.nodes}  # type: ignore[attr-defined]
        if any(
            kinds[n.name] == "dense" and kinds[n.shares] == "embedding"
            for n in network.nodes
            if n.shares and objective.output in (n.name, *_after(network, n.name))
        ):
            found.add("per-step tied to the embedding")
    if objective.ignore_index is not None:
        found.add("ignore_index" + (" per step" if objective.per_step else ""))
    return found


def _after(network: Network, name: str) -> list[str]:
    """The nodes that take `name`'s output, directly or through others."""
    found, names = [], {name}
    for node in network.nodes:
        if names & set(node.inputs):
            names.add(node.name)
            found.append(node.name)
    return found


MODERN = (
    "conv_transpose2d", "upsample", "layernorm", "groupnorm", "multiply", "scale", "drop_path",
)  # fmt: skip
"""The kinds of modern vision networks (with depthwise convs and keepdims pools)."""


def _modern(network: Network, node: Any, by_name: dict[str, Any]) -> set[str]:
    """What one node of the kinds of modern vision networks exercises."""
    layer, kind = node.layer, node.layer.type
    shapes = [network.shapes[i] for i in node.inputs]
    out = network.shapes[node.name]
    found = set()
    if kind == "conv_transpose2d":
        found |= {
            f"conv_transpose2d {what}"
            for what, on in [
                ("stride", layer.stride != (1, 1)),
                ("padding", layer.padding != (0, 0)),
                ("output_padding", layer.output_padding != (0, 0)),
                ("kernel below stride", any(k < s for k, s in zip(layer.kernel, layer.stride))),
                ("no bias", not layer.bias),
            ]
            if on
        }
    if kind == "upsample":
        found.add(f"upsample {layer.mode}")
        if layer.scale[0] != layer.scale[1]:
            found.add("upsample scale pair")
    if kind in ("layernorm", "groupnorm", "scale"):
        found.add(f"{kind} rank {len(out)}")
    if kind == "groupnorm" and 1 < layer.groups < out[0]:
        found.add("groupnorm groups")
    if kind in ("global_avgpool2d", "global_maxpool2d") and layer.keepdims:
        found.add("global pool keepdims")
    if kind == "multiply":
        if all(s == out for s in shapes):
            found.add(f"multiply equal shapes rank {len(out)}")
        elif any(len(s) == 1 for s in shapes):
            found.add("multiply (C,) gate")
        else:
            found.add("multiply broadcast")
    if kind == "drop_path" and layer.rate > 0:
        found.add("drop_path rate")
    fed = [by_name[i].layer.type for i in node.inputs if i in by_name]
    if kind == "add" and "drop_path" in fed:
        found.add("drop_path before add")
    if kind in MODERN or (kind == "conv2d" and layer.depthwise):
        if any(node.name.startswith(use.name + ".") for use in network.graph.instances):
            found.add("modern kind in a block")
        if "repeat" in layer.model_fields_set:
            found.add("modern kind repeated")
    return found


def _sequences(network: Network, node: Any) -> set[str]:
    """What one node of a sequence network exercises: the options of the sequence kinds, the
    kinds that act on each step, and sequence kinds in blocks and repeats."""
    layer, kind = node.layer, node.layer.type
    shapes = [network.shapes[i] for i in node.inputs]
    found = set()
    if kind == "embedding" and layer.padding_index is not None:
        found.add("embedding padding_index")
    if kind == "position_embedding":
        longer = layer.max_length is not None and layer.max_length > shapes[0][0]
        found.add("position_embedding " + ("longer" if longer else "default length"))
    if kind == "select" and layer.index < 0:
        found.add("select negative index")
    if kind == "conv1d":
        padding = layer.padding if isinstance(layer.padding, str) else "number"
        found.add(f"conv1d padding {padding}")
        found |= {
            f"conv1d {what}"
            for what, on in [
                ("stride", layer.stride > 1),
                ("dilation", layer.dilation > 1),
                ("no bias", not layer.bias),
            ]
            if on
        }
    if kind in ("maxpool1d", "avgpool1d") and layer.stride not in (None, layer.size):
        found.add("pool1d stride")
    if kind == "multihead_attention":
        found |= {
            f"attention {what}"
            for what, on in [
                ("causal", layer.causal),
                ("cross", len(node.inputs) == 2),
                ("dropout", layer.dropout > 0),
                ("no bias", not layer.bias),
            ]
            if on
        }
    if kind in ("lstm", "gru"):
        found |= {
            f"recurrent {what}"
            for what, on in [
                ("bidirectional", layer.bidirectional),
                ("stacked", layer.layers > 1),
                ("last", layer.returns == "last"),
            ]
            if on
        }
    if kind == "dense" and len(shapes[0]) == 2:
        found.add("dense rank 2")
    if kind == "concat" and len(shapes[0]) == 2:
        found.add("concat " + ("steps" if layer.axis == 0 else "features"))
    if kind == "multiply" and len(shapes[0]) == 2 and any(s != shapes[0] for s in shapes):
        found.add("multiply step gate")
    if kind in SEQUENCE_KINDS:
        if any(node.name.startswith(use.name + ".") for use in network.graph.instances):
            found.add("sequence kind in a block")
        if "repeat" in layer.model_fields_set:
            found.add("sequence kind repeated")
    return found


def _ends_in(network: Network, kind: str) -> bool:
    """Whether the output the loss applies to comes from `kind` (through dropout, noise)."""
    node = {n.name: n for n in network.nodes}[network.objective.output]
    while node.layer.type in ("dropout", "gaussian_noise"):  # type: ignore[attr-defined]
        node = {n.name: n for n in network.nodes}[node.inputs[0]]
    act = getattr(node.layer, "activation", None)
    return node.layer.type == kind or (act is not None and act.type == kind)  # type: ignore[attr-defined]


def _written(net: Net) -> set[str]:
    """Features of the spec as written: blocks, parameters, repeats."""
    found = set()
    for block in net.blocks.values():
        params = block.get("params", {})
        if params:
            found.add("block $params")
        if any(v is None for v in params.values()):
            found.add("block required param")
        if any(v is not None for v in params.values()):
            found.add("block param default")
        for layer in block["layers"]:
            pairs = ("kernel", "stride", "dilation", "size", "padding")
            if any("$" in json.dumps(layer.get(k)) for k in pairs if k in layer):
                found.add("pair field $param")
            if layer["type"] == "block":
                found.add("block in block")
                if any(str(v).startswith("$") for v in layer.get("args", {}).values()):
                    found.add("block arg $param")
    for layer in [*net.layers, *(x for block in net.blocks.values() for x in block["layers"])]:
        if "repeat" in layer:
            found.add("repeat block use" if layer["type"] == "block" else "repeat layer")
            if str(layer["repeat"]).startswith("$"):
                found.add("repeat $param")
        if layer["type"] == "block":
            params = net.blocks[layer["block"]].get("params", {})
            if any(v is not None and k not in layer.get("args", {}) for k, v in params.items()):
                found.add("block default used")
    return found


REQUIRED = (
    {f"layer {kind}" for kind in LAYER_KINDS}
    | {f"activation {kind}" for kind in ACTIVATIONS}
    | {f"loss {loss}" for loss in LOSSES}
    | {f"share dense {kind}" for kind in [*ACTIVATIONS, "none"]}
    | {"share conv2d numeric padding", "share maxpool2d", "share avgpool2d", "share batchnorm"}
    | ({"share block"} if BLOCK_SHARE else set())
    | {"leaky_relu alpha", "elu alpha", "dropout rate", "gaussian_noise stddev"}
    | ({"gelu approximate tanh"} if "gelu" in ACTIVATIONS else set())
    | {f"conv padding {p}" for p in ("same", "valid", "numbers", "pair")}
    | {f"conv {w}" for w in ("stride", "dilation", "groups", "no bias")}
    | {f"pool {w}" for w in ("size pair", "stride", "stride pair", "padding", "padding pair")}
    | {"dense no bias", "batchnorm momentum", "batchnorm epsilon"}
    | {"batchnorm rank 1", "batchnorm rank 3"}
    | {"add 3 inputs", "concat 3 inputs", "concat axis 0", "concat axis 1", "concat axis 2"}
    | {"block $params", "block required param", "block param default", "block default used"}
    | {"pair field $param"}
    | {"block in block", "block arg $param", "block used twice", "block used with other arguments"}
    | {"repeat layer", "repeat block use", "repeat $param"}
    | {"input image", "input flat", "output image", "output from a flatten"}
    | {"bce on sigmoid", "bce on logits", "keras refuses", "both backends"}
    | {"compared in training mode"}
    | {"conv depthwise", "conv depthwise multiplier"}
    | {f"conv_transpose2d {w}" for w in ("stride", "padding", "output_padding")}
    | {"conv_transpose2d kernel below stride"}
    | {"upsample nearest", "upsample bilinear", "upsample scale pair"}
    | {"layernorm rank 1", "layernorm rank 3", "groupnorm rank 3", "groupnorm groups"}
    | {"scale rank 1", "scale rank 3", "global pool keepdims"}
    | {"multiply equal shapes rank 3", "multiply (C,) gate", "multiply broadcast"}
    | {"drop_path rate", "drop_path before add"}
    | {"input tokens", "input sequence", "output sequence", "embedding padding_index"}
    | {"position_embedding longer", "position_embedding default length", "select negative index"}
    | {f"conv1d padding {p}" for p in ("valid", "same", "number")}
    | {"conv1d stride", "conv1d dilation", "pool1d stride", "attention causal", "attention cross"}
    | {f"recurrent {w}" for w in ("bidirectional", "stacked", "last")}
    | {"sequence kind in a block", "sequence kind repeated", "dense tied to embedding"}
    | {"multiply step gate"}
    | {"dense rank 2", "layernorm rank 2", "scale rank 2", "concat steps", "concat features"}
    | {"inputs: 2", "inputs: 3", "inputs of different kinds", "weights shared across inputs"}
    | {f"inputs merged by {kind}" for kind in ("concat", "add", "multihead_attention")}
    | {"outputs: 2", "output in mid-network", "loss on the second output"}
    | {f"per-step {loss}" for loss in PER_STEP_LOSSES}
    | {"per-step tied to the embedding", "ignore_index per step"}
)
"""What the sample that tests/test_random_models.py compares must exercise."""


def coverage() -> Counter[str]:
    """How many networks of the sample exercise each feature."""
    counts: Counter[str] = Counter()
    for net in sample():
        counts.update(features(net, netspec.load(net.text())))
    return counts


def test_the_compared_sample_covers_every_feature_of_the_generator() -> None:
    if EXAMPLES < len(FOCI):
        pytest.skip(f"a sample of {EXAMPLES} cannot hold each of the {len(FOCI)} foci")
    counts = coverage()
    table = "\n".join(f"{counts[f]:4d}  {f}" for f in sorted(REQUIRED | set(counts)))
    missing = sorted(f for f in REQUIRED if not counts[f])
    assert not missing, f"the sample of {EXAMPLES} never has {missing}:\n{table}"
    # Training mode is compared only where the function is deterministic: keep that common.
    assert counts["compared in training mode"] >= EXAMPLES // 3, table


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
