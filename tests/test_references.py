"""The generated models against references and against the frameworks' own conventions."""

from __future__ import annotations

import numpy as np
import pytest

import netspec
from netspec import weights
from tests.frameworks import run
from tests.regen_golden import ROOT


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")

    def build(spec: str, backend: str):
        path = out / f"{spec}_{backend}"
        if not path.exists():
            netspec.build(ROOT / spec_path(spec), backend=backend, out=path)
        return path

    return build


def spec_path(name: str) -> str:
    return (
        f"specs/{name}.yaml"
        if (ROOT / f"specs/{name}.yaml").exists()
        else f"tests/specs/{name}.yaml"
    )


def test_generated_keras_vgg16_equals_keras_applications_vgg16(packages):
    """Logits, not probabilities (a random network's softmax is 1/1000 for any input), within
    1e-5 of the largest; and the same comparison refuses the model fed its input flipped,
    transposed or with the colour channels reversed, by far more than that."""
    tolerance = 1e-5
    result = run("keras_vgg16_reference.py", packages("vgg16", "keras"))
    assert result["params"] == result["reference_params"] == 138_357_544
    assert result["max_abs_logit"] > 0
    assert result["relative_diff"] <= tolerance
    assert result["argmax_equal"]
    for change, diff in result["broken_relative_diff"].items():
        assert diff > 100 * tolerance, f"the input {change} gives the same logits: {diff}"


def test_shared_layer_is_one_tensor_whose_gradients_accumulate(packages):
    result = run("torch_sharing.py", packages("shared", "torch"))
    assert not any(name.startswith("enc_again") for name in result["parameters"])
    assert result["grad_norm"] > 0
    assert result["max_grad_diff"] < 1e-6


def test_batchnorm_epsilon_momentum_and_running_statistics_mean_the_same_in_both(packages):
    """The spec says momentum 0.2 (torch's convention: the weight of the new statistic) and
    epsilon 1e-3; Keras's momentum is the weight of the old statistic. From the same weights,
    one training-mode pass leaves the same running mean and variance in both (torch keeps the
    unbiased batch variance; the Keras code's BatchNorm does too)."""
    spec = ROOT / "tests/specs/traps.yaml"
    torch_package, keras_package = packages("traps", "torch"), packages("traps", "keras")
    saved = torch_package.parent / "traps_weights.npz"
    run("run_torch.py", spec, torch_package, "--save", saved)
    torch_bn = run("batchnorm_conventions.py", "torch", spec, torch_package, saved)
    keras_bn = run("batchnorm_conventions.py", "keras", spec, keras_package, saved)
    assert torch_bn["eps"] == keras_bn["eps"] == pytest.approx(1e-3)
    assert (torch_bn["momentum"], keras_bn["momentum"]) == (pytest.approx(0.2), pytest.approx(0.8))
    for key in ("mean", "var"):
        np.testing.assert_allclose(keras_bn[key], torch_bn[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert np.abs(np.asarray(torch_bn["mean"])).max() > 0


def test_dense_after_flatten_is_permuted_for_keras():
    """Keras flattens (H, W, C): feature k of Keras is feature order[k] of torch."""
    network = netspec.load(ROOT / "tests/specs/traps.yaml")
    order = weights.feature_orders(network)["flat"]
    c, h, w = network.shapes["avg"]
    torch_features = np.arange(c * h * w).reshape(c, h, w)
    assert (order == torch_features.transpose(1, 2, 0).ravel()).all()
    assert weights.feature_orders(network)["gap"] is None
