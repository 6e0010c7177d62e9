"""The generated models against references and against the frameworks' own conventions."""

from __future__ import annotations

import os

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


TORCHVISION_PYTHON = os.environ.get("NETSPEC_REFERENCE_PYTHON")
"""A Python with torchvision (and netspec's core dependencies): `make references` makes one.
The test environment has none: torchvision's wheels for torch 2.13's CPU build do not load."""


@pytest.mark.skipif(TORCHVISION_PYTHON is None, reason="needs torchvision: run `make references`")
@pytest.mark.parametrize(
    ("spec", "buffers", "same_ops"),
    [
        ("resnet50", 53_173, True),
        ("mobilenet_v2", 34_164, True),
        ("efficientnet_b0", 42_065, False),  # stochastic depth drawn another way
        ("convnext_tiny", 0, False),  # pointwise layers as 1x1 convolutions, not Linear
        ("vit_b_16", 0, False),  # one transpose more, one permute less
        ("googlenet", 14_617, True),
    ],
)
def test_generated_torch_model_computes_what_torchvision_computes(
    packages, spec, buffers, same_ops
):
    """torchvision's model (randomised weights and BatchNorm statistics) copied into the
    generated one by `netspec.weights.from_reference`: the same parameter and buffer totals
    (buffers with num_batches_tracked), the same logits in float64 within 1e-6 of how far
    apart its logits for two images are (a model that ignored its input would be off by half
    of that); and
    torchvision's resnet18, which does not line up, is refused with nothing copied. Where
    the generated model is written as torchvision writes it (`same_ops`), its training
    step's forward and backward graphs hold the very ATen ops torchvision's hold, as many
    of each: no extra copy, cast or layout change slows it down."""
    result = run(
        "reference_model.py",
        "torch",
        packages(spec, "torch"),
        spec,
        "resnet18",
        python=TORCHVISION_PYTHON,  # type: ignore[arg-type]
    )
    assert (
        result["params"]
        == result["reference_params"]
        == netspec.load(ROOT / spec_path(spec)).params
    )
    assert result["buffers"] == result["reference_buffers"] == buffers
    assert result["relative_diff"] <= 1e-6 * result["spread"] and result["argmax_equal"]
    assert result["refusal"].startswith("tensor ") and "nothing was copied" in result["refusal"]
    assert result["unchanged_after_refusal"]
    if same_ops:
        assert result["graph_op_differences"] == {"forward": {}, "backward": {}}


def test_generated_keras_convnext_computes_what_keras_applications_computes(packages):
    """keras.applications.ConvNeXtTiny (no preprocessing, logits; weights randomised, layer
    scales near 1 instead of 1e-6) copied into the generated Keras ConvNeXt-T by
    `from_reference`: the same parameters, the same logits within 1e-5 of the largest and
    1e-3 of how far apart its logits for two images are; and
    ConvNeXtSmall (27 blocks in its third stage, not 9) is refused at the first tensor that
    does not line up, with nothing copied."""
    result = run(
        "reference_model.py",
        "keras",
        packages("convnext_tiny", "keras"),
        "ConvNeXtTiny",
        "ConvNeXtSmall",
    )
    assert result["params"] == result["reference_params"] == 28_589_128
    assert result["mapped"] == 182
    assert result["relative_diff"] <= min(1e-5, 1e-3 * result["spread"]) and result["argmax_equal"]
    assert result["refusal"] == (
        "tensor 148: the reference's convnext_small_stage_2_block_9_depthwise_conv/kernel "
        "(7, 7, 1, 384) does not line up with features_6.norm/gamma (384,); nothing was copied"
    )
    assert result["unchanged_after_refusal"]


def test_every_kind_with_weights_has_a_layout_in_both_backends():
    """`netspec.weights` copies a layer only if its kind has a layout; a kind with weights and
    none would be left at its random initialisation in the other backend. Every kind is used
    by some spec (tests/test_emit.py), so walking the specs' layers finds every such kind."""
    from tests.regen_golden import SPECS

    with_weights = {
        node.layer.type
        for spec in SPECS
        for network in [netspec.load(spec)]
        for node in network.nodes
        if network.stats[node.name].params
    }
    assert with_weights <= set(weights.LAYOUTS), sorted(with_weights - set(weights.LAYOUTS))
