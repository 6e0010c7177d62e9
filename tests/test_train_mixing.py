"""MixUp and CutMix (`train: data: {mixup: alpha, cutmix: alpha}`) in both generated programs:

- the two programs mix a batch alike: the same draws from (seed, step) (`batch_mix`, one
  function in both), the same images and probability rows out of torch's `mixed`, and out of
  Keras's `np_mixed` (PyDatasets) and `tf_mixed` (tf.data pipelines);
- a run that mixes trains, and a run stopped part-way resumes to the weights of an
  uninterrupted one: each step's draw depends on the step alone, which a resume restores (and
  so are dropout's random numbers);
- a classifier of dark and bright images learns from an image folder while its batches are
  mixed, in both programs (a program that fed the mixed images wrongly would not).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from netspec import build
from tests import test_train_keras, test_train_torch

PROGRAMS = {"torch": test_train_torch, "keras": test_train_keras}

SPEC = """\
netspec: 1
name: Mix
input: {shape: [3, 16, 16]}
layers:
  - {type: conv2d, name: conv, filters: 4, kernel: 3, padding: 1, activation: relu}
  - {type: maxpool2d, size: 2}
  - {type: flatten}
  - {type: dropout, rate: 0.2}
  - {type: dense, name: fc, units: 5}
train:
  optimizer: {type: sgd, lr: 0.05, momentum: 0.9}
  batch_size: 8
  epochs: 2
  label_smoothing: 0.1
  data: {mixup: 0.4, cutmix: 1.0}
"""
STEPS = 40
"""Batches mixed by each program in the comparison."""

TORCH_MIX = f"""
import sys, numpy as np, torch
from mix import train as program
arrays = np.load(sys.argv[1])
x, y = torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["y"])
out = {{}}
for step in range({STEPS}):
    lam, box = program.batch_mix(3, step, 12, 20)
    mx, my = program.mixed(x, y, lam, box)
    out[f"x{{step}}"] = mx.numpy().transpose(0, 2, 3, 1)  # as Keras holds images
    out[f"y{{step}}"] = my.numpy()
    out[f"cut{{step}}"] = box is not None
np.savez(sys.argv[2], **out)
"""

KERAS_MIX = f"""
import sys, numpy as np, tensorflow as tf
from mix import train as program
arrays = np.load(sys.argv[1])
x = arrays["x"].transpose(0, 2, 3, 1)
y = np.eye(5, dtype=np.float32)[arrays["y"]]
out = {{}}
for step in range({STEPS}):
    out[f"np_x{{step}}"], out[f"np_y{{step}}"] = program.np_mixed(3, step, x, y)
    mx, my = program.tf_mixed(3, tf.constant(step, tf.int64), (tf.constant(x), tf.constant(y)))
    out[f"tf_x{{step}}"], out[f"tf_y{{step}}"] = mx.numpy(), my.numpy()
np.savez(sys.argv[2], **out)
"""


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> Path:
    """`mix` built for each backend in a folder of its own, an .npz of 64 training images
    (8 steps an epoch) and 16 held-out ones, and an image folder of dark and bright images
    (train/ and val/)."""
    root = tmp_path_factory.mktemp("mixing")
    (root / "mix.yaml").write_text(SPEC, encoding="utf-8")
    for backend in PROGRAMS:
        build(root / "mix.yaml", backend=backend, out=root / backend / "mix")
    rng = np.random.default_rng(0)
    np.savez(
        root / "images.npz",
        x=rng.integers(0, 256, (64, 3, 16, 16), dtype=np.uint8),
        y=rng.integers(0, 5, 64),
        x_val=rng.integers(0, 256, (16, 3, 16, 16), dtype=np.uint8),
        y_val=rng.integers(0, 5, 16),
    )
    from PIL import Image

    for part, count in (("train", 24), ("val", 8)):
        for label, (low, high) in (("bright", (150, 256)), ("dark", (0, 106))):
            folder = root / "shades" / part / label
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(low, high, (16, 16, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    np.savez(
        root / "batch.npz",
        x=rng.standard_normal((8, 3, 12, 20), dtype=np.float32),  # (not square)
        y=rng.integers(0, 5, 8),
    )
    return root


def run_script(backend: str, packages: Path, script: str, out: Path) -> np.lib.npyio.NpzFile:
    done = subprocess.run(
        [sys.executable, "-c", script, str(packages / "batch.npz"), str(out)],
        cwd=packages / backend,
        env=PROGRAMS[backend].env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(out)


def test_both_programs_mix_a_batch_alike(packages: Path) -> None:
    torch_out = run_script("torch", packages, TORCH_MIX, packages / "torch_mix.npz")
    keras_out = run_script("keras", packages, KERAS_MIX, packages / "keras_mix.npz")
    one_hot = np.eye(5, dtype=np.float32)[np.load(packages / "batch.npz")["y"]]
    cuts = [bool(torch_out[f"cut{step}"]) for step in range(STEPS)]
    assert 0 < sum(cuts) < STEPS, cuts  # both kinds drawn
    unmixed = 0
    for step in range(STEPS):
        x, y = torch_out[f"x{step}"], torch_out[f"y{step}"]
        assert np.allclose(y.sum(1), 1.0, atol=1e-6)
        unmixed += np.array_equal(y, one_hot)  # (a CutMix box can round to nothing)
        for way in ("np", "tf"):
            assert np.abs(keras_out[f"{way}_x{step}"] - x).max() <= 1e-6, (way, step)
            assert np.abs(keras_out[f"{way}_y{step}"] - y).max() <= 1e-6, (way, step)
    assert unmixed <= 3, unmixed


@pytest.mark.parametrize("backend", ["torch", "keras", "keras multi-worker"])
def test_a_mixed_run_resumes_to_the_uninterrupted_weights(backend: str, packages: Path) -> None:
    """A NaN at step 11 stops the run after the checkpoint of step 10 (--checkpoint-every 2,
    2 steps into epoch 2); resumed, it ends with the weights of a run never stopped, mixes
    and dropout alike. Keras's multi-worker loop (a cluster of one worker) keeps its own
    backup."""
    loop = backend.endswith("multi-worker")
    backend = backend.split()[0]
    program, folder = PROGRAMS[backend], packages / backend
    common = ["--data", packages / "images.npz", "--checkpoint-every", "2", "--seed", "3"]
    whole, stopped = folder / f"whole_{loop}", folder / f"stopped_{loop}"
    extra = {}
    if loop:
        cluster = {"worker": [f"127.0.0.1:{test_train_keras.free_port()}"]}
        task = {"type": "worker", "index": 0}
        extra["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": task})
    program.ok(program.train(folder, *common, "--run-dir", whole, package="mix", extra_env=extra))
    records = [json.loads(x) for x in (whole / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert all(np.isfinite(r["loss"]) and r["images_per_s"] > 0 for r in records)
    assert all(np.isfinite(r["val_loss"]) and r["eval_seconds"] > 0 for r in records)
    nan = {"NETSPEC_INJECT_NAN_STEP": "11", **extra}
    done = program.train(folder, *common, "--run-dir", stopped, package="mix", extra_env=nan)
    assert done.returncode == 3, done.stderr[-3000:]
    resume = ["--resume"] if backend == "torch" else []
    again = program.train(
        folder, *common, *resume, "--run-dir", stopped, package="mix", extra_env=extra
    )
    program.ok(again)
    weights = "model.pt" if backend == "torch" else "model.weights.h5"
    diff = program.compare(whole / weights, stopped / weights)
    assert diff["max_diff"] <= 1e-6, diff


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_mixed_batches_from_an_image_folder_train(backend: str, packages: Path) -> None:
    """Dark against bright images, every batch mixed: the held-out images come out right."""
    program, folder = PROGRAMS[backend], packages / backend
    run = folder / "shades"
    args = ["--data", packages / "shades", "--epochs", "6", "--run-dir", run]
    program.ok(program.train(folder, *args, package="mix"))
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    print(f"{backend}: held-out accuracy {records[-1]['val_accuracy']}")
    assert records[-1]["val_accuracy"] == 1.0, records[-1]
