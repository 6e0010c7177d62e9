"""The summary of a network as plain rows, and as the table `netspec summary` prints.

Convention (stated in the table, since tools disagree): MACs are multiply-accumulates of one
forward pass of one sample, counted for convolutions and dense layers; FLOPs = 2 x MACs.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    rows: list[Row] = []
    instances = {i.name: i.block for i in network.graph.instances}
    for node in network.nodes:
        enclosing = _enclosing(node.name, instances)
        for depth, prefix in enumerate(enclosing):
            if not any(r.name == prefix for r in rows):
                rows.append(_block_row(network, prefix, instances[prefix], depth))
        stats = network.stats[node.name]
        kind = node.layer.type  # type: ignore[attr-defined]
        shape = network.shapes[node.name]
        rows.append(
            Row(node.name, len(enclosing), kind, shape, stats.params, stats.buffers, stats.macs)
        )
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


def _block_row(network: Network, prefix: str, block: str, depth: int) -> Row:
    members = [n for n in network.nodes if n.name.startswith(prefix + ".")]
    stats = [network.stats[n.name] for n in members]
    return Row(
        prefix,
        depth,
        f"block {block}",
        network.shapes[members[-1].name],
        sum(s.params for s in stats),
        sum(s.buffers for s in stats),
        sum(s.macs for s in stats),
    )


def _human(n: float, unit: str = "") -> str:
    for suffix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {suffix}{unit}"
    return f"{n:g} {unit}".strip()


def _relative(row: Row, rows: tuple[Row, ...]) -> str:
    """A row's name below its enclosing block row (`conv1` under `layer1.0`)."""
    parents = [
        r.name for r in rows if r.depth == row.depth - 1 and row.name.startswith(r.name + ".")
    ]
    return row.name[len(parents[-1]) + 1 :] if row.depth and parents else row.name


def render(network: Network) -> str:
    """The summary table, in the manner of torchinfo and Keras's `summary()`."""
    s = summarize(network)
    header = ("Layer", "Type", "Output shape", "Params", "MACs")
    body = [
        (
            "  " * r.depth + _relative(r, s.rows),
            r.type,
            fmt(r.output_shape),
            f"{r.params:,}",
            f"{r.macs:,}",
        )
        for r in s.rows
    ]
    widths = [max(len(x) for x in col) for col in zip(header, *body)]
    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    lines = [
        f"{network.name} ({network.file})",
        f"Input shape: {fmt(network.input_shape)} (per sample, channels first)",
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
        f"MACs per sample:       {s.macs:,} ({_human(s.macs)}MACs = {_human(2 * s.macs)}FLOPs; FLOPs = 2 x MACs)",
        f"Activations / sample:  {_human(s.activation_bytes, 'B')} (fp32 outputs of every layer)",
        f"Parameter memory:      {_human(4 * s.params, 'B')} (fp32)",
    ]
    return "\n".join(lines) + "\n"
