"""`netspec graph`: the network as a picture: Mermaid text, Graphviz DOT, or SVG via `dot`.

One backend-neutral view (`layout`) decides everything: a node per layer (plus the input and
the output) labelled with its name, type, output shape and parameters; a cluster per block
use, nested as the blocks are; an edge per input, marked `skip` when it does not come from
the node just before (residual shortcuts, projections, branches). The two writers only lay
the view out in their syntax, escaping every label for it. The output is a pure function of
the spec: the same spec always gives the same text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from netspec.network import Network
from netspec.passes import Node

FORMATS = ("mermaid", "dot", "svg")
OUTPUT = "output"


@dataclass(frozen=True)
class GraphNode:
    id: str
    """An identifier safe in both syntaxes (letters, digits, `_`; never a keyword)."""
    lines: tuple[str, ...]
    """Label text, one entry per line (unescaped)."""
    terminal: bool = False
    """The network's input or output (drawn rounder)."""


@dataclass
class Cluster:
    id: str
    name: str
    """The block use's node-name prefix (`layer1.0`); the root's is empty."""
    title: str
    items: list[GraphNode | Cluster] = field(default_factory=list)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    skip: bool


@dataclass(frozen=True)
class View:
    title: str
    comment: str
    root: Cluster
    edges: tuple[Edge, ...]


def shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


class _Ids:
    def __init__(self) -> None:
        self.taken: set[str] = set()

    def claim(self, prefix: str, name: str) -> str:
        base = prefix + re.sub(r"[^A-Za-z0-9_]", "_", name)
        ident, n = base, 1
        while ident in self.taken:
            n += 1
            ident = f"{base}_{n}"
        self.taken.add(ident)
        return ident


def layout(network: Network) -> View:
    """What to draw, decided once for every format."""
    ids = _Ids()
    instances = {i.name: i.block for i in network.graph.instances}
    node_id = {name: ids.claim("n_", name) for name in network.graph.inputs}
    root = Cluster("root", "", network.name)
    clusters: dict[str, Cluster] = {}
    for name, shape in network.input_shapes.items():
        root.items.append(GraphNode(node_id[name], (name, shape_text(shape)), terminal=True))
    order = [network.graph.inputs[-1]]
    for node in network.nodes:
        node_id[node.name] = ids.claim("n_", node.name)
        parent = root
        for prefix in _enclosing(node.name, instances):
            if prefix not in clusters:
                title = f"{prefix} ({instances[prefix]})"
                clusters[prefix] = Cluster(ids.claim("b_", prefix), prefix, title)
                parent.items.append(clusters[prefix])
            parent = clusters[prefix]
        local = node.name[len(parent.name) + 1 :] if parent.name else node.name
        parent.items.append(GraphNode(node_id[node.name], _label(network, node, local)))
        order.append(node.name)
    edges = []
    for previous, node in zip(order, network.nodes):
        for source in node.inputs:
            edges.append(Edge(node_id[source], node_id[node.name], skip=source != previous))
    several = len(network.graph.outputs) > 1
    for output in network.graph.outputs:
        out_id = ids.claim("n_", OUTPUT)
        title = f"output ({output})" if several else "output"
        root.items.append(GraphNode(out_id, (title, shape_text(network.shapes[output])), True))
        edges.append(Edge(node_id[output], out_id, skip=output != order[-1]))
    file = re.sub(r"[^A-Za-z0-9._-]", "?", network.file.replace("\\", "/").rsplit("/", 1)[-1])
    comment = (
        f"{network.name} from {file}: {network.params:,} parameters; "
        "dashed edges skip ahead (shortcuts and branches)"
    )
    return View(network.name, comment, root, tuple(edges))


def _enclosing(name: str, instances: dict[str, str]) -> list[str]:
    """The block uses that contain the node `name`, outermost first."""
    parts = name.split(".")
    prefixes = (".".join(parts[:i]) for i in range(1, len(parts)))
    return [p for p in prefixes if p in instances]


def _label(network: Network, node: Node, local: str) -> tuple[str, ...]:
    """Name (within its block use, which the cluster shows), type, shape and parameters (a
    layer without any shows none)."""
    kind = node.layer.type  # type: ignore[attr-defined]
    activation = getattr(node.layer, "activation", None)
    if activation is not None:
        kind = f"{kind} + {activation.type}"
    stats = network.stats[node.name]
    lines = (local, f"{kind} · {shape_text(network.shapes[node.name])}")
    if node.shares is not None:
        return (*lines, f"shares {node.shares}")
    if stats.params or stats.buffers:
        params = f"{stats.params:,} params"
        if stats.buffers:
            params += f" + {stats.buffers:,} buffers"
        return (*lines, params)
    return lines


# ----------------------------------------------------------------------------- Mermaid

_MERMAID_SAFE = re.compile(r"[A-Za-z0-9 _.,:()+\-=/×·]")


def mermaid_text(text: str) -> str:
    """Text for a quoted Mermaid label: anything beyond plain characters becomes an entity
    code (`#34;`), so quotes, `#`, `<`, `>`, `&`, backticks and newlines cannot end or
    reinterpret the label."""
    return "".join(ch if _MERMAID_SAFE.fullmatch(ch) else f"#{ord(ch)};" for ch in text)


def mermaid(network: Network) -> str:
    """A Mermaid flowchart (top to bottom) that GitHub renders in Markdown."""
    view = layout(network)
    lines = ["flowchart TD", f"    %% {view.comment}"]

    def walk(cluster: Cluster, depth: int) -> None:
        pad = "    " * depth
        for item in cluster.items:
            if isinstance(item, Cluster):
                lines.append(f'{pad}subgraph {item.id}["{mermaid_text(item.title)}"]')
                walk(item, depth + 1)
                lines.append(f"{pad}end")
            else:
                label = "<br/>".join(mermaid_text(line) for line in item.lines)
                open_, close = ('(["', '"])') if item.terminal else ('["', '"]')
                lines.append(f"{pad}{item.id}{open_}{label}{close}")

    walk(view.root, 1)
    for edge in view.edges:
        arrow = "-.->" if edge.skip else "-->"
        lines.append(f"    {edge.source} {arrow} {edge.target}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- Graphviz


def dot_text(text: str) -> str:
    """Text for a double-quoted DOT string (backslash first: DOT reads `\\n`, `\\l`...)."""
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    return out.replace("\r", "\\n").replace("\n", "\\n")


def dot(network: Network) -> str:
    """Graphviz DOT: a cluster per block use, dashed edges for skips."""
    view = layout(network)
    lines = [
        f"// {view.comment}",
        f'digraph "{dot_text(view.title)}" {{',
        f'    graph [label="{dot_text(view.title)}", labelloc=t, fontname="Helvetica"];',
        '    node [shape=box, style="rounded,filled", fillcolor="#eef3fb", '
        'fontname="Helvetica", fontsize=10];',
        '    edge [color="#555555"];',
    ]

    def walk(cluster: Cluster, depth: int) -> None:
        pad = "    " * depth
        for item in cluster.items:
            if isinstance(item, Cluster):
                lines.append(f"{pad}subgraph cluster_{item.id} {{")
                lines.append(f'{pad}    label="{dot_text(item.title)}";')
                lines.append(f'{pad}    style="rounded,dashed"; color="#7a8ca8";')
                walk(item, depth + 1)
                lines.append(f"{pad}}}")
            else:
                label = "\\n".join(dot_text(line) for line in item.lines)
                extra = ', shape=oval, fillcolor="#fdf2d0"' if item.terminal else ""
                lines.append(f'{pad}{item.id} [label="{label}"{extra}];')

    walk(view.root, 1)
    for edge in view.edges:
        style = ' [style=dashed, color="#c0392b"]' if edge.skip else ""
        lines.append(f"    {edge.source} -> {edge.target}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def svg(network: Network) -> str:
    """SVG drawn by Graphviz's `dot` program (DOT on its stdin; no shell)."""
    program = shutil.which("dot")
    if program is None:
        raise FileNotFoundError(
            "drawing SVG needs the 'dot' program of Graphviz, which is not installed "
            "(apt-get install graphviz, brew install graphviz, or conda install graphviz); "
            "or use --format dot or --format mermaid"
        )
    result = subprocess.run(
        [program, "-Tsvg"],
        input=dot(network).encode("utf-8"),
        capture_output=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise OSError(f"dot failed (exit {result.returncode}): {message}")
    return result.stdout.decode("utf-8")


RENDERERS = {"mermaid": mermaid, "dot": dot, "svg": svg}


def render_graph(network: Network, format: str, output: str | Path | None = None) -> str:
    """Render `network` in `format` and write it to `output` (a file) or to stdout."""
    if format not in RENDERERS:
        raise ValueError(f"unknown graph format {format!r} (choose from {', '.join(FORMATS)})")
    text = RENDERERS[format](network)
    if output is None:
        sys.stdout.write(text)
    else:
        Path(output).write_text(text, encoding="utf-8", newline="\n")
    return text
