"""`share:` means one function, with one set of weights, in the IR and in both backends.

A layer that shares has its own padding and activation around the owner's weights (Keras writes
those as layers of their own); a block use can share a whole earlier use of its block. The
frameworks run in their own processes (tests/frameworks.py). tests/specs/sharing.yaml, which
tests/test_models.py runs through both backends with output parity, has every kind of share.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.emit.base import EmitError
from netspec.passes import spec_text
from tests.frameworks import run

ROOT = Path(__file__).parent.parent
SHARING = ROOT / "tests" / "specs" / "sharing.yaml"

SHARE_PAD = """\
netspec: 1
name: SharePad
input: {shape: [1, 8, 8]}
layers:
  - {type: conv2d, name: a, filters: 2, kernel: 3, padding: 1}
  - {type: conv2d, name: b, inputs: [input], filters: 2, kernel: 3, padding: 1, share: a}
  - {type: concat, inputs: [a, b]}
train: {loss: mse}
"""
"""The issue's example: Keras dropped b's ZeroPadding2D, and the concat failed to build."""

SHARE_ACTIVATION = """\
netspec: 1
name: ShareActivation
input: {shape: [6]}
layers:
  - {type: dense, name: a, units: 4, activation: {type: leaky_relu, alpha: 0.2}}
  - {type: dense, name: b, inputs: [input], units: 4, share: a,
     activation: {type: leaky_relu, alpha: 0.2}}
  - {type: tanh, name: squash, inputs: [input]}
  - {type: dense, name: c, units: 4, activation: {type: elu, alpha: 0.5}}
  - {type: dense, name: d, inputs: [input], units: 4, activation: {type: elu, alpha: 0.5}, share: c}
  - {type: concat, inputs: [a, b, c, d]}
  - {type: dense, units: 2}
"""
"""Keras dropped b's and d's activation layers: another function, silently."""


@pytest.mark.parametrize("text", [SHARE_PAD, SHARE_ACTIVATION], ids=["padding", "activation"])
def test_a_sharing_layer_computes_what_its_owner_computes_in_both_backends(text, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    network = netspec.load(spec)
    for backend in ("torch", "keras"):
        netspec.build(network, backend=backend, out=tmp_path / f"gen_{backend}")
    x = np.random.default_rng(0).standard_normal((2, *network.input_shape)).astype("float32")
    np.savez(tmp_path / "x.npz", x=x)
    common = ["--x", tmp_path / "x.npz", "--save"]
    torch_run = run(
        "run_torch.py", spec, tmp_path / "gen_torch", "--y", tmp_path / "y_torch.npy",
        *common, tmp_path / "w.npz",
    )  # fmt: skip
    keras_run = run(
        "run_keras.py", spec, tmp_path / "gen_keras", "--y", tmp_path / "y_keras.npy",
        "--load", tmp_path / "w.npz", *common, tmp_path / "w_keras.npz",
    )  # fmt: skip
    assert torch_run["output"] == keras_run["output"] == list(network.output_shape)
    assert torch_run["params"] == keras_run["params"] == network.params
    y_torch, y_keras = np.load(tmp_path / "y_torch.npy"), np.load(tmp_path / "y_keras.npy")
    np.testing.assert_allclose(y_keras, y_torch, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def sharing_packages(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("sharing")
    for backend in ("torch", "keras"):
        netspec.build(SHARING, backend=backend, out=out / f"sharing_{backend}")
    return {backend: out / f"sharing_{backend}" for backend in ("torch", "keras")}


def test_each_layer_of_a_sharing_block_use_shares_the_owner_s_layer():
    network = netspec.load(SHARING)
    sharing = {n.name: n.shares for n in network.nodes if n.name.startswith("enc_again.")}
    assert sharing == {
        "enc_again.conv": "enc.conv",
        "enc_again.again": "enc.conv",  # what enc.again shares: the node with the weights
        "enc_again.bn": "enc.bn",
        "enc_again.pool.0": "enc.pool.0",
        "enc_again.pool.1": "enc.pool.1",
    }
    assert all(network.stats[n].params == network.stats[n].buffers == 0 for n in sharing)
    assert network.stats["enc_again.conv"].macs == network.stats["enc.conv"].macs
    assert [i.shares for i in network.graph.instances] == [None, "enc"]


def test_a_shared_block_use_is_one_tensor_per_weight_in_torch(sharing_packages):
    result = run("torch_block_sharing.py", sharing_packages["torch"], "enc", "enc_again")
    assert result["count"] == netspec.load(SHARING).params
    assert not any(name.startswith("enc_again.") for name in result["parameters"])
    assert result["sharer_modules"] == []
    assert set(result["grads"]) == {"conv.weight", "conv.bias", "bn.weight", "bn.bias"}
    for name, grad in result["grads"].items():
        assert grad["max_diff"] < 1e-6, name  # the shared gradient is the sum of both uses'
        assert min(grad["norms"]) > 0 and grad["norms"][0] != grad["norms"][1], name


def test_a_shared_block_use_is_one_weight_per_owner_in_keras(sharing_packages):
    network = netspec.load(SHARING)
    result = run("keras_sharing.py", sharing_packages["keras"])
    assert result["params"] == network.params
    assert not any(name.startswith("enc_again.") for name in result["layers"])
    assert {"enc.conv", "enc.bn", "stem", "fc"} <= set(result["layers"])
    # A sharing layer's own padding and activation: layers without weights.
    assert {"stem_again.pad", "stem_again.act", "mpool_again.pad", "fc_again.act"} <= set(
        result["layers"]
    )
    assert len(result["weights"]) == len(set(result["weights"]))
    assert not any(w.startswith(("stem_again", "fc_again", "enc_again")) for w in result["weights"])


def test_keras_refuses_a_shared_dense_layer_whose_uses_order_features_differently(tmp_path):
    """Keras flattens (H, W, C): fc sees permuted features, fc_again does not, and one Keras
    kernel cannot serve both; torch can."""
    text = """\
netspec: 1
name: Orders
input: {shape: [2, 2, 2]}
layers:
  - {type: flatten, name: flat}
  - {type: dense, name: fc, units: 8}
  - {type: dense, name: fc_again, units: 8, share: fc}
  - {type: dense, units: 2}
"""
    netspec.build(text, backend="torch", out=tmp_path / "t")
    with pytest.raises(EmitError, match=r"'fc_again' \(line 7\) shares 'fc', but Keras sees"):
        netspec.build(text, backend="keras", out=tmp_path / "k")


# ----------------------------------------------------------------------------- the messages

IMAGE = "netspec: 1\nname: Net\ninput: {shape: [3, 8, 8]}\n"
FLAT = "netspec: 1\nname: Net\ninput: {shape: [16]}\n"
BLOCKS = """\
blocks:
  enc:
    params: {width: 4, slope: 0.1}
    layers:
      - {type: conv2d, name: conv, filters: $width, kernel: 3, padding: 1}
      - {type: leaky_relu, alpha: $slope}
  other:
    layers: [{type: conv2d, filters: 4, kernel: 3, padding: 1}]
"""
TAIL = "  - {type: add, inputs: [one, two]}\n  - {type: flatten}\n  - {type: dense, units: 2}\n"


def _use(line: str) -> str:
    return IMAGE + BLOCKS + "layers:\n  - {type: block, name: one, block: enc}\n" + line + TAIL


@pytest.mark.parametrize(
    "text, message",
    [
        pytest.param(
            IMAGE + "layers:\n  - {type: conv2d, name: a, filters: 3, kernel: 3}\n"
            "  - {type: conv2d, filters: 3, kernel: 3, activation: relu, share: a}\n",
            "share: 'a' is configured differently: activation: relu vs none",
            id="activation",
        ),
        pytest.param(
            IMAGE + "layers:\n  - {type: conv2d, name: a, filters: 3, kernel: 3, padding: 1}\n"
            "  - {type: conv2d, filters: 3, kernel: 3, padding: [1, 2], share: a}\n",
            "share: 'a' is configured differently: padding: [1, 2] vs 1",
            id="padding",
        ),
        pytest.param(
            FLAT + "layers:\n  - {type: leaky_relu, name: a, alpha: 0.1}\n"
            "  - {type: leaky_relu, alpha: 0.2, share: a}\n  - {type: dense, units: 2}\n",
            "share: 'a' is configured differently: alpha: 0.2 vs 0.1",
            id="alpha",
        ),
        pytest.param(
            FLAT + "layers:\n"
            "  - {type: dense, name: a, units: 4, activation: {type: leaky_relu, alpha: 0.2}}\n"
            "  - {type: dense, units: 4, inputs: [input], bias: false, activation: leaky_relu,"
            " share: a}\n"
            "  - {type: dense, units: 2}\n",
            "share: 'a' is configured differently: bias: false vs true; "
            "activation: leaky_relu vs {type: leaky_relu, alpha: 0.2}",
            id="two fields, tagged models",
        ),
        pytest.param(
            _use(
                "  - {type: block, name: two, block: enc, inputs: [input], args: {width: 8},"
                " share: one}\n"
            ),
            "share: 'one' is configured differently: args.width: 8 vs 4",
            id="block args",
        ),
        pytest.param(
            _use(
                "  - {type: block, name: two, block: enc, inputs: [input], args: {slope: 1},"
                " share: one}\n"
            ),
            "share: 'one' is configured differently: args.slope: 1 vs 0.1",
            id="block args compared by type",
        ),
        pytest.param(
            _use("  - {type: block, name: two, block: other, inputs: [input], share: one}\n"),
            "share: 'one' is configured differently: block: other vs enc",
            id="another block",
        ),
        pytest.param(
            _use(
                "  - {type: block, name: two, block: enc, inputs: [input], repeat: 2, share: one}\n"
            ),
            "share: a block that shares cannot repeat (drop repeat)",
            id="sharing use repeats",
        ),
        pytest.param(
            IMAGE + BLOCKS + "layers:\n  - {type: block, name: one, block: enc, repeat: 2}\n"
            "  - {type: block, name: two, block: enc, inputs: [input], share: one}\n" + TAIL,
            "share: 'one' repeats; only an unrepeated block can be shared",
            id="owner use repeats",
        ),
        pytest.param(
            _use("  - {type: block, name: two, block: enc, inputs: [input], share: oen}\n"),
            "share: 'oen' is not an earlier layer here; did you mean 'one'?",
            id="unknown use",
        ),
        pytest.param(
            _use(
                "  - {type: conv2d, name: two, inputs: [input], filters: 4, kernel: 3,"
                " padding: 1, share: one}\n"
            ),
            "share: 'one' is a block, not a conv2d",
            id="a layer sharing a block use",
        ),
        pytest.param(
            _use(
                "  - {type: block, name: two, block: enc, inputs: [input], share: one}\n"
                "  - {type: block, name: three, block: enc, inputs: [input], share: two}\n"
            ).replace("inputs: [one, two]", "inputs: [one, two, three]"),
            "share: 'two' shares 'one' itself; share that one",
            id="owner use shares",
        ),
    ],
)
def test_share_errors_speak_the_spec_s_syntax(text: str, message: str) -> None:
    with pytest.raises(netspec.SpecError) as caught:
        netspec.load(text)
    assert [p.message for p in caught.value.problems] == [message]


def test_a_sharing_block_use_with_another_input_shape_is_reported_once_at_its_share() -> None:
    text = _use(
        "  - {type: conv2d, name: wide, inputs: [input], filters: 5, kernel: 1}\n"
        "  - {type: block, name: two, block: enc, share: one}\n"
    )
    with pytest.raises(netspec.SpecError) as caught:
        netspec.load(text)
    (problem,) = caught.value.problems
    assert problem.message == "two: shares 'one' but its input (5, 8, 8) differs from (3, 8, 8)"
    assert text.splitlines()[problem.line - 1].endswith("share: one}")


def test_a_block_use_can_share_an_earlier_use_by_name() -> None:
    """It used to be refused with "share: 'one' is not an earlier layer here; did you mean
    'one'?": the lookup only knew concrete layers, not block uses."""
    network = netspec.load(
        _use("  - {type: block, name: two, block: enc, inputs: [input], share: one}\n")
    )
    assert network.stats["two.conv"].params == 0
    assert network.params == (4 * 3 * 9 + 4) + (4 * 8 * 8 * 2 + 2)  # one.conv and the dense


@pytest.mark.parametrize(
    "value, text",
    [
        ((3, 3), "3"),
        ((1, 2), "[1, 2]"),
        (None, "none"),
        (True, "true"),
        (0.2, "0.2"),
        ("same", "same"),
        ("true", '"true"'),
        ("a b", '"a b"'),
        ({"width": 8, "act": "relu"}, "{width: 8, act: relu}"),
    ],
)
def test_values_in_messages_are_written_as_in_yaml(value, text) -> None:
    assert spec_text(value) == text


def test_tagged_models_in_messages_are_their_tag_unless_a_field_is_set() -> None:
    from netspec.ir import Elu, LeakyRelu, Relu

    assert spec_text(Relu(type="relu")) == "relu"
    assert spec_text(Elu(type="elu")) == "elu"
    assert spec_text(LeakyRelu(type="leaky_relu", alpha=0.2)) == "{type: leaky_relu, alpha: 0.2}"
