"""Every loss means one formula in both backends: the loss each generated program computes (the
torch training step, Keras's compiled `fit` loss) equals the mathematical definition, computed
here with numpy from the network's output; accuracy is the documented metric for the loss.
A spec whose output does not fit its loss is refused before any code is generated."""

from __future__ import annotations

import json

import numpy as np
import pytest

import netspec
from tests.frameworks import KERAS_BACKENDS, run

N = 8


def spec(name: str, layers: str, loss: str, shape: str = "[6]") -> str:
    return (
        f"netspec: 1\nname: {name}\ninput: {{shape: {shape}}}\nlayers:\n{layers}"
        f"train: {{loss: {loss}}}\n"
    )


def log_softmax(o: np.ndarray) -> np.ndarray:
    shifted = o - o.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def rows(rng: np.random.Generator, k: int) -> np.ndarray:
    p = rng.uniform(0, 1, (N, k)) ** 3
    p[0, 0] = 0.0  # a zero probability: 0 * log 0 counts 0
    return (p / p.sum(1, keepdims=True)).astype("float32")


RNG = np.random.default_rng(7)
INDICES = RNG.integers(0, 4, N)
X = RNG.standard_normal((N, 6)).astype("float32")
STEPS_RNG = np.random.default_rng(8)  # its own: the other cases' data stay as they were
STEPS = STEPS_RNG.integers(0, 4, (N, 5))
STEPS[:, :2] = -1  # ignored (a prompt, padding): in neither the loss nor accuracy
STEPS[0, :] = -1  # a sample with no counted step counts 0 correct of its (no) steps
STEPS_ALL = STEPS_RNG.integers(0, 4, (N, 5))
"""Per-step targets of a loss without ignore_index (nll): every step counts."""


def smoothed(target: np.ndarray, e: float = 0.2) -> np.ndarray:
    """Label smoothing: (1 - e) x the target distribution + e / K."""
    return (1 - e) * target + e / target.shape[-1]


def log_softmax_last(o: np.ndarray) -> np.ndarray:
    shifted = o - o.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def per_step_cross_entropy(o: np.ndarray, y: np.ndarray) -> float:
    """The mean over the batch's counted steps of -log softmax(o)[y]."""
    shifted = o - o.max(axis=-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    counted = y != -1
    picked = np.take_along_axis(logp, np.where(counted, y, 0)[..., None], axis=-1)[..., 0]
    return float(-(picked * counted).sum() / counted.sum())


def per_step_accuracy(o: np.ndarray, y: np.ndarray) -> float:
    """Each sample's fraction of correct counted steps, averaged over the samples."""
    counted = y != -1
    hits = (o.argmax(-1) == y) & counted
    return float((hits.sum(1) / np.maximum(counted.sum(1), 1)).mean())


# name: (spec, x, y, definition of the loss from the output o and y, accuracy or None)
CASES = {
    "cross_entropy_indices": (
        spec("CeIdx", "  - {type: dense, units: 4}\n", "cross_entropy"),
        X,
        INDICES,
        lambda o, y: -log_softmax(o)[np.arange(N), y].mean(),
        lambda o, y: (o.argmax(1) == y).mean(),
    ),
    "cross_entropy_probabilities": (
        spec("CeProb", "  - {type: dense, units: 4}\n", "cross_entropy"),
        X,
        rows(RNG, 4),
        lambda o, y: -(y * log_softmax(o)).sum(1).mean(),
        lambda o, y: (o.argmax(1) == y.argmax(1)).mean(),
    ),
    "cross_entropy_smoothed_indices": (
        spec("CeSmooth", "  - {type: dense, units: 4}\n", "cross_entropy, label_smoothing: 0.2"),
        X,
        INDICES,
        lambda o, y: -(smoothed(np.eye(4)[y]) * log_softmax(o)).sum(1).mean(),
        lambda o, y: (o.argmax(1) == y).mean(),
    ),
    "cross_entropy_smoothed_probabilities": (
        spec("CeSmoothP", "  - {type: dense, units: 4}\n", "cross_entropy, label_smoothing: 0.2"),
        X,
        rows(RNG, 4),
        lambda o, y: -(smoothed(y) * log_softmax(o)).sum(1).mean(),
        lambda o, y: (o.argmax(1) == y.argmax(1)).mean(),
    ),
    "cross_entropy_smoothed_per_step": (
        spec(
            "CeSmoothSteps",
            "  - {type: dense, units: 4}\n",
            "cross_entropy, label_smoothing: 0.2",
            "[5, 6]",
        ),
        np.random.default_rng(9).standard_normal((N, 5, 6)).astype("float32"),
        STEPS_ALL,
        lambda o, y: -(smoothed(np.eye(4)[y]) * log_softmax_last(o)).sum(-1).mean(),
        per_step_accuracy,
    ),
    "cross_entropy_per_step": (
        spec("CeSteps", "  - {type: dense, units: 4}\n", "cross_entropy", "[5, 3]").replace(
            "{loss: cross_entropy}", "{loss: cross_entropy, ignore_index: -1}"
        ),
        STEPS_RNG.standard_normal((N, 5, 3)).astype("float32"),
        STEPS,
        per_step_cross_entropy,
        per_step_accuracy,
    ),
    "nll_per_step": (
        spec("NllSteps", "  - {type: dense, units: 4, activation: log_softmax}\n", "nll", "[5, 3]"),
        STEPS_RNG.standard_normal((N, 5, 3)).astype("float32"),
        STEPS_ALL,
        lambda o, y: -np.take_along_axis(o, y[..., None], axis=-1).mean(),
        per_step_accuracy,
    ),
    "nll": (
        spec("Nll", "  - {type: dense, units: 4, activation: log_softmax}\n", "nll"),
        X,
        INDICES,
        lambda o, y: -o[np.arange(N), y].mean(),
        lambda o, y: (o.argmax(1) == y).mean(),
    ),
    "kl_div": (
        spec("Kl", "  - {type: dense, units: 4}\n  - {type: log_softmax}\n", "kl_div"),
        X,
        rows(RNG, 4),
        lambda o, y: np.where(y > 0, y * (np.log(np.maximum(y, 1e-30)) - o), 0).sum() / N,
        lambda o, y: (o.argmax(1) == y.argmax(1)).mean(),
    ),
    "kl_div_indices": (
        spec("KlIdx", "  - {type: dense, units: 4}\n  - {type: log_softmax}\n", "kl_div"),
        X,
        INDICES,
        lambda o, y: -o[np.arange(N), y].mean(),
        lambda o, y: (o.argmax(1) == y).mean(),
    ),
    "binary_sigmoid_one_unit": (
        spec("Bin", "  - {type: dense, units: 1, activation: sigmoid}\n", "binary_cross_entropy"),
        X * 40,  # saturates the sigmoid: the clipping must be the same in both
        RNG.integers(0, 2, N),
        lambda o, y: (
            -(
                y[:, None] * np.log(np.clip(o, 1e-7, 1 - 1e-7))
                + (1 - y[:, None]) * np.log(1 - np.clip(o, 1e-7, 1 - 1e-7))
            ).mean()
        ),
        lambda o, y: ((o[:, 0] > 0.5) == (y > 0.5)).mean(),
    ),
    "binary_logits_multi_label": (
        spec("Multi", "  - {type: dense, units: 3}\n", "binary_cross_entropy"),
        X,
        RNG.integers(0, 2, (N, 3)).astype("float32"),
        lambda o, y: (np.maximum(o, 0) - o * y + np.log1p(np.exp(-np.abs(o)))).mean(),
        lambda o, y: ((o > 0) == (y > 0.5)).mean(),
    ),
    "mse": (
        spec("Reg", "  - {type: dense, units: 3, activation: tanh}\n", "mse"),
        X,
        RNG.standard_normal((N, 3)).astype("float32"),
        lambda o, y: ((o - y) ** 2).mean(),
        None,
    ),
    "mse_autoencoder": (
        spec(
            "Ae",
            "  - {type: conv2d, filters: 2, kernel: 3, padding: same, activation: relu}\n"
            "  - {type: conv2d, filters: 1, kernel: 3, padding: 1, activation: sigmoid}\n",
            "mse",
            "[1, 5, 5]",
        ),
        RNG.uniform(0, 1, (N, 1, 5, 5)).astype("float32"),
        RNG.uniform(0, 1, (N, 1, 5, 5)).astype("float32"),
        lambda o, y: ((o - y) ** 2).mean(),
        None,
    ),
}


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    """Each case's output and the (loss, accuracy) of both programs."""
    out = tmp_path_factory.mktemp("losses")
    manifest = []
    for name, (text, x, y, _, _) in CASES.items():
        (out / f"{name}.yaml").write_text(text)
        network = netspec.load(out / f"{name}.yaml")
        np.savez(out / f"{name}.npz", x=x, y=y)
        case = {"name": name, "spec": str(out / f"{name}.yaml"), "data": str(out / f"{name}.npz")}
        for backend in ("torch", "keras"):
            netspec.build(network, backend=backend, out=out / f"{name}_{backend}")
            case[f"{backend}_package"] = str(out / f"{name}_{backend}")
            case[f"{backend}_output"] = str(out / f"{name}_{backend}.npy")
        case["weights"] = str(out / f"{name}_weights.npz")
        manifest.append(case)
    (out / "manifest.json").write_text(json.dumps(manifest))
    results = {"torch": run("loss_values.py", "torch", out / "manifest.json")}
    for keras_backend in KERAS_BACKENDS:  # the Keras program on every backend it claims
        results[f"keras-{keras_backend}"] = run(
            "loss_values.py", "keras", out / "manifest.json", keras_backend=keras_backend
        )
        for name in CASES:  # keep each backend's outputs apart
            output = out / f"{name}_keras.npy"
            output.rename(out / f"{name}_keras-{keras_backend}.npy")
    return out, results


BACKENDS = ["torch"] + [f"keras-{b}" for b in KERAS_BACKENDS]


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("backend", BACKENDS)
def test_each_loss_is_its_formula_in_both_backends(computed, name, backend):
    out, results = computed
    _, _, y, definition, accuracy = CASES[name]
    output = np.load(out / f"{name}_{backend}.npy").astype("float64")
    expected = definition(output, y)
    got = results[backend][name]
    print(f"{backend} {name}: loss {got['loss']:.6f}, numpy {expected:.6f}")
    assert got["loss"] == pytest.approx(expected, rel=1e-5, abs=1e-6)
    if accuracy is not None:
        assert got["accuracy"] == pytest.approx(accuracy(output, y), abs=1e-6)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_both_backends_compute_the_same_output_and_loss(computed, name, backend):
    out, results = computed
    y_torch, y_keras = (np.load(out / f"{name}_{b}.npy") for b in ("torch", backend))
    np.testing.assert_allclose(y_keras, y_torch, rtol=1e-5, atol=1e-6)
    assert results[backend][name]["loss"] == pytest.approx(results["torch"][name]["loss"], rel=1e-5)


def test_kl_divergence_is_never_negative(computed):
    _, results = computed
    assert all(results[b][n]["loss"] >= 0 for b in results for n in ("kl_div", "kl_div_indices"))


MISMATCHES = {
    "softmax before cross_entropy": (
        "  - {type: dense, units: 4, activation: softmax}\n",
        "cross_entropy",
        "loss cross_entropy takes logits, but the network ends in softmax: remove the softmax",
    ),
    "sigmoid before cross_entropy": (
        "  - {type: dense, units: 4}\n  - {type: sigmoid}\n",
        "cross_entropy",
        "loss cross_entropy takes logits, but the network ends in sigmoid",
    ),
    "log_softmax before cross_entropy": (
        "  - {type: dense, units: 4, activation: log_softmax}\n",
        "cross_entropy",
        "use loss nll",
    ),
    "probabilities into nll": (
        "  - {type: dense, units: 4}\n  - {type: softmax}\n",
        "nll",
        "loss nll takes log-probabilities, but the network ends in softmax: end the network "
        "in log_softmax",
    ),
    "logits into kl_div": (
        "  - {type: dense, units: 4}\n",
        "kl_div",
        "loss kl_div takes log-probabilities, but the network ends in a linear layer",
    ),
    "softmax into binary_cross_entropy": (
        "  - {type: dense, units: 4, activation: softmax}\n",
        "binary_cross_entropy",
        "loss binary_cross_entropy takes one probability (sigmoid) or one logit per unit",
    ),
    "one class for cross_entropy": (
        "  - {type: dense, units: 1}\n",
        "cross_entropy",
        "loss cross_entropy needs at least 2 classes",
    ),
}


@pytest.mark.parametrize("case", list(MISMATCHES))
def test_an_output_that_does_not_fit_its_loss_is_a_located_error(case):
    layers, loss, message = MISMATCHES[case]
    with pytest.raises(netspec.SpecError) as info:
        netspec.load(spec("Bad", layers, loss), name="bad.yaml")
    assert message in str(info.value)
    last = 4 + layers.count("\n")  # the output layer's line; the loss is on the next
    assert str(info.value).startswith(f"bad.yaml:{last}:5: ")
    assert f"(loss on line {last + 1})" in str(info.value)


def test_the_default_loss_is_checked_too_and_says_so():
    text = spec("D", "  - {type: dense, units: 4}\n  - {type: softmax}\n", "x").replace(
        "train: {loss: x}\n", ""
    )
    with pytest.raises(netspec.SpecError, match=r"bad.yaml:6:5: softmax_1: .*\(no loss is set"):
        netspec.load(text, name="bad.yaml")


def test_a_class_loss_needs_a_vector_per_sample_or_per_step():
    text = spec("Img", "  - {type: conv2d, filters: 4, kernel: 1}\n", "cross_entropy", "[1, 4, 4]")
    with pytest.raises(
        netspec.SpecError,
        match=r"needs one vector per sample or, per step, a \(T, K\) sequence, but the network "
        r"outputs \(4, 4, 4\)",
    ):
        netspec.load(text)
    per_step = spec("Seq", "  - {type: dense, units: 4}\n", "cross_entropy", "[5, 3]")
    assert netspec.load(per_step).objective.per_step


def test_accuracy_with_mse_needs_class_scores():
    text = spec(
        "Ae", "  - {type: conv2d, filters: 1, kernel: 1}\n", "mse, metrics: [accuracy]", "[1, 4, 4]"
    )
    with pytest.raises(netspec.SpecError, match="accuracy needs class scores"):
        netspec.load(text)


def test_the_objective_is_what_the_docs_say():
    sigmoid = netspec.load(CASES["binary_sigmoid_one_unit"][0]).objective
    logits = netspec.load(CASES["binary_logits_multi_label"][0]).objective
    assert (sigmoid.from_logits, sigmoid.accuracy) == (False, "binary")
    assert (logits.from_logits, logits.accuracy) == (True, "binary")
    assert netspec.load(CASES["mse"][0]).objective.accuracy is None
    assert netspec.load(CASES["mse_autoencoder"][0]).objective.autoencoder
    assert not netspec.load(CASES["mse"][0]).objective.autoencoder
