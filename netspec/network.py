"""`netspec.load`: the front end in one call, and the analysed `Network` it returns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from netspec import objective as objective_
from netspec import passes
from netspec.errors import Problem, SpecError, stage
from netspec.ir import NetworkSpec, Shape
from netspec.objective import Objective
from netspec.parse import InvalidSpec, Remains, parse
from netspec.passes import Graph, Node, Stats
from netspec.spec import Document
from netspec.spec import load as load_document

DEFAULT_MAX_PARAMS = 2_000_000_000
"""Parameter budget: a spec over it is refused before any framework is imported."""


@dataclass(frozen=True)
class Network:
    """A validated spec with everything the passes derived: graph, shapes, counts."""

    spec: NetworkSpec
    document: Document
    graph: Graph
    shapes: dict[str, Shape]
    stats: dict[str, Stats]
    objective: Objective
    """What training computes: the loss as its output needs it, the targets, the metric."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def file(self) -> str:
        return self.document.source.file

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.document.text.encode("utf-8")).hexdigest()

    @property
    def input_shape(self) -> Shape:
        """The shape of the (first) input."""
        return self.shapes[self.graph.inputs[0]]

    @property
    def input_shapes(self) -> dict[str, Shape]:
        """Every input's shape, by name."""
        return {name: self.shapes[name] for name in self.graph.inputs}

    @property
    def several_inputs(self) -> bool:
        """The spec names its inputs (`inputs:`): the model takes them by name."""
        return self.spec.inputs is not None

    @property
    def single_io(self) -> bool:
        """One input (`input:`) and one output: what the generated training programs take."""
        return not self.several_inputs and len(self.graph.outputs) == 1

    @property
    def output_shapes(self) -> list[Shape]:
        return [self.shapes[name] for name in self.graph.outputs]

    @property
    def output_shape(self) -> Shape:
        return self.shapes[self.graph.output]

    @property
    def nodes(self) -> tuple[Node, ...]:
        return self.graph.nodes

    @property
    def params(self) -> int:
        """Trainable parameters (torch's `numel` of `parameters()`)."""
        return sum(s.params for s in self.stats.values())

    @property
    def buffers(self) -> int:
        """Non-trainable state (BatchNorm running statistics; Keras's non-trainable params)."""
        return sum(s.buffers for s in self.stats.values())

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one forward pass of one sample (FLOPs = 2 x MACs)."""
        return sum(s.macs for s in self.stats.values())

    def line_of(self, node: Node) -> int:
        return self.document.source.locate(node.path)[0]


def load(
    source: str | Path, *, name: str | None = None, max_params: int = DEFAULT_MAX_PARAMS
) -> Network:
    """Load, validate and analyse a spec from a path or from YAML text.

    Raises `netspec.SpecError` with every problem found, each located as `file:line:col`.
    """
    with stage("yaml"):
        document = load_document(source, name=name)
    return analyse(document, max_params=max_params)


def analyse(document: Document, *, max_params: int = DEFAULT_MAX_PARAMS) -> Network:
    source = document.source
    with stage("spec"):  # with the problems of what is valid of it (see _problems_of)
        try:
            spec = parse(document)
        except InvalidSpec as exc:
            if exc.remains is None:
                raise
            problems = [*exc.problems, *_problems_of(exc.remains, document)]
            raise SpecError(problems) from None
    with stage("network"):  # wiring, shape and sharing problems at once
        graph, problems = passes.expand(spec, source)
        shapes, found = passes.infer_shapes(graph, spec.sources(), source)
        problems += found + passes.check_shared(graph, shapes, source)
        if problems:
            raise SpecError(problems)
        stats = passes.count(graph, shapes)
        objective = objective_.check(spec.train, graph, shapes, source, spec.outputs)
        network = Network(spec, document, graph, shapes, stats, objective)
        if network.params + network.buffers > max_params:
            raise SpecError(
                [
                    source.problem(
                        (),
                        f"network has {network.params + network.buffers:,} parameters, "
                        f"over the budget of {max_params:,} (raise it with --max-params)",
                    )
                ]
            )
    return network


def _problems_of(remains: Remains, document: Document) -> list[Problem]:
    """The wiring, shape and sharing problems of what is valid of a spec that failed
    validation: every problem at once, holding back only what depends on a broken part."""
    source = document.source
    graph, problems = passes.expand_remains(remains, source)
    shapes, found = passes.infer_shapes(graph, remains.spec.sources(), source)
    return [*problems, *found, *passes.check_shared(graph, shapes, source)]
