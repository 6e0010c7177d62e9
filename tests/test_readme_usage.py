"""The generated README's first snippet runs when pasted: it imports the model and calls it on
a batch of the input's kind (image, features, sequence, token ids, several named inputs), in
a fresh process per backend, from the folder that holds the package; the layer the Keras
README names in its prose (`model.get_layer(...)`) exists, and its export command reads the
weights where train.py writes them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import netspec

ROOT = Path(__file__).parent.parent
SPECS = {
    "lenet5": ROOT / "specs" / "lenet5.yaml",  # an image
    "mlp": ROOT / "specs" / "mlp.yaml",  # features
    "digits_lstm": ROOT / "tests" / "specs" / "digits_lstm.yaml",  # a sequence
    "gpt_mini": ROOT / "specs" / "gpt_mini.yaml",  # token ids
    "heads": ROOT / "tests" / "specs" / "heads.yaml",  # three named inputs, two outputs
}


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_every_readme_snippet_runs(backend: str, tmp_path: Path) -> None:
    script = []
    for name, spec in SPECS.items():
        package = f"{name}_{backend}"
        netspec.build(spec, backend=backend, out=tmp_path / package)
        readme = (tmp_path / package / "README.md").read_text(encoding="utf-8")
        snippet = re.search(r"```python\n(.*?)```", readme, re.S)
        assert snippet, f"{package}: no Python snippet"
        script.append(f"# {package}\n{snippet.group(1)}")
        for call in re.findall(r"`(model\.get_layer\([^`]*\))`", readme):  # named in the prose
            script.append(call)
        # the export command loads the weights file where the package's train.py writes it
        run_dir = re.search(
            r'^RUN_DIR = "(.*)"$', (tmp_path / package / "train.py").read_text(), re.M
        )
        final = "model.pt" if backend == "torch" else "model.weights.h5"
        assert f"-m {package}.export" in readme and f"--weights {run_dir[1]}/{final}" in readme
    (tmp_path / "snippets.py").write_text("\n".join(script), encoding="utf-8")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "snippets.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "CUDA_VISIBLE_DEVICES": ""},
    )
    assert done.returncode == 0, done.stderr[-3000:]
