"""Every loss, optimizer and schedule trains in both generated programs: a few steps on the
synthetic data of the loss's kind (class indices, balanced 0/1 labels, regression values, or the
input itself for an autoencoder), with finite, non-negative losses, the documented metric, and
the same learning rate in every epoch in both backends. (The update rules themselves are
compared step by step in tests/test_optimizers.py, the losses' formulas in tests/test_losses.py.)
"""

from __future__ import annotations

import json
import math

import pytest

import netspec
from tests.frameworks import run

HEAD = "netspec: 1\nname: {name}\ninput: {{shape: {shape}}}\nlayers:\n{layers}train: {train}\n"
IMAGE = "  - {type: conv2d, filters: 3, kernel: 3, padding: same, activation: relu}\n"

# name: (input shape, layers, train section, metric expected in the log)
PROGRAMS = {
    "ce_sgd_step": (
        "[1, 6, 6]",
        IMAGE + "  - {type: flatten}\n  - {type: dense, units: 4}\n",
        "{loss: cross_entropy, optimizer: {type: sgd, nesterov: true, weight_decay: 0.001}, "
        "schedule: {type: step, step_size: 1, gamma: 0.5}}",
        True,
    ),
    "nll_adam_cosine": (
        "[5]",
        "  - {type: dense, units: 3, activation: log_softmax}\n",
        "{loss: nll, optimizer: {type: adam, weight_decay: 0.01}, schedule: cosine}",
        True,
    ),
    "ce_adamw_warmup_clip": (
        "[5]",
        "  - {type: dense, units: 3}\n",
        "{loss: cross_entropy, optimizer: adamw, schedule: {type: cosine, warmup_epochs: 1}, "
        "clip_grad_norm: 0.1}",
        True,
    ),
    "kl_adamw_none": (
        "[5]",
        "  - {type: dense, units: 3}\n  - {type: log_softmax}\n",
        "{loss: kl_div, optimizer: adamw}",
        True,
    ),
    "bce_sigmoid_sgd_cosine": (
        "[5]",
        "  - {type: dense, units: 1, activation: sigmoid}\n",
        "{loss: binary_cross_entropy, optimizer: {type: sgd, momentum: 0.0}, schedule: cosine}",
        True,
    ),
    "bce_logits_adam_step": (
        "[5]",
        "  - {type: dense, units: 3}\n",
        "{loss: binary_cross_entropy, optimizer: adam, schedule: {type: step, step_size: 1}}",
        True,
    ),
    "mse_autoencoder_adamw_cosine": (
        "[1, 6, 6]",
        IMAGE + "  - {type: conv2d, filters: 1, kernel: 3, padding: same, activation: sigmoid}\n",
        "{loss: mse, optimizer: adamw, schedule: cosine}",
        False,
    ),
    "mse_vector_sgd_accuracy": (
        "[5]",
        "  - {type: dense, units: 3}\n",
        "{loss: mse, metrics: [accuracy]}",
        True,
    ),
}
EPOCHS = 2


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("objectives")
    manifests = {"torch": [], "keras": []}
    for name, (shape, layers, train, _) in PROGRAMS.items():
        path = out / f"{name}.yaml"
        path.write_text(HEAD.format(name=name, shape=shape, layers=layers, train=train))
        network = netspec.load(path)
        for backend, cases in manifests.items():
            package = out / f"{name}_{backend}"
            netspec.build(network, backend=backend, out=package)
            args = ["--epochs", str(EPOCHS), "--batch-size", "8", "--synthetic-samples", "32"]
            cases.append(
                {"package": str(package), "args": [*args, "--run-dir", str(package) + "_run"]}
            )
    results = {}
    for backend, cases in manifests.items():
        (out / f"{backend}.json").write_text(json.dumps(cases))
        results[backend] = run("train_programs.py", out / f"{backend}.json", timeout=600)
    return results


@pytest.mark.parametrize("name", list(PROGRAMS))
@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_every_objective_trains_in_both_programs(logs, name, backend):
    result = logs[backend][f"{name}_{backend}"]
    assert result["status"] == 0
    rows = result["rows"]
    print(backend, name, [(round(r["loss"], 4), r.get("accuracy")) for r in rows])
    assert [r["epoch"] for r in rows] == list(range(1, EPOCHS + 1))
    assert all(math.isfinite(r["loss"]) and r["loss"] >= 0 for r in rows)
    assert all(("accuracy" in r) == PROGRAMS[name][3] for r in rows)
    assert all(0 <= r.get("accuracy", 0) <= 1 for r in rows)


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_the_learning_rate_of_every_epoch_is_the_same_in_both(logs, name):
    rates = {b: [r["lr"] for r in logs[b][f"{name}_{b}"]["rows"]] for b in logs}
    assert rates["keras"] == pytest.approx(rates["torch"], rel=1e-6)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_synthetic_targets_are_of_the_losss_kind(logs, backend, tmp_path_factory):
    """Balanced 0/1 labels for binary_cross_entropy; the input itself for an autoencoder."""
    folder = tmp_path_factory.getbasetemp()
    names = ["bce_sigmoid_sgd_cosine", "bce_logits_adam_step", "mse_autoencoder_adamw_cosine"]
    packages = [next(folder.glob(f"objectives*/{n}_{backend}")) for n in names]
    result = run("synthetic_targets.py", backend, *packages)
    one, multi, autoencoder = (result[f"{n}_{backend}"] for n in names)
    assert one["binary"] and multi["binary"]
    assert one["shape"] == [1] and multi["shape"] == [3]
    assert 0.4 < one["ones"] < 0.6 and 0.4 < multi["ones"] < 0.6
    assert autoencoder["is_input"]
