"""The generated models, run by real torch and real Keras 3 (TensorFlow backend), on CPU.

For every spec: parameter counts equal the IR's (and the references' totals, asserted in the
front-end tests); every layer's output shape equals the IR's inferred shape; and with the same
weights (copied by `netspec.weights` through an .npz, between processes) the torch and Keras
models give the same outputs, BatchNorm in inference mode included. Outputs are compared
element by element, never sorted (sorting would hide permuted channels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import netspec
from tests.frameworks import run

ROOT = Path(__file__).parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests" / "specs").glob("*.yaml"))
BATCH = 2


@pytest.fixture(scope="module", params=SPECS, ids=lambda p: p.stem)
def built(request, tmp_path_factory):
    """Both packages of one spec, an input batch in the spec's layout, and the torch run."""
    spec = request.param
    network = netspec.load(spec)
    out = tmp_path_factory.mktemp(spec.stem)
    for backend in ("torch", "keras"):
        netspec.build(network, backend=backend, out=out / f"gen_{backend}")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, *network.input_shape)).astype("float32")
    np.savez(out / "x.npz", x=x)
    torch_run = run(
        "run_torch.py",
        spec,
        out / "gen_torch",
        "--x",
        out / "x.npz",
        "--y",
        out / "y_torch.npy",
        "--save",
        out / "w_torch.npz",
    )
    keras_run = run(
        "run_keras.py",
        spec,
        out / "gen_keras",
        "--x",
        out / "x.npz",
        "--y",
        out / "y_keras.npy",
        "--load",
        out / "w_torch.npz",
        "--save",
        out / "w_keras.npz",
    )
    return network, out, torch_run, keras_run


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_parameter_counts_equal_the_ir(built, backend):
    network, _, torch_run, keras_run = built
    result = torch_run if backend == "torch" else keras_run
    assert result["params"] == network.params == result["constant"]
    assert result["buffers"] == network.buffers


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_every_layer_has_the_inferred_shape(built, backend):
    network, _, torch_run, keras_run = built
    result = torch_run if backend == "torch" else keras_run
    sharing = {n.name for n in network.nodes if n.shares} | {
        n.shares for n in network.nodes if n.shares
    }
    expected = {n.name: list(network.shapes[n.name]) for n in network.nodes}
    assert result["shapes"] == {k: v for k, v in expected.items() if k in result["shapes"]}
    assert set(result["shapes"]) >= set(expected) - sharing
    assert result["output"] == list(network.output_shape)


def test_torch_and_keras_agree_given_the_same_weights(built):
    _, out, _, _ = built
    y_torch = np.load(out / "y_torch.npy")
    y_keras = np.load(out / "y_keras.npy")
    assert y_torch.shape == y_keras.shape
    scale = max(1.0, float(np.abs(y_torch).max()))
    np.testing.assert_allclose(y_keras, y_torch, rtol=1e-5, atol=1e-5 * scale)


def test_weights_survive_the_round_trip_to_keras_and_back(built):
    _, out, _, _ = built
    with np.load(out / "w_torch.npz") as before, np.load(out / "w_keras.npz") as after:
        assert sorted(before.files) == sorted(after.files)
        for key in before.files:
            np.testing.assert_array_equal(after[key], before[key], err_msg=key)
