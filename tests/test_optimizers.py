"""One spec's optimizer and schedule make the same steps in both backends.

For every optimizer configuration the spec offers and every schedule, the generated packages'
own `make_optimizer` and schedule (`make_scheduler` in torch; in Keras `learning_rate`, set at
each epoch's start as the program's LearningRateScheduler callback does) drive six steps of
the same fixed gradients on the same fixed weights, two steps an epoch, in a torch process and
in a Keras process per Keras backend (tests/scripts/optimizer_steps.py; never both frameworks
in one process): the weights must agree after every step, and the learning rates of five
epochs must agree.

The data are chosen so that each way the backends used to differ shows: a weight decay of 0.01
with momentum (coupled in torch, decoupled in Keras's SGD), learning rates that change between
epochs (Keras's SGD holds the learning rate in its velocity), and gradients of about 1e-8 on
some weights (Keras's Adam adds epsilon before the bias correction).
"""

from __future__ import annotations

import importlib.util
import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from netspec import build
from tests.frameworks import run

SPEC = """\
netspec: 1
name: Step
input: {{shape: [4]}}
layers:
  - {{type: dense, name: fc, units: 3}}
train:
  optimizer: {optimizer}
  schedule: {schedule}
  epochs: 3
{clip}"""

OPTIMIZERS = {
    "sgd": "{type: sgd, lr: 0.1, momentum: 0.0}",
    "sgd_wd": "{type: sgd, lr: 0.1, momentum: 0.0, weight_decay: 0.01}",
    "momentum": "{type: sgd, lr: 0.1, momentum: 0.9}",
    "momentum_wd": "{type: sgd, lr: 0.1, momentum: 0.9, weight_decay: 0.01}",
    "nesterov": "{type: sgd, lr: 0.1, momentum: 0.9, nesterov: true}",
    "nesterov_wd": "{type: sgd, lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.01}",
    "adam": "{type: adam, lr: 0.01}",
    "adam_wd": "{type: adam, lr: 0.01, weight_decay: 0.01}",
    "adamw": "{type: adamw, lr: 0.01}",
}
SCHEDULES = {
    "none": "none",
    "step": "{type: step, step_size: 1, gamma: 0.5}",
    "cosine": "cosine",
}
EXTRA_SCHEDULES = {
    "step2": "{type: step, step_size: 2, gamma: 0.1}",
    "warmup": "{type: cosine, warmup_epochs: 2}",
}
"""Only for the learning rates of five epochs: a step size above 1."""
LOSS_SCALED = {"momentum_wd-step", "adam_wd-cosine", "adamw-step"}
"""Cases whose Keras optimizer is wrapped in keras.optimizers.LossScaleOptimizer, as the
program wraps it for mixed_float16 (the gradients are scaled by its initial scale)."""

BACKENDS = ("torch", "keras-tensorflow", "keras-torch") + (
    ("keras-jax",) if importlib.util.find_spec("jax") else ()
)
"""Where the script runs: the torch package, the Keras package on each Keras backend installed
(on JAX as model.fit runs it: stateless_apply under jax.jit)."""
FRAMEWORKS = {"torch": ["torch"], "keras-tensorflow": ["tensorflow"], "keras-torch": ["torch"]}
"""Which of torch and TensorFlow each process may import (keras-jax: neither)."""
STEPS, EPOCHS = 6, 3
RTOL, ATOL = 1e-5, 1e-7
"""float32 rounding; ATOL is an ulp of 1.0, for weights that pass near 0."""


def cases() -> list[dict]:
    out = [
        {"id": f"{o}-{s}", "optimizer": OPTIMIZERS[o], "schedule": SCHEDULES[s], "steps": True}
        for o in OPTIMIZERS
        for s in SCHEDULES
    ]
    out += [
        {"id": f"momentum-{s}", "optimizer": OPTIMIZERS["momentum"], "schedule": text}
        for s, text in EXTRA_SCHEDULES.items()
    ]
    out += [  # clip_grad_norm: the kernel's gradients (norm about 1.7) are scaled to 0.5
        {"id": f"{o}-clip", "optimizer": OPTIMIZERS[o], "schedule": "cosine", "steps": True}
        for o in ("momentum_wd", "adamw")
    ]
    for case in out:
        case["lr"] = 0.1 if case["optimizer"].startswith("{type: sgd") else 0.01
        case["epochs"] = EPOCHS
        case["loss_scale"] = case["id"] in LOSS_SCALED
        case["clip"] = 0.5 if case["id"].endswith("-clip") else None
        case["id"] = case["id"].replace("-", "__")
    return out


CASES = cases()


def data(path: Path) -> None:
    """Weights of one dense layer, away from 0, and six steps of gradients; the bias's
    gradients are about 1e-8, where Adam's epsilon (1e-8) matters."""
    rng = np.random.default_rng(7)
    sign = lambda shape: rng.choice([-1.0, 1.0], shape)  # noqa: E731
    kernel = sign((4, 3)) * rng.uniform(0.5, 1.5, (4, 3))
    bias = sign(3) * rng.uniform(0.5, 1.5, 3)
    np.savez(
        path,
        init_kernel=kernel.astype(np.float32),
        init_bias=bias.astype(np.float32),
        grads_kernel=rng.normal(0.0, 0.5, (STEPS, 4, 3)).astype(np.float32),
        grads_bias=(rng.normal(0.0, 1.0, (STEPS, 3)) * 1e-8).astype(np.float32),
    )


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> tuple[Path, ...]:
    """Both packages of every case, the cases as JSON and the data: the scripts' arguments."""
    root = tmp_path_factory.mktemp("optimizers")
    for case in CASES:
        clip = "" if case["clip"] is None else f"  clip_grad_norm: {case['clip']}\n"
        spec = SPEC.format(optimizer=case["optimizer"], schedule=case["schedule"], clip=clip)
        path = root / f"{case['id']}.yaml"
        path.write_text(spec, encoding="utf-8")
        for backend in ("torch", "keras"):
            build(path, backend=backend, out=root / f"{backend}_{case['id']}")
    (root / "cases.json").write_text(json.dumps(CASES), encoding="utf-8")
    data(root / "data.npz")
    return root, root / "cases.json", root / "data.npz"


@pytest.fixture(scope="module")
def results(packages) -> dict[str, dict]:
    """The script's results per case for each backend: the three processes run at once (each
    imports only the framework it needs)."""

    def steps(backend: str) -> dict:
        out = run("optimizer_steps.py", backend, *packages, timeout=120)
        assert out["frameworks"] == FRAMEWORKS.get(backend, []), backend
        return out["cases"]

    with ThreadPoolExecutor(len(BACKENDS)) as pool:
        return dict(zip(BACKENDS, pool.map(steps, BACKENDS)))


@pytest.fixture(scope="module")
def torch(results) -> dict:
    return results["torch"]


@pytest.fixture(scope="module")
def keras(results) -> dict:
    return results["keras-tensorflow"]


def assert_same_steps(expected: dict, got: dict) -> None:
    """The weights after every step agree, in every case; the message names each case's
    first step that differs."""
    failures = []
    for case in CASES:
        if not case.get("steps"):
            continue
        want, have = expected[case["id"]]["weights"], got[case["id"]]["weights"]
        assert len(want) == len(have) == STEPS
        for step, (a, b) in enumerate(zip(want, have)):
            a, b = np.asarray(a), np.asarray(b)
            if not np.allclose(b, a, rtol=RTOL, atol=ATOL):
                worst = float(np.max(np.abs(b - a) / (ATOL + RTOL * np.abs(a))))
                failures.append(f"{case['id']}: step {step + 1} differs ({worst:.3g} x tolerance)")
                break
    assert not failures, "\n".join(failures)


def test_make_optimizer_returns_the_torch_rule_classes(keras) -> None:
    for case in CASES:
        expected = "TorchSGD" if "type: sgd" in case["optimizer"] else "TorchAdam"
        assert keras[case["id"]]["class"] == expected, case
        wrapper = "LossScaleOptimizer" if case["loss_scale"] else None
        assert keras[case["id"]]["wrapper"] == wrapper, case


def test_same_weights_after_every_step(torch, keras) -> None:
    assert_same_steps(torch, keras)


@pytest.mark.parametrize("backend", ["keras-torch", "keras-jax"])
def test_the_keras_optimizers_are_backend_agnostic(torch, results, backend: str) -> None:
    """The same steps on Keras's other backends (the optimizers use keras.ops only)."""
    if backend not in results:
        pytest.skip(f"{backend.removeprefix('keras-')} is not installed")
    assert_same_steps(torch, results[backend])


def test_same_learning_rate_every_epoch(torch, keras) -> None:
    for case in CASES:
        want, have = torch[case["id"]]["lrs"], keras[case["id"]]["lrs"]
        assert len(want) == 5
        np.testing.assert_allclose(have, want, rtol=1e-12, err_msg=case["id"])
        if "step_size: 2" in case["schedule"]:
            assert want == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])
        if case["schedule"] == "cosine":
            assert want[0] == case["lr"] and want[1] < want[0]
        if "warmup_epochs: 2" in case["schedule"]:  # up over 2 epochs, then cosine over 3
            lr = case["lr"]
            cosine = [lr * 0.5 * (1 + math.cos(math.pi * k / 3)) for k in range(3)]
            assert want == pytest.approx([lr / 3, 2 * lr / 3, *cosine])
