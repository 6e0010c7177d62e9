"""The summary of a network as plain rows, and as the table `netspec summary` prints.

Convention (stated in the table, since tools disagree): MACs are multiply-accumulates of one
forward pass of one sample, counted for convolutions and dense layers; FLOPs = 2 x MACs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netspec.ir import fmt
from netspec.network import Network
from netspec.passes import activation_elements


@dataclass(frozen=True)
class Row:
    name: str
    """Hierarchical name; a block use is a row of its own, its layers below it."""
    depth: int
    type: str
    output_shape: tuple[int, ...]
    params: int
    buffers: int
    macs: int


@dataclass(frozen=True)
class Summary:
    rows: tuple[Row, ...]
    params: int
    trainable: int
    buffers: int
    macs: int
    activation_bytes: int
    """fp32 bytes of every layer output for one sample."""


def summarize(network: Network) -> Summary:
    """Rows in spec order, each block use as a row (its totals) above its layers; one pass."""
    instances = {i.name: i.block for i in network.graph.instances}
    blocks: dict[str, list[Any]] = {}  # block use -> [depth, params, buffers, macs, last node]
    order: list[tuple[str, int]] = []  # (name, depth) of every row
    for node in network.nodes:
        enclosing = _enclosing(node.name, instances)
        stats = network.stats[node.name]
        for depth, prefix in enumerate(enclosing):
            if prefix not in blocks:
                blocks[prefix] = [depth, 0, 0, 0, node.name]
                order.append((prefix, depth))
            totals = blocks[prefix]
            totals[1:] = [totals[1] + stats.params, totals[2] + stats.buffers,
                          totals[3] + stats.macs, node.name]  # fmt: skip
        order.append((node.name, len(enclosing)))
    by_name = {node.name: node for node in network.nodes}
    rows = []
    for name, depth in order:
        if name in blocks:
            _, params, buffers, macs, last = blocks[name]
            kind, shape = f"block {instances[name]}", network.shapes[last]
        else:
            stats = network.stats[name]
            params, buffers, macs = stats.params, stats.buffers, stats.macs
            kind, shape = by_name[name].layer.type, network.shapes[name]  # type: ignore[attr-defined]
        rows.append(Row(name, depth, kind, shape, params, buffers, macs))
    return Summary(
        tuple(rows),
        network.params + network.buffers,
        network.params,
        network.buffers,
        network.macs,
        4 * activation_elements(network.graph, network.shapes),
    )


def _enclosing(name: str, instances: dict[str, str]) -> list[str]:
    """Block uses that contain `name`, outermost first."""
    parts = name.split(".")
    return [p for p in (".".join(parts[:d]) for d in range(1, len(parts))) if p in instances]


def _human(n: float, unit: str = "") -> str:
    for suffix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {suffix}{unit}"
    return f"{n:g} {unit}".strip()


def _relative(rows: tuple[Row, ...]) -> list[str]:
    """Each row's name below its enclosing block row (`conv1` under `layer1.0`)."""
    parents: list[str] = []  # the latest block row at each depth
    names = []
    for row in rows:
        del parents[row.depth :]
        names.append(row.name[len(parents[-1]) + 1 :] if row.depth and parents else row.name)
        if row.type.startswith("block "):
            parents.append(row.name)
    return names


def render(network: Network) -> str:
    """The summary table, in the manner of torchinfo and Keras's `summary()`."""
    s = summarize(network)
    header = ("Layer", "Type", "Output shape", "Params", "MACs")
    body = [
        ("  " * r.depth + relative, r.type, fmt(r.output_shape), f"{r.params:,}", f"{r.macs:,}")
        for r, relative in zip(s.rows, _relative(s.rows))
    ]
    widths = [max(len(x) for x in col) for col in zip(header, *body)]
    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    lines = [
        f"{network.name} ({network.file})",
        *(
            [f"Input shape: {fmt(network.input_shape)} (per sample, channels first)"]
            if not network.several_inputs
            else [
                f"Input {name}: {fmt(shape)} (per sample, channels first)"
                for name, shape in network.input_shapes.items()
            ]
        ),
        rule,
        line(header),
        rule,
    ]
    lines += [line(b) for b in body]
    lines += [
        rule,
        f"Total params:          {s.params:,}",
        f"Trainable params:      {s.trainable:,}",
        f"Non-trainable params:  {s.buffers:,} (BatchNorm running statistics, buffers in torch)",
        f"MACs per sample:       {s.macs:,} ({_human(s.macs)}MACs = {_human(2 * s.macs)}FLOPs;"
        " FLOPs = 2 x MACs)",
        f"Activations / sample:  {_human(s.activation_bytes, 'B')} (fp32 outputs of every layer)",
        f"Parameter memory:      {_human(4 * s.params, 'B')} (fp32)",
    ]
    return "\n".join(lines) + "\n"
