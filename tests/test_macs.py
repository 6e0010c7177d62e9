"""The MACs netspec reports (`Network.macs`, and the total `netspec summary` prints) equal a
count taken from the generated torch model as it runs.

For every shipped spec and every test spec, tests/scripts/torch_macs.py runs the generated torch
model once (batch 1, on torch's shape-only "meta" device, one process for all specs) with a
forward hook on every leaf module, each counting by its torch type alone, independently of
netspec's IR (convolution: output elements x in_channels / groups x kh x kw; transposed
convolution: input elements x out_channels / groups x kh x kw; linear: in x out per row; every
other known type 0). torch's FlopCounterMode counts the same run's convolutions and matrix
products at the operator level, which also sees any that bypass a module.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import netspec
from netspec.summary import render
from tests.frameworks import run

ROOT = Path(__file__).parent.parent
PATHS = {
    p.stem: p
    for p in sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests/specs").glob("*.yaml"))
}


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("macs")
    for name, path in PATHS.items():
        netspec.build(path, backend="torch", out=folder / f"{name}_macs")
    return run("torch_macs.py", folder, *(f"{name}_macs" for name in PATHS), timeout=600)


@pytest.mark.parametrize("spec", list(PATHS))
def test_macs_match_torch_hooks(spec: str, counted: dict) -> None:
    network = netspec.load(PATHS[spec])
    result = counted[f"{spec}_macs"]
    assert result["unknown"] == [], "leaf module types without a MAC rule in torch_macs.py"
    ir = {name: stats.macs for name, stats in network.stats.items() if stats.macs}
    assert network.macs == result["hooks"], (
        f"netspec {network.macs:,}, hooks {result['hooks']:,}\n"
        f"netspec per layer: {ir}\nhooks per module: {result['modules']}"
    )
    assert result["flop_counter"] == result["hooks"]
    assert f"MACs per sample:       {result['hooks']:,} (" in render(network)
    assert network.macs > 0
