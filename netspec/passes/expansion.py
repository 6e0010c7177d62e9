"""The expand pass: blocks and repeats flattened into concrete layers with hierarchical names,
`$param` references bound, names and `inputs:` resolved, sharing resolved.

Sharing (`share:`) is resolved here: a node that shares names, in `Node.shares`, the node that
holds the weights. A block use that shares an earlier use (`Instance.shares`) expands as usual,
then each of its nodes is pointed at the owner's node of the same local name.

`expand_remains` expands what is valid of a spec that failed validation: the layers that take
the output of a broken layer (or of a block whose definition is broken) are held back.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ValidationError

from netspec import parse as parse_
from netspec.errors import Problem, SpecError
from netspec.ir import BlockCall, LayerBase, NetworkSpec, ParamRef
from netspec.passes.nodes import INPUT, MAX_LAYERS, Graph, Instance, Node
from netspec.spec import Path_, SourceMap


class _TooLarge(Exception):
    """Expansion stopped at `MAX_LAYERS` (the problem is already recorded)."""


UNNAMED = "\0unnamed"
"""The "previous layer" before the first layer of a network with several inputs: there is
none, so that layer must name its inputs."""


class _Expander:
    def __init__(
        self, spec: NetworkSpec, source: SourceMap, broken_blocks: frozenset[str] = frozenset()
    ) -> None:
        self.spec = spec
        self.source = source
        self.broken_blocks = broken_blocks
        self.problems: list[Problem] = []
        self.checked: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        """Block uses held back behind a broken layer, checked already: (block, arguments)."""
        self.held_back = 0
        """Layers walked in checking those (bounded as a network's expansion is)."""
        self.nodes: list[Node] = []
        self.by_name: dict[str, Node] = {}
        self.instances: list[Instance] = []
        self.refs: dict[tuple[int, Path_], dict[str, Path_]] = {}
        """`_refs` of each layer (the spec keeps the layers alive, so their ids stay unique)."""
        self.listed: dict[str, str | None] = {}
        """The network's own layers' output nodes by local name (and its inputs)."""
        self.bound: dict[tuple[Any, ...], LayerBase] = {}
        """Each layer bound to the values of the parameters it uses: a block used a thousand times
        with the same arguments is validated once (the layers are frozen, so they can be shared)."""

    def fail(self, path: Path_, message: str, *, key: bool = False) -> None:
        self.problems.append(self.source.problem(path, message, key=key))

    def body(
        self,
        layers: list[LayerBase | parse_.BrokenLayer],
        base: Path_,
        prefix: str,
        entry: str | None,
        args: dict[str, Any] | None,
        chain: tuple[str, ...],
        sources: dict[str, str] | None = None,
    ) -> str | None:
        """Expand one layer list; returns the name of its output node (None if broken).
        `sources`: the names the list can refer to before its first layer (a network's
        several inputs; default: `input`, the list's own)."""
        local = self._local_names(layers, base)
        outputs: dict[str, str | None] = dict(sources) if sources else {INPUT: entry}
        if not prefix:  # the network's own list: its `outputs:` name these
            self.listed = outputs
        written: dict[str, LayerBase] = {}
        """The earlier layers of this list, bound, by local name (what `share:` can name)."""
        previous = entry
        ok = entry is not None
        for index, (layer, name) in enumerate(zip(layers, local)):
            path = (*base, index)
            if isinstance(layer, parse_.BrokenLayer):
                outputs[name] = previous = None  # reported; what takes its output waits
                continue
            layer = self._bind(layer, args, path)
            if layer is None:
                outputs[name] = previous = None
                ok = False
                continue
            if sources and layer.name in sources:
                self.fail((*path, "name"), f"name {layer.name!r} is the name of an input")
            inputs = self._inputs(layer, path, outputs, previous, index, local)
            full = prefix + name
            shares = None
            if layer.share is not None:
                shares = self._share(layer, path, outputs, written, prefix)
            written[name] = layer
            if inputs is None or not ok or (layer.share is not None and shares is None):
                # held back behind a broken layer or its own broken share (each reported); a
                # block use's block and arguments are still checked
                if isinstance(layer, BlockCall):
                    self._call(layer, path, full, None, args, chain, shares)
                outputs[name] = previous = None
                continue
            if isinstance(layer, BlockCall):
                out = self._call(layer, path, full, inputs, args, chain, shares)
            else:
                out = self._repeat(layer, path, full, inputs, shares)
            outputs[name] = previous = out
        return previous

    def _local_names(self, layers: list[LayerBase | parse_.BrokenLayer], base: Path_) -> list[str]:
        taken: dict[str, int] = {}
        for index, layer in enumerate(layers):
            if layer.name is None:
                continue
            if layer.name in taken:
                line = self.source.locate((*base, taken[layer.name]))[0]
                self.fail(
                    (*base, index, "name"), f"name {layer.name!r} is already used on line {line}"
                )
            taken.setdefault(layer.name, index)
        names, counts = [], dict.fromkeys(taken, 0)
        for layer in layers:
            if layer.name is not None:
                names.append(layer.name)
                continue
            kind = layer.type  # type: ignore[attr-defined]
            counts[kind] = counts.get(kind, 0) + 1
            while f"{kind}_{counts[kind]}" in taken:
                counts[kind] += 1
            names.append(f"{kind}_{counts[kind]}")
        return names

    def _bind(self, layer: LayerBase, args: dict[str, Any] | None, path: Path_) -> LayerBase | None:
        """Substitute `$param` references and validate the concrete layer again."""
        key = (id(layer), path)  # a block's layers are bound once per use: walk each once
        refs = self.refs.get(key)
        if refs is None:
            refs = self.refs[key] = _refs(layer, path)
        if not refs:
            return layer
        if args is None:
            for ref, where in refs.items():
                message = (
                    f"{'$' + ref!r} is used outside a block "
                    "(only a block's layers can use its parameters)"
                )
                self.fail(where, message)
            return None
        unknown = [ref for ref in refs if ref not in args]
        for ref in unknown:
            hint = parse_.suggest(f"${ref}", [f"${a}" for a in args])
            self.fail(refs[ref], f"unknown parameter {'$' + ref!r}{hint}")
        if unknown:
            return None
        bound_key = (*key, tuple((ref, type(args[ref]), args[ref]) for ref in refs))
        bound = self.bound.get(bound_key)
        if bound is not None:
            return bound
        data = _substitute(layer, args)
        try:
            bound = self.bound[bound_key] = type(layer).model_validate(data)
            return bound
        except ValidationError as exc:
            given = ", ".join(f"${k} = {args[k]!r}" for k in refs)
            for problem in parse_.problems(exc, data, self.source, type(layer), path):
                self.problems.append(replace(problem, message=f"{problem.message} (where {given})"))
            return None

    def _inputs(
        self,
        layer: LayerBase,
        path: Path_,
        outputs: dict[str, str | None],
        previous: str | None,
        index: int,
        local: list[str],
    ) -> tuple[str, ...] | None:
        if layer.inputs is None and previous == UNNAMED:
            self.fail(
                (*path, "type"),
                "the network has several inputs: name this layer's in its inputs: [...]",
            )
            return None
        if layer.inputs is None:
            found: list[str | None] = [previous]
        else:
            found = []
            for i, ref in enumerate(layer.inputs):
                if ref not in outputs:
                    later = ref in local[index:]
                    reason = (
                        "is defined later (inputs must come first)" if later else "is not defined"
                    )
                    hint = "" if later else parse_.suggest(ref, list(outputs))
                    self.fail((*path, "inputs", i), f"input {ref!r} {reason}{hint}")
                    return None
                found.append(outputs[ref])
        low, high = layer.arity
        if not low <= len(found) <= high:
            wanted = (
                f"{low} input"
                if low == high == 1
                else (f"{low} inputs" if low == high else f"{low} to {high} inputs")
            )
            hint = "" if layer.inputs else " (the previous layer); name them in inputs: [...]"
            self.fail((*path, "inputs"), f"{layer.type} takes {wanted}, got {len(found)}{hint}")  # type: ignore[attr-defined]
            return None
        if any(f is None for f in found):
            return None
        return tuple(f for f in found if f is not None)

    def _share(
        self,
        layer: LayerBase,
        path: Path_,
        outputs: dict[str, str | None],
        written: dict[str, LayerBase],
        prefix: str,
    ) -> str | None:
        """Full name of the layer or block use whose weights `layer` applies; None when there
        is none (each problem is reported here, in the spec's words)."""
        target, where = str(layer.share), (*path, "share")
        if target not in outputs or target == INPUT:
            hint = parse_.suggest(target, [k for k in outputs if k != INPUT])
            self.fail(where, f"share: {target!r} is not an earlier layer here{hint}")
            return None
        owner = written.get(target)
        if owner is None or outputs[target] is None:
            return None  # the owner is broken, and reported
        kind, theirs = layer.type, owner.type  # type: ignore[attr-defined]
        if (kind, theirs) == ("dense", "embedding"):
            return self._tie(layer, owner, where, prefix + target)
        if kind != theirs:
            self.fail(where, f"share: {target!r} is a {theirs}, not a {kind}")
        elif "repeat" in layer.model_fields_set:
            self.fail(where, f"share: a {kind} that shares cannot repeat (drop repeat)")
        elif "repeat" in owner.model_fields_set:
            self.fail(where, f"share: {target!r} repeats; only an unrepeated {kind} can be shared")
        elif owner.share is not None:
            self.fail(where, f"share: {target!r} shares {owner.share!r} itself; share that one")
        else:
            differ = self._differences(layer, owner)
            if not differ:
                return prefix + target
            self.fail(where, f"share: {target!r} is configured differently: {'; '.join(differ)}")
        return None

    def _tie(self, layer: LayerBase, owner: LayerBase, where: Path_, full: str) -> str | None:
        """A dense layer that shares an embedding applies its table transposed (output
        logits over the vocabulary from the input's own embedding: weight tying)."""
        units, vocab = layer.units, owner.vocab  # type: ignore[attr-defined]
        if layer.bias:  # type: ignore[attr-defined]
            self.fail(where, "share: a dense layer tied to an embedding has no bias (bias: false)")
        elif units != vocab:
            self.fail(
                where,
                f"share: a dense layer tied to an embedding of vocab {vocab} has {vocab} "
                f"units, not {units}",
            )
        elif "repeat" in layer.model_fields_set or "repeat" in owner.model_fields_set:
            self.fail(where, "share: a tied dense layer and its embedding cannot repeat")
        else:
            return full
        return None

    def _differences(self, layer: LayerBase, owner: LayerBase) -> list[str]:
        """`field: mine vs theirs` for every field that differs (block uses: the block and
        its arguments with defaults filled in, compared by type too: 1 is not 1.0)."""
        if isinstance(layer, BlockCall) and isinstance(owner, BlockCall):
            if layer.block != owner.block:
                return [f"block: {layer.block} vs {owner.block}"]
            params = self.spec.blocks[owner.block].params  # the owner expanded: it exists
            mine, theirs = ({**params, **call.args} for call in (layer, owner))
            return [
                f"args.{k}: {spec_text(mine[k])} vs {spec_text(theirs[k])}"
                for k in mine
                if (type(mine[k]), mine[k]) != (type(theirs.get(k)), theirs.get(k))
            ]
        ignore = {"name", "inputs", "share", "repeat"}
        fields = [k for k in type(layer).model_fields if k not in ignore]
        return [
            f"{k}: {spec_text(getattr(layer, k))} vs {spec_text(getattr(owner, k))}"
            for k in fields
            if getattr(layer, k) != getattr(owner, k)
        ]

    def _repeat(
        self, layer: LayerBase, path: Path_, full: str, inputs: tuple[str, ...], shares: str | None
    ) -> str:
        if "repeat" not in layer.model_fields_set:
            self._add(Node(full, layer, inputs, path, shares))
            return full
        for i in range(layer.repeat):
            name = f"{full}.{i}"
            self._add(Node(name, layer, inputs, path))
            inputs = (name,)
        return inputs[0]

    def _add(self, node: Node) -> None:
        if len(self.nodes) >= MAX_LAYERS:
            self.fail(
                node.path,
                f"network expands to more than {MAX_LAYERS:,} layers (at {node.name!r}); "
                "check the repeat counts",
            )
            raise _TooLarge
        self.nodes.append(node)
        self.by_name[node.name] = node

    def _call(
        self,
        call: BlockCall,
        path: Path_,
        full: str,
        inputs: tuple[str, ...] | None,
        outer_args: dict[str, Any] | None,
        chain: tuple[str, ...],
        shares: str | None,
    ) -> str | None:
        """Expand a block use (each copy, if it repeats); a use that shares an earlier one
        points each of its nodes at the owner's node that holds the weights. With `inputs`
        None (held back behind a broken layer), only check the use: its block, its arguments
        and the block's layers bound to them."""
        if call.block in self.broken_blocks:
            return None  # its definition is reported
        block = self.spec.blocks.get(call.block)
        if block is None:
            hint = parse_.suggest(call.block, list(self.spec.blocks))
            self.fail((*path, "block"), f"unknown block {call.block!r}{hint}")
            return None
        if call.block in chain:
            self.fail(
                (*path, "block"),
                f"block {call.block!r} uses itself ({' -> '.join((*chain, call.block))})",
            )
            return None
        args: dict[str, Any] = {}
        for key, value in call.args.items():
            if key not in block.params:
                hint = parse_.suggest(key, list(block.params))
                known = ", ".join(block.params) or "none"
                self.fail(
                    (*path, "args", key),
                    f"block {call.block!r} has no parameter {key!r}{hint} (parameters: {known})",
                    key=True,
                )
                return None
            args[key] = value
        for key, default in block.params.items():
            if key not in args:
                if default is None:
                    self.fail((*path, "args"), f"block {call.block!r} needs parameter {key!r}")
                    return None
                args[key] = default
        args = {k: _substitute(v, outer_args or {}) for k, v in args.items()}
        if inputs is None:  # each block with each set of arguments checked once, and no more
            key = (call.block, tuple(sorted((k, repr(v)) for k, v in args.items())))  # layers
            if key in self.checked or self.held_back > MAX_LAYERS:  # than a network may hold
                return None
            self.checked.add(key)
            self.held_back += len(block.layers)
            layers, base = list(block.layers), ("blocks", call.block, "layers")
            return self.body(layers, base, full + ".", None, args, (*chain, call.block))
        copies = call.repeat if "repeat" in call.model_fields_set else None
        out = inputs[0]
        for i in range(copies or 1):
            name = full if copies is None else f"{full}.{i}"
            self.instances.append(Instance(name, call.block, args, path, out, shares))
            start = len(self.nodes)
            last = self.body(
                list(block.layers),
                ("blocks", call.block, "layers"),
                name + ".",
                out,
                args,
                (*chain, call.block),
            )
            if shares is not None:
                self._point_at(start, name, shares)
            if last is None:
                return None
            out = last
        return out

    def _point_at(self, start: int, name: str, owner: str) -> None:
        """Make the nodes from `start` on (the use `name` of a block) share the weights of the
        same nodes of the use `owner`: `name.conv` shares `owner.conv`, or what that one
        shares (a node always names the node that holds the weights)."""
        for i in range(start, len(self.nodes)):
            node = self.nodes[i]
            theirs = self.by_name.get(owner + node.name[len(name) :])
            if theirs is None:  # held back behind a broken layer (`expand_remains`)
                continue
            self.nodes[i] = self.by_name[node.name] = replace(
                node, shares=theirs.shares or theirs.name
            )


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def spec_text(value: Any) -> str:
    """`value` as a user writes it in YAML, for messages that compare values: `3` for a pair of
    equals, `[1, 2]`, `true`, `same`, a tagged model as its tag when the rest are defaults
    (`relu`) else as a flow mapping (`{type: leaky_relu, alpha: 0.2}`), `none` for no value."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple) and len(value) == 2 and value[0] == value[1]:
        return spec_text(value[0])
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(spec_text(v) for v in value) + "]"
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        value = {k: getattr(value, k) for k, f in fields.items() if getattr(value, k) != f.default}
        if list(value) == ["type"]:
            return str(value["type"])
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {spec_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str) and (
        not _PLAIN.fullmatch(value) or value.lower() in ("true", "false", "null")
    ):
        return json.dumps(value)
    return str(value)


def _refs(value: Any, path: Path_) -> dict[str, Path_]:
    """The `$param` references in `value`, each with the path of its first use."""
    if isinstance(value, ParamRef):
        return {str(value): path}
    if isinstance(value, BaseModel):
        fields = [k for k in type(value).model_fields if k in value.model_fields_set]
        items: Any = ((k, getattr(value, k)) for k in fields)
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    elif isinstance(value, dict):
        items = value.items()
    else:
        return {}
    found: dict[str, Path_] = {}
    for key, item in items:
        for ref, where in _refs(item, (*path, key)).items():
            found.setdefault(ref, where)
    return found


def _substitute(value: Any, args: dict[str, Any]) -> Any:
    """Plain data for `value` with every `$param` replaced by its argument."""
    if isinstance(value, ParamRef):
        return args.get(str(value), value)
    if isinstance(value, BaseModel):
        return {k: _substitute(getattr(value, k), args) for k in value.model_fields_set}
    if isinstance(value, (list, tuple)):
        return [_substitute(v, args) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, args) for k, v in value.items()}
    return value


def expand(spec: NetworkSpec, source: SourceMap) -> tuple[Graph, list[Problem]]:
    """Flatten blocks and repeats into a graph of concrete layers with hierarchical names, and
    the wiring problems found. With problems, the graph holds the layers that could be wired
    (no outputs), so that their shapes can still be checked: every problem at once."""
    expander = _Expander(spec, source)
    names = tuple(spec.sources())
    try:
        last = _network_body(expander, spec)
    except _TooLarge:
        raise SpecError(expander.problems) from None
    outputs = _outputs(expander, spec, last)
    if not expander.problems:  # after a wiring error, "never used" is mostly its echo
        _check_used(expander, outputs, names)
    if not expander.problems and not outputs:
        expander.fail((), "network has no output")
    graph = Graph(tuple(expander.nodes), tuple(expander.instances), outputs, names)
    if not expander.problems:
        return graph, []
    return _checkable(replace(graph, outputs=())), expander.problems


def expand_remains(remains: parse_.Remains, source: SourceMap) -> tuple[Graph, list[Problem]]:
    """The graph of what is valid of a spec that failed validation, and the problems found in
    it. Outputs and unused layers are not checked: what the broken layers take and give is
    unknown, so the graph has no outputs."""
    expander = _Expander(remains.spec, source, remains.broken_blocks)
    try:
        _network_body(expander, remains.spec)
    except _TooLarge:
        pass  # reported; the nodes so far are still checked
    names = tuple(remains.spec.sources())
    graph = Graph(tuple(expander.nodes), tuple(expander.instances), (), names)
    return _checkable(graph), expander.problems


def _checkable(graph: Graph) -> Graph:
    """`graph`, or an empty one where a name is given twice (reported): nodes of one name, or
    of an input's, would be taken for each other by the shape and sharing checks."""
    names = [n.name for n in graph.nodes]
    if len(set(names)) == len(names) and not set(names) & set(graph.inputs):
        return graph
    return replace(graph, nodes=(), instances=())


def _network_body(expander: _Expander, spec: NetworkSpec) -> str | None:
    """Expand the network's own layer list; returns its last layer's node (None if broken)."""
    names = tuple(spec.sources())
    several = spec.inputs is not None
    return expander.body(
        list(spec.layers),
        ("layers",),
        "",
        UNNAMED if several else INPUT,
        None,
        (),
        {n: n for n in names} if several else None,
    )


def _outputs(expander: _Expander, spec: NetworkSpec, last: str | None) -> tuple[str, ...]:
    """The nodes of the spec's `outputs:` (by the names of its layers), or the last layer's."""
    if spec.outputs is None:
        return () if last is None else (last,)
    found = []
    for index, name in enumerate(spec.outputs):
        if name not in expander.listed or name in spec.sources():
            hint = parse_.suggest(name, [k for k in expander.listed if k not in spec.sources()])
            expander.fail(("outputs", index), f"output {name!r} is not a layer{hint}")
        elif expander.listed[name] is not None:
            found.append(expander.listed[name])
    return tuple(found) if len(found) == len(spec.outputs) else ()


def _check_used(expander: _Expander, outputs: tuple[str, ...], inputs: tuple[str, ...]) -> None:
    """Every layer must reach an output, and every input a layer: an unused branch or input
    is almost always a wiring mistake."""
    used = set(outputs) | {i for n in expander.nodes for i in n.inputs}
    for node in expander.nodes:
        if node.name not in used:
            expander.fail(node.path, f"output of {node.name!r} is never used")
    for name in inputs:
        if name not in used:
            expander.fail(("inputs", name), f"input {name!r} is never used", key=True)
