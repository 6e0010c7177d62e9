"""The generated training programs of a network with several inputs and outputs, in both
backends (tests/specs/heads.yaml: an image, features and token ids in; class scores and a box
out):

- each input is read from the .npz array of its own name, whatever the file's order;
- the loss applies to the output `train.output` names: the weights that only the other output
  uses keep their initial values, every other layer's change;
- a missing array is refused with the arrays the program needs.
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

ROOT = Path(__file__).parent.parent
PROGRAMS = {"torch": test_train_torch, "keras": test_train_keras}
HEADS = (ROOT / "tests" / "specs" / "heads.yaml").read_text(encoding="utf-8")
TRAINED_BOX = HEADS + (
    "train: {output: box, batch_size: 16, epochs: 2, optimizer: {type: adam, lr: 0.01}}\n"
)

UNCHANGED = {
    "torch": """
import json, sys, torch
from pkg.model import build_model
torch.manual_seed(0)  # as train.py seeds the initial weights
initial = build_model().state_dict()
final = torch.load(sys.argv[1], weights_only=True)
print(json.dumps(sorted({k.split(".")[0] for k in initial if torch.equal(initial[k], final[k])})))
""",
    "keras": """
import json, sys, keras, numpy as np
from pkg.model import build_model
keras.utils.set_random_seed(0)  # as train.py seeds the initial weights
initial = build_model()
final = build_model()
final.load_weights(sys.argv[1])
same = [
    a.name for a, b in zip(initial.layers, final.layers)
    if a.weights and all(np.array_equal(v.numpy(), w.numpy()) for v, w in zip(a.weights, b.weights))
]
print(json.dumps(sorted(same)))
""",
}
"""Prints the layers whose weights the run left as they were initialised."""
FINAL_WEIGHTS = {"torch": "model.pt", "keras": "model.weights.h5"}


def heads_npz(path: Path, count: int = 64) -> None:
    """Arrays named as the inputs, written in reverse order of the spec's, with held-out
    copies; y are the box's 0/1 targets."""
    rng = np.random.default_rng(0)

    def split(n: int) -> dict[str, np.ndarray]:
        return {
            "words": rng.integers(0, 10, (n, 6)),
            "meta": rng.standard_normal((n, 4)).astype(np.float32),
            "image": rng.integers(0, 256, (n, 3, 16, 16), dtype=np.uint8),
            "y": rng.integers(0, 2, (n, 4)).astype(np.float32),
        }

    train, held_out = split(count), split(count // 4)
    np.savez(path, **train, **{f"{name}_val": array for name, array in held_out.items()})


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_inputs_by_name_and_the_loss_on_the_named_output(backend: str, tmp_path: Path) -> None:
    spec = tmp_path / "heads.yaml"
    spec.write_text(TRAINED_BOX, encoding="utf-8")
    build(spec, backend=backend, out=tmp_path / "pkg")
    heads_npz(tmp_path / "heads.npz")
    program = PROGRAMS[backend]
    done = program.ok(
        program.train(
            tmp_path,
            "--data",
            tmp_path / "heads.npz",
            "--run-dir",
            tmp_path / "run",
            package="pkg",
        )
    )
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["epoch"] == 2 and "val_loss" in record, done.stdout
    script = UNCHANGED[backend]
    unchanged = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "run" / FINAL_WEIGHTS[backend])],
        cwd=tmp_path,
        env=program.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unchanged.returncode == 0, unchanged.stderr
    assert json.loads(unchanged.stdout.splitlines()[-1]) == ["classes"]


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_a_missing_input_array_names_the_arrays_needed(backend: str, tmp_path: Path) -> None:
    build(ROOT / "tests" / "specs" / "heads.yaml", backend=backend, out=tmp_path / "pkg")
    heads_npz(tmp_path / "full.npz")
    with np.load(tmp_path / "full.npz") as full:
        np.savez(tmp_path / "heads.npz", **{k: full[k] for k in full.files if k != "words"})
    program = PROGRAMS[backend]
    done = program.train(tmp_path, "--data", tmp_path / "heads.npz", package="pkg")
    assert done.returncode == 2, done.stderr
    assert "needs arrays ['image', 'meta', 'words', 'y']" in done.stderr
