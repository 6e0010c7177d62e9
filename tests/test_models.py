"""The generated models, run by real torch and real Keras 3 on CPU, Keras on TensorFlow and on
JAX (the generated Keras code claims to be backend-agnostic).

For every spec: parameter counts equal the IR's (and the references' totals, asserted in the
front-end tests); every layer's output shape equals the IR's inferred shape; and with the same
weights (copied by `netspec.weights` through an .npz, between processes) the torch and Keras
models give the same outputs on each Keras backend, BatchNorm in inference mode included.
Outputs are compared element by element, never sorted (sorting would hide permuted channels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import netspec
from tests.frameworks import KERAS_BACKENDS, run

ROOT = Path(__file__).parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests" / "specs").glob("*.yaml"))
BATCH = 2
GRADIENT_PARAMS = {"torch": 30_000_000, "keras-tensorflow": 30_000_000, "keras-jax": 1_000_000}
"""Networks up to these sizes also compare gradients (Keras's against torch's): VGG-16 and
ViT-B/16 would add minutes of CPU, and JAX compiles each model's gradient for a minute or more
(EfficientNet-B0: 107 s); every kind of the larger specs is in a smaller one."""
RUNS = ("torch", *(f"keras-{backend}" for backend in KERAS_BACKENDS))


def sample_inputs(network: netspec.Network, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A batch of each input in the spec's layout (standard normal floats, or token ids below
    the vocab), by the name the run scripts read: `x`, or the inputs' names."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, spec in network.spec.sources().items():
        shape = (batch, *spec.shape)
        if spec.vocab is not None:
            arrays[name] = rng.integers(0, spec.vocab, shape).astype("int64")
        else:
            arrays[name] = rng.standard_normal(shape).astype("float32")
    return arrays if network.several_inputs else {"x": arrays[network.graph.inputs[0]]}


def output_shape(network: netspec.Network) -> tuple[int, ...]:
    """The shape the run scripts give the output: its own, or several flattened in a row."""
    shapes = network.output_shapes
    return shapes[0] if len(shapes) == 1 else (sum(int(np.prod(s)) for s in shapes),)


class Built:
    """Both packages of one spec, an input batch in the spec's layout, the torch run, and the
    Keras run on each backend (run on first use, once: a backend that fails fails only its own
    tests)."""

    def __init__(self, spec: Path, out: Path) -> None:
        self.spec, self.out = spec, out
        self.network = netspec.load(spec)
        for backend in ("torch", "keras"):
            netspec.build(self.network, backend=backend, out=out / f"gen_{backend}")
        r = np.random.default_rng(1).standard_normal((BATCH, *output_shape(self.network)))
        np.savez(out / "x.npz", **sample_inputs(self.network, BATCH), r=r.astype("float32"))
        self.runs: dict[str, dict | BaseException] = {}
        self.runs["torch"] = run(
            "run_torch.py",
            spec,
            out / "gen_torch",
            "--x",
            out / "x.npz",
            "--y",
            out / "y_torch.npy",
            "--save",
            out / "w_torch.npz",
            *self.grads("torch"),
        )

    def grads(self, name: str) -> list:
        """The run's flag to write the gradients (none for the largest networks)."""
        return ["--grads", self.out / f"g_{name}.npz"] if self.with_gradients(name) else []

    def with_gradients(self, name: str) -> bool:
        return self.network.params <= GRADIENT_PARAMS[name]

    def result(self, name: str) -> dict:
        if name not in self.runs:
            backend = name.removeprefix("keras-")
            try:
                self.runs[name] = run(
                    "run_keras.py",
                    self.spec,
                    self.out / "gen_keras",
                    "--x",
                    self.out / "x.npz",
                    "--y",
                    self.out / f"y_{name}.npy",
                    "--load",
                    self.out / "w_torch.npz",
                    "--save",
                    self.out / f"w_{name}.npz",
                    *self.grads(name),
                    keras_backend=backend,
                )
            except AssertionError as exc:
                self.runs[name] = exc
        result = self.runs[name]
        if isinstance(result, BaseException):
            raise result
        return result


@pytest.fixture(scope="module", params=SPECS, ids=lambda p: p.stem)
def built(request, tmp_path_factory) -> Built:
    return Built(request.param, tmp_path_factory.mktemp(request.param.stem))


@pytest.mark.parametrize("name", RUNS)
def test_parameter_counts_equal_the_ir(built, name):
    result = built.result(name)
    if name != "torch":
        assert result["backend"] == name.removeprefix("keras-")
    assert result["params"] == built.network.params == result["constant"]
    assert result["buffers"] == built.network.buffers


@pytest.mark.parametrize("name", RUNS)
def test_a_fresh_models_padding_rows_are_zero(built, name):
    """torch's `padding_idx` in every backend: a fresh model's padding_index row is zero (the
    Keras model's too, else weights it saves give torch another function)."""
    expected = {
        n.name: 0.0
        for n in built.network.nodes
        if n.layer.type == "embedding" and n.layer.padding_index is not None and not n.shares
    }
    assert built.result(name)["padding_rows"] == expected


@pytest.mark.parametrize("name", RUNS)
def test_every_layer_has_the_inferred_shape(built, name):
    network, result = built.network, built.result(name)
    sharing = {n.name for n in network.nodes if n.shares} | {
        n.shares for n in network.nodes if n.shares
    }
    expected = {n.name: list(network.shapes[n.name]) for n in network.nodes}
    assert result["shapes"] == {k: v for k, v in expected.items() if k in result["shapes"]}
    assert set(result["shapes"]) >= set(expected) - sharing
    assert result["output"] == list(output_shape(network))


@pytest.mark.parametrize("name", RUNS[1:])
def test_torch_and_keras_agree_given_the_same_weights(built, name):
    built.result(name)
    y_torch = np.load(built.out / "y_torch.npy")
    y_keras = np.load(built.out / f"y_{name}.npy")
    assert y_torch.shape == y_keras.shape
    scale = max(1.0, float(np.abs(y_torch).max()))
    np.testing.assert_allclose(y_keras, y_torch, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("name", RUNS[1:])
def test_weights_survive_the_round_trip_to_keras_and_back(built, name):
    built.result(name)
    with (
        np.load(built.out / "w_torch.npz") as before,
        np.load(built.out / f"w_{name}.npz") as after,
    ):
        assert sorted(before.files) == sorted(after.files)
        for key in before.files:
            np.testing.assert_array_equal(after[key], before[key], err_msg=key)


@pytest.mark.parametrize("name", RUNS[1:])
def test_torch_and_keras_gradients_agree_given_the_same_weights(built, name):
    """The gradient of sum(outputs * r), r fixed, with respect to every weight, in inference
    mode: each backend computes the same function of its weights, not only of its input.

    Per array: the gradients agree within 1e-5 (relative to the array's largest, at least 1)
    in at least 99% of the elements and within 1% in norm. Not all of them: in a deep ReLU
    network a pre-activation within float32 rounding of 0 is positive in one backend and not
    in the other, and the gradient of everything below it changes there. A weight laid out
    wrongly (transposed, permuted, another gate) changes nearly every element."""
    if not built.with_gradients(name):
        pytest.skip(f"over {GRADIENT_PARAMS[name]:,} parameters")
    built.result(name)
    with (
        np.load(built.out / "g_torch.npz") as torch_grads,
        np.load(built.out / f"g_{name}.npz") as keras_grads,
    ):
        assert sorted(torch_grads.files) == sorted(keras_grads.files)
        for key in torch_grads.files:
            expected, actual = torch_grads[key], keras_grads[key]
            assert actual.shape == expected.shape, key
            scale = max(1.0, float(np.abs(expected).max()))
            close = np.isclose(actual, expected, rtol=1e-5, atol=1e-5 * scale)
            assert close.mean() >= 0.99, f"{key}: {close.mean():.3%} of elements agree"
            gap = float(np.linalg.norm(actual - expected))
            assert gap <= 1e-2 * float(np.linalg.norm(expected)) + 1e-6 * scale, key
