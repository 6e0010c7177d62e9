"""The summary of a network as plain rows, and as the table `netspec summary` prints.

Conventions, torchinfo's (stated in the table, since tools disagree): "Total params" are the
parameters (all trainable in netspec); BatchNorm's running statistics are buffers, listed
apart (Keras counts them as non-trainable params). MACs are multiply-accumulates of one
forward pass of one sample, counted for convolutions and dense layers; FLOPs = 2 x MACs.
Memory is in MB of 10^6 bytes, fp32, estimated in the manner of torchinfo: for a batch, the
input, the forward/backward pass (every spec layer's output, twice: kept for the backward pass
and its gradient; torchinfo counts torch's leaf modules instead, so the two differ a little),
the parameters and buffers, and for training also the gradients and the optimizer's state.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from netspec.ir import Shape, fmt
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
    input_bytes: int
    """fp32 bytes of one sample's inputs."""
    optimizer_slots: int
    """Tensors the spec's optimizer keeps per parameter (SGD's momentum 1, Adam's 2)."""

    def memory(self, batch: int) -> dict[str, float]:
        """torchinfo's estimate for `batch` samples, in MB, plus what training adds."""
        mb = 1e-6
        values = {
            "input_mb": batch * self.input_bytes * mb,
            "forward_backward_mb": 2 * batch * self.activation_bytes * mb,
            "params_mb": 4 * (self.params + self.buffers) * mb,
        }
        values["total_mb"] = sum(values.values())
        values["training_mb"] = (
            values["total_mb"] + 4 * self.params * (1 + self.optimizer_slots) * mb
        )
        return values


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
    optimizer = network.spec.train.optimizer
    slots = 2 if optimizer.type in ("adam", "adamw") else int(optimizer.momentum > 0)  # type: ignore[union-attr]
    return Summary(
        tuple(rows),
        network.params,
        network.params,
        network.buffers,
        network.macs,
        4 * activation_elements(network.graph, network.shapes),
        4 * sum(math.prod(shape) for shape in network.input_shapes.values()),
        slots,
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


def as_json(network: Network, batch: int = 1) -> dict[str, Any]:
    """The summary as one JSON-ready document (`netspec summary --format json`)."""
    s = summarize(network)
    return {
        "name": network.name,
        "file": network.file,
        "inputs": {name: list(shape) for name, shape in network.input_shapes.items()},
        "layers": [{**asdict(r), "output_shape": list(r.output_shape)} for r in s.rows],
        "params": s.params,
        "trainable_params": s.trainable,
        "non_trainable_params": s.params - s.trainable,
        "buffers": s.buffers,
        "macs_per_sample": s.macs,
        "batch": batch,
        **s.memory(batch),
    }


def render(network: Network, batch: int = 1, depth: int | None = None) -> str:
    """The summary table, in the manner of torchinfo and Keras's `summary()`; `depth` hides
    the layers nested deeper in blocks (a block row still counts all of them)."""
    s = summarize(network)
    header = ("Layer", "Type", "Output shape", "Params", "MACs")
    body = [
        ("  " * r.depth + relative, r.type, fmt(r.output_shape), f"{r.params:,}", f"{r.macs:,}")
        for r, relative in zip(s.rows, _relative(s.rows))
        if depth is None or r.depth <= depth
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
            [f"Input shape: {fmt(network.input_shape)} ({_per_sample(network.input_shape)})"]
            if not network.several_inputs
            else [
                f"Input {name}: {fmt(shape)} ({_per_sample(shape)})"
                for name, shape in network.input_shapes.items()
            ]
        ),
        rule,
        line(header),
        rule,
    ]
    lines += [line(b) for b in body]
    memory = s.memory(batch)
    lines += [
        rule,
        f"Total params:          {s.params:,}",
        f"Trainable params:      {s.trainable:,}",
        f"Non-trainable params:  {s.params - s.trainable:,}",
        f"Buffers:               {s.buffers:,} (BatchNorm running statistics; Keras counts "
        "them as non-trainable params)",
        f"MACs per sample:       {s.macs:,} ({_human(s.macs)}MACs = {_human(2 * s.macs)}FLOPs;"
        " FLOPs = 2 x MACs)",
        rule,
        f"Memory for a batch of {batch} (MB = 10^6 bytes, fp32):",
        f"Input size (MB):                  {memory['input_mb']:.2f}",
        f"Forward/backward pass size (MB):  {memory['forward_backward_mb']:.2f}",
        f"Params size (MB):                 {memory['params_mb']:.2f}",
        f"Estimated total size (MB):        {memory['total_mb']:.2f}",
        f"Training total (MB):              {memory['training_mb']:.2f} (+ gradients, "
        f"{s.optimizer_slots} optimizer slot(s) per weight)",
    ]
    return "\n".join(lines) + "\n"


def _per_sample(shape: Shape) -> str:
    """What an input's shape holds: images say their layout, which the Keras model differs in."""
    return "per sample, channels first" if len(shape) == 3 else "per sample"
