"""Dropout, drop-path and Gaussian noise mean the same in both backends while training (the
parity tests run in eval mode, where all are the identity): dropout zeroes `rate` of the
elements and scales the rest by 1 / (1 - rate); drop_path does the same to whole samples; noise
adds N(0, stddev²). Measured on 64 x 4,096 ones (drop_path: 20,000 samples of 4)."""

from __future__ import annotations

import pytest

import netspec
from tests.frameworks import run

DROPOUT = (
    "netspec: 1\nname: Drop\ninput: {shape: [4096]}\nlayers:\n  - {type: dropout, rate: 0.3}\n"
)
DROP_PATH = (
    "netspec: 1\nname: DropPath\ninput: {shape: [4]}\nlayers:\n  - {type: drop_path, rate: 0.3}\n"
)
NOISE = (
    "netspec: 1\nname: Noise\ninput: {shape: [4096]}\n"
    "layers:\n  - {type: gaussian_noise, stddev: 0.5}\n"
)


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    out = tmp_path_factory.mktemp("stochastic")
    built = {}
    for name, text in (("dropout", DROPOUT), ("drop_path", DROP_PATH), ("noise", NOISE)):
        network = netspec.load(text)
        for backend in ("torch", "keras"):
            built[name, backend] = out / f"{name}_{backend}"
            netspec.build(network, backend=backend, out=built[name, backend])
    return built


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_dropout_zeroes_its_rate_and_rescales_the_rest(packages, backend):
    result = run("stochastic_layers.py", backend, packages["dropout", backend])
    print(backend, result)
    assert result["zeroed"] == pytest.approx(0.3, abs=0.01)
    assert result["kept_mean"] == pytest.approx(1 / 0.7, rel=1e-5)
    assert result["eval_equals_input"]


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_drop_path_zeroes_whole_samples_at_its_rate_and_rescales_the_rest(packages, backend):
    result = run("stochastic_layers.py", backend, packages["drop_path", backend], "20000")
    assert result["samples_zeroed_whole"]
    assert result["zeroed"] == pytest.approx(0.3, abs=0.015)
    assert result["kept_mean"] == pytest.approx(1 / 0.7, rel=1e-5)
    assert result["eval_equals_input"]


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_gaussian_noise_adds_its_stddev(packages, backend):
    result = run("stochastic_layers.py", backend, packages["noise", backend])
    print(backend, result)
    assert result["added_std"] == pytest.approx(0.5, rel=0.02)
    assert abs(result["added_mean"]) < 0.01
    assert result["eval_equals_input"]
