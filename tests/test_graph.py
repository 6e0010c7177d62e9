"""`netspec graph`: Mermaid and DOT text (structure, escaping, determinism) and SVG via `dot`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from netspec import graph, load
from netspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests" / "specs").glob("*.yaml"))
NODE = re.compile(r'^\s*(n_\w+)(\["|\(\[")(.*?)("\]|"\]\))$')
EDGE = re.compile(r"^\s*(n_\w+) (-->|-\.->) (n_\w+)$")
DOT_EDGE = re.compile(r"^\s*(n_\w+) -> (n_\w+)( \[style=dashed.*\])?;$")


def _mermaid_structure(text: str) -> tuple[dict[str, tuple[str, ...]], list[tuple[str, str, bool]]]:
    """Node id -> enclosing subgraph ids (outermost first), and the edges (source, target, skip).
    Fails on any line that is not a node, an edge, a subgraph's start or end, or a comment."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    stack: list[str] = []
    nodes: dict[str, tuple[str, ...]] = {}
    edges = []
    for line in lines[1:]:
        if line.strip().startswith("%%"):
            continue
        if m := re.fullmatch(r'\s*subgraph (b_\w+)\["([^"]*)"\]', line):
            stack.append(m.group(1))
        elif line.strip() == "end":
            stack.pop()
        elif m := NODE.fullmatch(line):
            assert '"' not in m.group(3), line
            nodes[m.group(1)] = tuple(stack)
        elif m := EDGE.fullmatch(line):
            edges.append((m.group(1), m.group(3), m.group(2) == "-.->"))
        else:
            raise AssertionError(f"unexpected Mermaid line: {line!r}")
    assert not stack
    return nodes, edges


def _id(name: str) -> str:
    return "n_" + re.sub(r"\W", "_", name)


def outputs(network) -> list[str]:
    """The ids of the drawn outputs, in the spec's order."""
    return [f"n_output_{k + 1}" if k else "n_output" for k in range(len(network.graph.outputs))]


def terminals(network) -> set[str]:
    """The ids of the drawn inputs and outputs."""
    return {_id(i) for i in network.graph.inputs} | set(outputs(network))


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.parent.name + "/" + p.stem)
def test_mermaid_has_every_node_cluster_and_edge(spec: Path) -> None:
    network = load(spec)
    text = graph.mermaid(network)
    nodes, edges = _mermaid_structure(text)
    assert set(nodes) == {_id(n.name) for n in network.nodes} | terminals(network)
    instances = {i.name for i in network.graph.instances}
    assert text.count("subgraph ") == len(instances)
    for node in network.nodes:
        # the node sits in one cluster per block use enclosing it, nested in order
        enclosing = [_id(i)[2:] for i in instances if node.name.startswith(i + ".")]
        assert [c[2:] for c in nodes[_id(node.name)]] == sorted(enclosing, key=len)
    want = {(_id(i), _id(n.name)) for n in network.nodes for i in n.inputs}
    want |= {(_id(o), out) for o, out in zip(network.graph.outputs, outputs(network))}
    assert {(s, t) for s, t, _ in edges} == want
    assert len(edges) == sum(len(n.inputs) for n in network.nodes) + len(network.graph.outputs)


def test_resnet18_skip_connections_are_drawn() -> None:
    network = load(ROOT / "specs" / "resnet18.yaml")
    _, edges = _mermaid_structure(graph.mermaid(network))
    skips = {(s, t) for s, t, skip in edges if skip}
    assert ("n_maxpool", "n_layer1_0_add") in skips  # the identity shortcut of the first block
    assert ("n_layer1_1_relu2", "n_layer2_0_proj") in skips  # the projection shortcut
    assert len(skips) == 11  # 8 blocks: one shortcut each, and 3 projection joins
    dot = graph.dot(network)
    assert re.search(r"^\s*n_maxpool -> n_layer1_0_add \[style=dashed", dot, re.M)
    assert sum(1 for line in dot.splitlines() if "style=dashed" in line and "->" in line) == 11


def test_lenet5_mermaid_golden() -> None:
    assert graph.mermaid(load(ROOT / "specs" / "lenet5.yaml")) == (
        "flowchart TD\n"
        "    %% LeNet5 from lenet5.yaml: 61,706 parameters; dashed edges skip ahead "
        "(shortcuts and branches)\n"
        '    n_input(["input<br/>1×32×32"])\n'
        '    n_c1["c1<br/>conv2d + relu · 6×28×28<br/>156 params"]\n'
        '    n_s2["s2<br/>maxpool2d · 6×14×14"]\n'
        '    n_c3["c3<br/>conv2d + relu · 16×10×10<br/>2,416 params"]\n'
        '    n_s4["s4<br/>maxpool2d · 16×5×5"]\n'
        '    n_flatten_1["flatten_1<br/>flatten · 400"]\n'
        '    n_f5["f5<br/>dense + relu · 120<br/>48,120 params"]\n'
        '    n_f6["f6<br/>dense + relu · 84<br/>10,164 params"]\n'
        '    n_logits["logits<br/>dense · 10<br/>850 params"]\n'
        '    n_output(["output<br/>10"])\n'
        "    n_input --> n_c1\n"
        "    n_c1 --> n_s2\n"
        "    n_s2 --> n_c3\n"
        "    n_c3 --> n_s4\n"
        "    n_s4 --> n_flatten_1\n"
        "    n_flatten_1 --> n_f5\n"
        "    n_f5 --> n_f6\n"
        "    n_f6 --> n_logits\n"
        "    n_logits --> n_output\n"
    )


def test_nested_blocks_are_nested_clusters() -> None:
    network = load(ROOT / "specs" / "vgg16_bn.yaml")
    nodes, _ = _mermaid_structure(graph.mermaid(network))
    assert nodes["n_block1_conv_0_conv"] == ("b_block1", "b_block1_conv_0")
    assert nodes["n_block1_pool"] == ("b_block1",)
    assert '["bn<br/>batchnorm · 64×224×224<br/>128 params + 128 buffers"]' in graph.mermaid(
        network
    )
    dot = graph.dot(network)
    outer = dot.index("subgraph cluster_b_block1 {")
    inner = dot.index("subgraph cluster_b_block1_conv_0 {")
    assert outer < inner < dot.index("n_block1_conv_0_conv [")
    assert dot.count("subgraph cluster_") == len(network.graph.instances)


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.parent.name + "/" + p.stem)
def test_dot_has_every_node_and_edge(spec: Path) -> None:
    network = load(spec)
    text = graph.dot(network)
    assert text.count("{") == text.count("}")
    declared = set(re.findall(r"^\s*(n_\w+) \[label=", text, re.M))
    assert declared == {_id(n.name) for n in network.nodes} | terminals(network)
    edges = [m for line in text.splitlines() if (m := DOT_EDGE.fullmatch(line))]
    assert len(edges) == sum(len(n.inputs) for n in network.nodes) + len(network.graph.outputs)


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.parent.name + "/" + p.stem)
def test_output_is_deterministic(spec: Path) -> None:
    """Byte-identical across loads and across processes (no hash-order or id dependence)."""
    first = load(spec)
    assert graph.mermaid(first) == graph.mermaid(load(spec))
    assert graph.dot(first) == graph.dot(load(spec))
    other = subprocess.run(
        [sys.executable, "-m", "netspec", "graph", str(spec), "--format", "dot"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        env={"PYTHONHASHSEED": "123", "PATH": "", "PYTHONIOENCODING": "utf-8"},
    )
    assert other.returncode == 0, other.stderr
    assert other.stdout == graph.dot(first)


def test_label_escaping() -> None:
    hostile = 'a"b#c<d>&e`f\ng;h]i[j|k{l}'
    escaped = graph.mermaid_text(hostile)
    assert re.fullmatch(r"(?:[A-Za-z]|#\d+;)*", escaped)  # only letters and entity codes
    assert escaped.startswith("a#34;b#35;c#60;d")
    plain = "3×224×224 (basic), 1,024 params"
    assert graph.mermaid_text(plain) == plain
    assert graph.dot_text('say "hi"\\l\n') == 'say \\"hi\\"\\\\l\\n'


def test_cli_writes_file_and_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = str(ROOT / "specs" / "lenet5.yaml")
    assert main(["graph", spec]) == 0
    assert capsys.readouterr().out == graph.mermaid(load(spec))
    target = tmp_path / "lenet5.dot"
    assert main(["graph", spec, "--format", "dot", "-o", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == graph.dot(load(spec))


def test_svg_without_dot_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    target = tmp_path / "x.svg"
    spec = str(ROOT / "specs" / "lenet5.yaml")
    # a missing program is not a spec problem: status 2
    assert main(["graph", spec, "--format", "svg", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert "'dot' program of Graphviz" in err and "--format dot" in err
    assert not target.exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.parent.name + "/" + p.stem)
def test_svg_via_dot(spec: Path, tmp_path: Path) -> None:
    target = tmp_path / f"{spec.stem}.svg"
    assert main(["graph", str(spec), "--format", "svg", "-o", str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    network = load(spec)
    assert "<svg" in text and f"<title>{network.name}</title>" in text
    for node in network.nodes:
        assert f"<title>{_id(node.name)}</title>" in text


def test_shared_layer_names_its_owner() -> None:
    text = graph.mermaid(load(ROOT / "tests" / "specs" / "shared.yaml"))
    assert 'n_enc_again["enc_again<br/>dense + relu · 8<br/>shares enc"]' in text


def test_random_valid_networks_draw_every_node_and_edge() -> None:
    """Hypothesis' random networks (tests/test_properties.py): parseable Mermaid with every
    node and edge, DOT with every node, the same text twice."""
    hypothesis = pytest.importorskip("hypothesis")
    properties = pytest.importorskip("tests.test_properties")

    @properties.SETTINGS
    @hypothesis.given(properties.networks())
    def check(net) -> None:  # noqa: ANN001
        network = load(json.dumps(net.spec()))
        text = graph.mermaid(network)
        nodes, edges = _mermaid_structure(text)
        assert set(nodes) == {_id(n.name) for n in network.nodes} | terminals(network)
        assert len(edges) == sum(len(n.inputs) for n in network.nodes) + len(network.graph.outputs)
        dot = graph.dot(network)
        assert all(f"{_id(n.name)} [label=" in dot for n in network.nodes)
        assert text == graph.mermaid(load(json.dumps(net.spec())))

    check()
