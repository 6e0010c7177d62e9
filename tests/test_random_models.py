"""Random valid networks (tests/netgen.py) compute the same function in both backends.

For each network of the sample: both packages build (or the Keras emitter refuses it with its
documented message: a conv with a stride and a dilation above 1); the generated code runs with
the inferred shape of every layer and the spec's parameter counts; and given the same weights
(BatchNorm statistics, the scales and shifts of normalisations and layer scales randomised),
torch and Keras give the same outputs, the same loss (the generated train.py's `make_loss()`,
on targets fitting the loss; and for a spec whose training mixes its batches, the loss on
batches as each program mixes them) and the same gradient of every weight, shared weights
included, to 1e-5 relative (the largest difference over the largest value of each array) —
in eval mode, and in training mode too where the function is deterministic there (every
dropout and drop_path rate and noise stddev 0; BatchNorm then uses the batch's statistics in both).
Keras's channels-last images are converted back to the spec's layout before comparing; flat
outputs are compared as they are (tests/scripts/random_keras.py). Networks of several named
inputs get one array per input (torch by keyword, Keras a dict by name), and every output of
several is compared, the loss on the one `train.output` names (or the first); a per-step loss
gets (N, T) class indices, some of them its `ignore_index` where it has one (never all).
Token networks get int64 ids below their vocab, every padding_index among them (its embedding
row random: padding tokens read it in both backends, as in torch). The comparison runs in
float64, so that a difference means a different function, not rounding (in float32, a gradient
that is zero in exact arithmetic, such as a bias's before a BatchNorm in training mode, is
rounding noise that differs between the frameworks by 1e-3 of its tiny scale).

Cost: ONE torch process and ONE Keras process run every network, side by side; they start
first (importing their framework) while the networks are drawn and built here. CI draws 50
networks with a fixed seed (every focus of the generator at least once; about a minute on two
cores). The long profile draws more, or others:

    NETSPEC_PROPERTY_EXAMPLES=500 NETSPEC_PROPERTY_SEED=7 .venv/bin/python -m pytest \\
        tests/test_random_models.py tests/test_properties.py

A failure prints each failing network's spec (YAML, one layer a line): save it as spec.yaml
and `netspec build` it to reproduce.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netspec
from netspec.emit.base import EmitError
from netspec.network import Network
from netspec.weights import LAYOUTS
from tests.frameworks import ROOT, SCRIPTS
from tests.netgen import Net, sample

BATCH = 4
TOLERANCE = 1e-5
DTYPE = "float64"


def owners(network: Network) -> list:
    """Nodes that own weights (netspec.weights' notion: every kind of `LAYOUTS`, not sharing)."""
    return [n for n in network.nodes if n.layer.type in LAYOUTS and n.shares is None]


def random_weights(network: Network, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Weights for every owner, in netspec.weights' .npz layout (`layer/key`, torch's shapes),
    scaled like torch's default initialisation; the scales and shifts of normalisations and
    layer scales, and BatchNorm's statistics, randomised."""
    arrays = {}
    for node in owners(network):
        layer, shape = node.layer, network.shapes[node.inputs[0]]
        c = shape[-1] if len(shape) == 2 else shape[0]  # what per-feature weights act on
        if layer.type in SEQUENCE_WEIGHTS:
            arrays |= sequence_weights(node.name, layer, shape, rng)
            continue
        if layer.type in ("batchnorm", "layernorm", "groupnorm"):
            arrays[f"{node.name}/weight"] = rng.uniform(0.5, 1.5, c)
            arrays[f"{node.name}/bias"] = rng.uniform(-0.5, 0.5, c)
            if layer.type == "batchnorm":
                arrays[f"{node.name}/running_mean"] = rng.uniform(-0.5, 0.5, c)
                arrays[f"{node.name}/running_var"] = rng.uniform(0.5, 2.0, c)
            continue
        if layer.type == "scale":  # torch keeps an image's as (C, 1, 1)
            dims = (c, 1, 1) if len(shape) == 3 else (c,)
            arrays[f"{node.name}/weight"] = rng.uniform(-1.5, 1.5, dims)
            continue
        if layer.type == "conv2d":
            out = layer.out_channels(c)
            dims = (out, c // layer.group_count(c), *layer.kernel)
        elif layer.type == "conv_transpose2d":  # torch's (in, out, kH, kW)
            out = layer.filters
            dims = (c, out, *layer.kernel)
        else:
            out = layer.units
            dims = (out, c)
        bound = 1 / np.sqrt(np.prod(dims[1:]))
        arrays[f"{node.name}/weight"] = rng.uniform(-bound, bound, dims)
        if layer.bias:
            arrays[f"{node.name}/bias"] = rng.uniform(-bound, bound, out)
    return arrays


SEQUENCE_WEIGHTS = (
    "embedding", "position_embedding", "class_token", "conv1d", "multihead_attention", "lstm",
    "gru",
)  # fmt: skip
"""The kinds of sequences with weights (`sequence_weights` makes theirs)."""


def sequence_weights(
    name: str, layer: Any, shape: tuple[int, ...], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The weights of a layer of `SEQUENCE_WEIGHTS` on input `shape`, as torch holds them: an
    embedding's table (its padding_index row too: both backends read it, as torch does, and a
    tied output layer trains it), the (1, length, F) and (1, 1, F) position table and class
    token, a conv1d's (filters, F, kernel), an attention's packed (3F, F) query/key/value
    projection and (F, F) output one, a recurrent layer's input and recurrent kernels and two
    biases per layer and direction."""

    def uniform(bound: float, *dims: int) -> np.ndarray:
        return rng.uniform(-bound, bound, dims)

    width = shape[-1]
    if layer.type == "embedding":
        return {f"{name}/weight": rng.standard_normal((layer.vocab, layer.dim))}
    if layer.type == "position_embedding":
        length = shape[0] if layer.max_length is None else layer.max_length
        return {f"{name}/weight": uniform(0.5, 1, length, width)}
    if layer.type == "class_token":
        return {f"{name}/weight": uniform(0.5, 1, 1, width)}
    if layer.type == "conv1d":
        bound = 1 / np.sqrt(width * layer.kernel)
        arrays = {f"{name}/weight": uniform(bound, layer.filters, width, layer.kernel)}
        if layer.bias:
            arrays[f"{name}/bias"] = uniform(bound, layer.filters)
        return arrays
    if layer.type == "multihead_attention":
        bound = 1 / np.sqrt(width)
        arrays = {
            f"{name}/in_proj_weight": uniform(bound, 3 * width, width),
            f"{name}/out_proj.weight": uniform(bound, width, width),
        }
        if layer.bias:
            arrays[f"{name}/in_proj_bias"] = uniform(bound, 3 * width)
            arrays[f"{name}/out_proj.bias"] = uniform(bound, width)
        return arrays
    gates, units = (4 if layer.type == "lstm" else 3), layer.units
    directions = ["", "_reverse"] if layer.bidirectional else [""]
    bound, arrays = 1 / np.sqrt(units), {}
    for index in range(layer.layers):
        inputs = width if index == 0 else units * len(directions)
        for suffix in directions:
            key = f"{name}/{{}}_l{index}{suffix}"
            arrays[key.format("weight_ih")] = uniform(bound, gates * units, inputs)
            arrays[key.format("weight_hh")] = uniform(bound, gates * units, units)
            arrays[key.format("bias_ih")] = uniform(bound, gates * units)
            arrays[key.format("bias_hh")] = uniform(bound, gates * units)
    return arrays


def random_data(net: Net, network: Network, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Inputs (token ids below the vocab, every padding_index among them): `x`, or with
    `inputs:` one array per input by its name; and targets `t` of the kind the loss takes for
    the trained output (spec layout, channels first): per step, (N, T) class indices. With an
    `ignore_index`, some targets are it, but never all of a batch (the mean would be 0/0)."""
    out = network.shapes[network.objective.output]
    pads = [n.layer.padding_index for n in network.nodes if n.layer.type == "embedding"]
    data = {}
    for name, (shape, vocab) in net.input_entries.items():
        if vocab is not None:
            x = rng.integers(0, vocab, (BATCH, *shape))
            hit = [p for p in pads if p is not None and p < vocab]
            x.flat[: len(hit)] = hit
        else:
            x = rng.standard_normal((BATCH, *shape))
        data["x" if net.inputs is None else name] = x
    steps = (BATCH, out[0]) if network.objective.per_step else (BATCH,)
    if net.loss in ("cross_entropy", "nll"):
        t = rng.integers(0, out[-1], steps)
        ignore = network.objective.ignore_index
        if ignore is not None:
            t.flat[rng.integers(0, t.size, 1 + t.size // 4)] = ignore
            t.flat[-1] = ignore + 1 if ignore + 1 < out[-1] else ignore - 1
    elif net.loss == "kl_div":
        t = rng.dirichlet(np.ones(out[0]), BATCH)
    elif net.loss == "binary_cross_entropy":
        t = rng.integers(0, 2, (BATCH, *out)).astype(np.float64)
    else:
        t = rng.standard_normal((BATCH, *out))
    return {**data, "t": t}


def start_both(folder: Path) -> dict[str, subprocess.Popen]:
    """Start the torch and the Keras script: they import their framework (seconds) while the
    networks are drawn and built, then wait for the manifest's path on stdin. Their output
    goes to files in `folder` (a pipe that fills would stall a script)."""
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "KERAS_BACKEND": "tensorflow",
        "PYTHONPATH": str(ROOT),
        "CUDA_VISIBLE_DEVICES": "",
        "OMP_NUM_THREADS": "1",
    }
    procs = {}
    for backend in ("torch", "keras"):
        with (
            open(folder / f"{backend}.out", "w") as out,
            open(folder / f"{backend}.err", "w") as err,
        ):
            procs[backend] = subprocess.Popen(
                [sys.executable, str(SCRIPTS / f"random_{backend}.py")],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                text=True,
                env=env,
                cwd=ROOT,
            )
    return procs


def finish_both(
    procs: dict[str, subprocess.Popen], folder: Path, manifest: Path
) -> dict[str, dict]:
    """Give both scripts the manifest; their reports when they are done."""
    for proc in procs.values():
        proc.stdin.write(f"{manifest}\n")  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
    reports = {}
    for backend, proc in procs.items():
        proc.wait(timeout=3600)
        out = (folder / f"{backend}.out").read_text()
        err = (folder / f"{backend}.err").read_text()
        assert proc.returncode == 0, f"random_{backend}.py failed:\n{out[-3000:]}\n{err[-5000:]}"
        reports[backend] = json.loads(out.strip().splitlines()[-1])
    return reports


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """The largest difference relative to the largest value (at least 1e-3)."""
    if a.shape != b.shape:
        return float("inf")
    scale = max(float(np.abs(a).max(initial=0)), float(np.abs(b).max(initial=0)), 1e-3)
    return float(np.abs(a - b).max(initial=0)) / scale


def compare(torch_out: Path, keras_out: Path) -> list[str]:
    """What differs between the two backends' results (empty: nothing)."""
    problems = []
    with np.load(torch_out) as t, np.load(keras_out) as k:
        if set(t.files) != set(k.files):
            problems.append(
                f"different arrays: torch only {sorted(set(t.files) - set(k.files))}, "
                f"keras only {sorted(set(k.files) - set(t.files))}"
            )
        for key in sorted(set(t.files) & set(k.files)):
            diff = difference(t[key], k[key])
            if not diff <= TOLERANCE:
                problems.append(
                    f"{key}: differs by {diff:.3g} relative "
                    f"(torch shape {t[key].shape}, keras {k[key].shape})"
                )
    return problems


def test_random_networks_compute_the_same_function_in_both_backends(tmp_path: Path) -> None:
    procs = start_both(tmp_path)
    try:
        nets, entries, failures, networks = prepare(tmp_path)
        manifest = tmp_path / "manifest.json"
        manifest.write_text(
            json.dumps({"root": str(tmp_path), "dtype": DTYPE, "networks": entries})
        )
        reports = finish_both(procs, tmp_path, manifest)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    check(nets, entries, failures, networks, reports)


def prepare(tmp_path: Path) -> tuple[list[Net], list[dict], dict[str, list[str]], dict]:
    """Build every network of the sample for both backends, with its weights and data; the
    manifest entries for the scripts, and what already failed (with why)."""
    nets = sample()
    rng = np.random.default_rng(0)
    entries, failures, networks = [], {}, {}
    for index, net in enumerate(nets):
        key = f"n{index:03d}"
        folder = tmp_path / key
        folder.mkdir()
        spec = folder / "spec.yaml"
        spec.write_text(net.text())
        try:
            network = netspec.load(spec)
            netspec.build(network, backend="torch", out=tmp_path / f"t{key}")
            if net.refused:
                with pytest.raises(EmitError, match=net.refused):
                    netspec.build(network, backend="keras", out=tmp_path / f"k{key}")
            else:
                netspec.build(network, backend="keras", out=tmp_path / f"k{key}")
        except (Exception, pytest.fail.Exception) as exc:  # reported with the spec
            failures[key] = [f"does not build: {type(exc).__name__}: {exc}"]
            continue
        networks[key] = network
        np.savez(folder / "weights.npz", **random_weights(network, rng))
        np.savez(folder / "data.npz", **random_data(net, network, rng))
        entries.append(
            {
                "id": key,
                "spec": str(spec),
                "torch": f"t{key}",
                "keras": None if net.refused else f"k{key}",
                "weights": str(folder / "weights.npz"),
                "data": str(folder / "data.npz"),
                "modes": ["eval", "train"] if net.deterministic else ["eval"],
                "out_torch": str(folder / "torch.npz"),
                "out_keras": str(folder / "keras.npz"),
            }
        )
    return nets, entries, failures, networks


def check(
    nets: list[Net],
    entries: list[dict],
    failures: dict[str, list[str]],
    networks: dict[str, Network],
    reports: dict[str, dict],
) -> None:
    """Every network built, ran with the spec's shapes and counts, and agrees across backends."""
    for entry in entries:
        key, network = entry["id"], networks[entry["id"]]
        problems = failures.setdefault(key, [])
        expected = {n.name: list(network.shapes[n.name]) for n in network.nodes}
        for backend in ("torch", "keras") if entry["keras"] else ("torch",):
            report = reports[backend][key]
            if "error" in report:
                problems.append(f"{backend} failed:\n{report['error']}")
                continue
            wrong = {n: s for n, s in report["shapes"].items() if s != expected[n]}
            if wrong:
                problems.append(
                    f"{backend} shapes differ: "
                    + ", ".join(f"{n} {s} (spec {expected[n]})" for n, s in wrong.items())
                )
            counts = (report["params"], report["buffers"])
            if counts != (network.params, network.buffers):
                problems.append(
                    f"{backend} counts {counts}, spec {(network.params, network.buffers)}"
                )
        if not problems and entry["keras"]:
            problems.extend(compare(Path(entry["out_torch"]), Path(entry["out_keras"])))
    failed = {key: problems for key, problems in failures.items() if problems}
    report = []
    for key, problems in list(failed.items())[:5]:
        net = nets[int(key[1:])]
        report.append(
            f"network {key} (focus {net.focus}, loss {net.loss}):\n  "
            + "\n  ".join(problems[:8])
            + f"\nspec:\n{net.text()}"
        )
    assert not failed, (
        f"{len(failed)} of {len(nets)} networks failed "
        f"({', '.join(failed)}); the first:\n\n" + "\n\n".join(report)
    )
