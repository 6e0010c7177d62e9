"""Run generated code under a real framework, each backend in its own process.

A CUDA build of torch and TensorFlow in one process can crash (tensorflow#124205), and users
have CUDA builds; so tests never import torch and TensorFlow together: they call the scripts in
tests/scripts/ through `run`, which returns the JSON line the script printed. A Keras script
runs on the backend `run` is given (TensorFlow or JAX, both on the CPU).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).parent / "scripts"
ROOT = Path(__file__).parent.parent


KERAS_BACKENDS = ("tensorflow", "jax")
"""The Keras backends the generated Keras code is run on (it claims to be backend-agnostic)."""


def run(
    script: str,
    *args: str | Path,
    timeout: float = 300,
    keras_backend: str = "tensorflow",
    python: str = sys.executable,
) -> dict:
    """Run `script` with `args` in a fresh process of `python`, Keras on `keras_backend`; its
    last JSON line."""
    assert keras_backend in KERAS_BACKENDS, keras_backend
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "KERAS_BACKEND": keras_backend,
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(ROOT),
        "CUDA_VISIBLE_DEVICES": "",
    }
    if keras_backend == "jax":
        # JAX compiles the random initializer once per weight shape, and its default
        # ("partitionable") threefry takes XLA's CPU compiler seconds each: some ten seconds of
        # CPU for a small model. The classic threefry compiles fast; only the random values of
        # the initial weights change, and the tests load their weights.
        env["JAX_THREEFRY_PARTITIONABLE"] = "0"
    done = subprocess.run(
        [python, str(SCRIPTS / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])
