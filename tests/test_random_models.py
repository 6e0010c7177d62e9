"""Random valid networks compile to code that parses, imports, runs with the inferred shapes,
and computes the same function in both backends (Hypothesis; a modest count for CI, since each
network costs a torch and a Keras process)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netspec
from tests.frameworks import run
from tests.test_properties import networks

COUNT = 3


@settings(
    max_examples=1,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(networks(), min_size=COUNT, max_size=COUNT))
def test_random_networks_run_with_their_inferred_shapes_in_both_backends(tmp_path, nets):
    for index, net in enumerate(nets):
        folder = Path(tempfile.mkdtemp(prefix=f"net{index}_", dir=tmp_path))
        spec = folder / "spec.yaml"
        spec.write_text(json.dumps(net.spec(), indent=1))  # JSON is YAML
        network = netspec.load(spec)
        for backend in ("torch", "keras"):
            netspec.build(network, backend=backend, out=folder / f"gen_{backend}")
        x = np.random.default_rng(index).standard_normal((2, *network.input_shape))
        np.savez(folder / "x.npz", x=x.astype("float32"))
        results = {
            "torch": run(
                "run_torch.py",
                spec,
                folder / "gen_torch",
                "--x",
                folder / "x.npz",
                "--y",
                folder / "y_torch.npy",
                "--save",
                folder / "w.npz",
            ),
            "keras": run(
                "run_keras.py",
                spec,
                folder / "gen_keras",
                "--x",
                folder / "x.npz",
                "--y",
                folder / "y_keras.npy",
                "--load",
                folder / "w.npz",
            ),
        }
        expected = {n.name: list(network.shapes[n.name]) for n in network.nodes}
        for backend, result in results.items():
            assert result["shapes"] == expected, (backend, spec.read_text())
            assert result["params"] == network.params, backend
        y_torch, y_keras = np.load(folder / "y_torch.npy"), np.load(folder / "y_keras.npy")
        scale = max(1.0, float(np.abs(y_torch).max()))
        np.testing.assert_allclose(y_keras, y_torch, rtol=1e-4, atol=1e-4 * scale)
