"""The generated packages' `export.py`: ONNX from torch, `.keras`/SavedModel from Keras.

For every spec: the torch package exports ONNX with a dynamic batch axis, `onnx.checker`
passes with full shape inference, and onnxruntime's outputs equal torch's (eval mode, random
input) within 1e-5 relative to the output's largest magnitude; the Keras package saves a
`.keras` file that reloads with `safe_mode=True` and computes the same outputs.

Before exporting or saving, every weight that starts as a constant (BatchNorm's statistics
and affine, the other norms' affine, layer scale, Keras's zero biases) is randomised: at their
initial values BatchNorm is the identity to within 1e-5, and ConvNeXt's residual branches
(layer scale 1e-6) move its output by 3e-6 of its largest value, so an exported graph that
lost them would still pass.

Cost (the big shipped specs take most of this module's time): each backend runs in its own
subprocess (torch and TensorFlow never share a process), once for all specs, exporting each
spec once; the parametrised tests then check each spec's results. The export traces batch 2
(the generated `export_onnx`); the outputs are compared at batch 1, which is not the traced
batch, so the dynamic batch axis is exercised. The test specs (small, and together they use
every layer kind) also run batch 3, where a graph that mixed samples would differ. The input
size is always the spec's: the generated model and its ONNX graph are specialised to
INPUT_SHAPE (static height and width, paddings computed for that size), so a smaller input
would test a graph that no user exports, and the flatten-based networks (VGG, LeNet) accept
no other size at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netspec import build

ROOT = Path(__file__).resolve().parent.parent
PATHS = {
    p.stem: p
    for p in sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests/specs").glob("*.yaml"))
}
"""The shipped specs, and the test specs (concat, shared layers, odd paddings, nested blocks)."""
SPECS = list(PATHS)
TOLERANCE = 1e-5
BATCHES = {
    spec: (1, 3) if path.parent == ROOT / "tests/specs" else (1,) for spec, path in PATHS.items()
}
"""Batches onnxruntime runs per spec: see the module docstring."""

RANDOMISE = r"""
def randomise(weights, uniform):
    # Every float weight (name, handle, values) that starts as one constant gets random values:
    # running variances in [0.5, 2], the rest (means, affine, biases, layer scale) in
    # [-0.5, 0.5]; `uniform(handle, low, high)` assigns them.
    for name, handle, values in weights:
        flat = values.reshape(-1)
        if flat.shape[0] and bool((flat == flat[0]).all()):
            last = name.replace("/", ".").rsplit(".", 1)[-1]
            uniform(handle, *((0.5, 2.0) if "var" in last else (-0.5, 0.5)))
"""

TORCH_CHECK = (
    RANDOMISE
    + r"""
import importlib, json, sys, traceback
import numpy as np
import onnx
import onnxruntime as ort
import torch

torch.set_num_threads(2)
out, batches = sys.argv[1], json.loads(sys.argv[2])
results = {}
for spec in batches:
    try:
        export = importlib.import_module(f"{spec}_torch.export")
        model_module = importlib.import_module(f"{spec}_torch.model")
        path = f"{out}/{spec}.onnx"
        torch.manual_seed(0)
        model = model_module.build_model()
        generator = torch.Generator().manual_seed(2)
        tensors = [*model.named_parameters(), *model.named_buffers()]
        with torch.no_grad():
            randomise(
                [(n, t, t) for n, t in tensors if t.is_floating_point()],
                lambda t, low, high: t.uniform_(low, high, generator=generator),
            )
        export.export_onnx(model, path)
        assert not model.training
        # full_check includes shape inference with check_type and strict_mode; given the path,
        # the checker reads the file itself (for VGG's 550 MB, a second faster than a proto)
        onnx.checker.check_model(path, full_check=True)
        proto = onnx.load(path)
        out_shape = proto.graph.output[0].type.tensor_type.shape
        dims = [d.dim_param or d.dim_value for d in out_shape.dim]
        batch = proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        errors = {}
        generator = torch.Generator().manual_seed(1)
        shapes = getattr(model_module, "INPUT_SHAPES", None) or {"input": model_module.INPUT_SHAPE}
        dtypes = getattr(model_module, "INPUT_DTYPES", None) or {
            "input": getattr(model_module, "INPUT_DTYPE", "float32")
        }
        vocab = getattr(model_module, "VOCAB", 1)  # several inputs: ids 0 are in every vocab
        for n in batches[spec]:
            xs = {
                name: torch.randint(0, vocab, (n, *shape), generator=generator)
                if dtypes[name] == "int64"
                else torch.randn(n, *shape, generator=generator)
                for name, shape in shapes.items()
            }
            with torch.no_grad():
                wants = model(*xs.values())
            wants = wants if isinstance(wants, tuple) else (wants,)
            gots = session.run(None, {name: x.numpy() for name, x in xs.items()})
            errors[n] = 0.0
            for got, want in zip(gots, wants, strict=True):
                want = want.numpy()
                assert got.shape == want.shape, (got.shape, want.shape)
                errors[n] = max(errors[n], float(np.abs(got - want).max() / np.abs(want).max()))
        results[spec] = {
            "errors": errors,
            "opset": proto.opset_import[0].version,
            "batch_axis": batch,
            "output_dims": dims,
        }
    except Exception:
        results[spec] = {"error": traceback.format_exc()}
print(json.dumps(results))
"""
)

KERAS_CHECK = (
    RANDOMISE
    + r"""
import importlib, json, sys, traceback
import numpy as np
import keras

out, specs = sys.argv[1], sys.argv[2:]
results = {}
for spec in specs:
    try:
        export = importlib.import_module(f"{spec}_keras.export")
        model_module = importlib.import_module(f"{spec}_keras.model")
        path = f"{out}/{spec}.keras"
        keras.utils.set_random_seed(0)
        model = model_module.build_model()
        rng = np.random.default_rng(2)
        randomise(
            [(w.path, w, np.asarray(w)) for w in model.weights if "float" in str(w.dtype)],
            lambda w, low, high: w.assign(rng.uniform(low, high, w.shape).astype(w.dtype)),
        )
        export.save_keras(model, path)
        reloaded = keras.saving.load_model(path, safe_mode=True)
        rng = np.random.default_rng(1)

        def batch(tensor):
            shape = (1, *tensor.shape[1:])
            if "int" in str(tensor.dtype):
                return np.zeros(shape, "int32")
            return rng.standard_normal(shape).astype("float32")

        structure = model.input  # one input, or a dict of several by name
        if isinstance(structure, dict):
            x = {name: batch(tensor) for name, tensor in structure.items()}
        else:
            x = batch(structure)
        wants, gots = model(x, training=False), reloaded(x, training=False)
        if not isinstance(wants, (list, tuple)):
            wants, gots = [wants], [gots]
        relative = 0.0
        for got, want in zip(gots, wants, strict=True):
            got, want = np.asarray(got), np.asarray(want)
            assert got.shape == want.shape, (got.shape, want.shape)
            relative = max(relative, float(np.abs(got - want).max() / np.abs(want).max()))
        results[spec] = {
            "error": None,
            "relative": relative,
            "lambda": any(isinstance(layer, keras.layers.Lambda) for layer in reloaded.layers),
        }
    except Exception:
        results[spec] = {"error": traceback.format_exc()}
print(json.dumps(results))
"""
)


def _env(packages: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(packages)
    env["KERAS_BACKEND"] = "tensorflow"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def _run(code_or_args: list[str], packages: Path, timeout: int) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, *code_or_args],
        cwd=packages,
        env=_env(packages),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def _build_all(root: Path, backend: str) -> Path:
    for spec in SPECS:
        build(PATHS[spec], backend=backend, out=root / f"{spec}_{backend}")
    return root


@pytest.fixture(scope="module")
def torch_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_all(tmp_path_factory.mktemp("torch_packages"), "torch")


@pytest.fixture(scope="module")
def keras_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_all(tmp_path_factory.mktemp("keras_packages"), "keras")


@pytest.fixture(scope="module")
def torch_results(torch_packages: Path) -> dict:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    batches = json.dumps(BATCHES)
    result = _run(["-c", TORCH_CHECK, str(torch_packages), batches], torch_packages, timeout=900)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def keras_results(keras_packages: Path) -> dict:
    pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    result = _run(["-c", KERAS_CHECK, str(keras_packages), *SPECS], keras_packages, timeout=900)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("spec", SPECS)
def test_onnx_matches_torch(spec: str, torch_results: dict) -> None:
    result = torch_results[spec]
    assert "error" not in result, result["error"]
    assert result["opset"] == 17
    assert result["batch_axis"] == "batch"
    assert result["output_dims"][0] == "batch"
    assert set(result["errors"]) == {str(n) for n in BATCHES[spec]}
    for batch, error in result["errors"].items():
        assert error <= TOLERANCE, f"batch {batch}: relative error {error:.2e}"


@pytest.mark.parametrize("spec", SPECS)
def test_keras_file_reloads_safely(spec: str, keras_results: dict) -> None:
    result = keras_results[spec]
    assert result["error"] is None, result["error"]
    assert result["relative"] <= 1e-6
    assert not result["lambda"]


def test_torch_export_command(torch_packages: Path, tmp_path: Path) -> None:
    """`python -m <package>.export --onnx` as a user runs it, with trained `--weights`: the
    `model.pt` state_dict that train.py writes, and an .npz of the same arrays (one process
    writes both and one checks both ONNX files: each start of torch costs seconds)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    save = (
        "import sys, numpy as np, torch\n"
        "from lenet5_torch.model import build_model\n"
        "torch.manual_seed(7)\n"
        "state = build_model().state_dict()\n"
        "torch.save(state, sys.argv[1])\n"
        "np.savez(sys.argv[2], **{k: v.numpy() for k, v in state.items()})\n"
    )
    weights = [tmp_path / "model.pt", tmp_path / "model.npz"]
    _run(["-c", save, *map(str, weights)], torch_packages, timeout=300)
    targets = []
    for source in weights:
        target = tmp_path / f"lenet5_{source.suffix[1:]}.onnx"
        args = ["-m", "lenet5_torch.export", "--onnx", str(target), "--weights", str(source)]
        result = _run(args, torch_packages, timeout=300)
        assert f"wrote {target}" in result.stdout
        targets.append(target)
    check = (
        "import sys, numpy as np, onnx, onnx.numpy_helper, torch\n"
        "from lenet5_torch.model import build_model\n"
        "torch.manual_seed(7)\n"
        "w = build_model().state_dict()['c1.weight'].numpy()\n"
        "for path in sys.argv[1:]:\n"
        "    proto = onnx.load(path)\n"
        "    arrays = [onnx.numpy_helper.to_array(i) for i in proto.graph.initializer]\n"
        "    assert any(a.shape == w.shape and np.array_equal(a, w) for a in arrays), path\n"
    )
    _run(["-c", check, *map(str, targets)], torch_packages, timeout=300)
    missing = _run_fail(["-m", "lenet5_torch.export"], torch_packages)
    assert "--onnx" in missing
    onnx_args = ["-m", "lenet5_torch.export", "--onnx", str(tmp_path / "x.onnx"), "--weights"]
    nothing = _run_fail([*onnx_args, str(tmp_path / "runs" / "model.pt")], torch_packages)
    assert f"--weights {tmp_path / 'runs' / 'model.pt'}: no such file" in nothing
    other = tmp_path / "other.npz"  # arrays of another model, named as netspec.weights names
    _run(
        ["-c", f"import numpy as np; np.savez({str(other)!r}, **{{'c1/weight': np.zeros(3)}})"],
        torch_packages,
        60,
    )
    wrong = _run_fail([*onnx_args, str(other)], torch_packages)
    assert (
        "not LeNet5's state_dict: 10 of its tensors missing (c1.weight, c1.bias, c3.weight, ...)"
        in wrong
    )
    assert "1 it does not have (c1/weight); names with '/' are netspec.weights.save's" in wrong
    assert "Traceback" not in wrong
    shaped = tmp_path / "shaped.npz"  # the model's names, one of another shape
    _run(
        [
            "-c",
            save.replace(
                "torch.save(state, sys.argv[1])", "state['c1.bias'] = state['c1.bias'][:2]"
            ),
            str(tmp_path / "unused.pt"),
            str(shaped),
        ],
        torch_packages,
        timeout=300,
    )
    wrong = _run_fail([*onnx_args, str(shaped)], torch_packages)
    assert "1 tensor(s) of another shape: c1.bias (2,), the model's (6,)" in wrong
    text, numbers = tmp_path / "text.pt", tmp_path / "numbers.pt"  # no tensors at all
    text.write_text("hello\n", encoding="utf-8")
    _run(
        ["-c", f"import torch; torch.save({{'c1.weight': 1}}, {str(numbers)!r})"],
        torch_packages,
        60,
    )
    for path in (text, numbers):
        wrong = _run_fail([*onnx_args, str(path)], torch_packages)
        assert f"--weights {path}: " in wrong and "Traceback" not in wrong, wrong
    assert "holds no state_dict (a mapping of names to tensors)" in wrong


def test_keras_export_command(keras_packages: Path, tmp_path: Path) -> None:
    """`python -m <package>.export --keras F --savedmodel D --weights W` with the weights file
    that train.py writes; the .keras file and the SavedModel both compute the trained model."""
    pytest.importorskip("tensorflow")
    weights = tmp_path / "model.weights.h5"
    save = (
        "import sys, keras\n"
        "from lenet5_keras.model import build_model\n"
        "keras.utils.set_random_seed(7)\n"
        "build_model().save_weights(sys.argv[1])\n"
    )
    _run(["-c", save, str(weights)], keras_packages, timeout=300)
    target, saved = tmp_path / "lenet5.keras", tmp_path / "saved"
    args = ["-m", "lenet5_keras.export", "--keras", str(target), "--savedmodel", str(saved)]
    result = _run([*args, "--weights", str(weights)], keras_packages, timeout=300)
    assert f"wrote {target}" in result.stdout and f"wrote {saved}" in result.stdout
    check = (
        "import sys, keras, numpy as np, tensorflow as tf\n"
        "from lenet5_keras import export\n"
        "from lenet5_keras.model import build_model\n"
        "keras.utils.set_random_seed(7)\n"
        "trained = build_model()\n"
        "model = export.load(sys.argv[1])\n"
        "served = tf.saved_model.load(sys.argv[2])\n"
        "x = np.random.default_rng(0).standard_normal((3, 32, 32, 1)).astype('float32')\n"
        "want = np.asarray(trained(x, training=False))\n"
        "for got in (np.asarray(model(x, training=False)), np.asarray(served.serve(x))):\n"
        "    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()\n"
    )
    _run(["-c", check, str(target), str(saved)], keras_packages, timeout=300)
    bad = _run_fail(
        ["-m", "lenet5_keras.export", "--keras", str(tmp_path / "x.h5")], keras_packages
    )
    assert "must end in .keras" in bad
    nothing = _run_fail(
        ["-m", "lenet5_keras.export", "--keras", str(target), "--weights", str(tmp_path / "no.h5")],
        keras_packages,
    )
    assert f"--weights {tmp_path / 'no.h5'}: no such file" in nothing and "Traceback" not in nothing


def _run_fail(args: list[str], packages: Path) -> str:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=packages,
        env=_env(packages),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    return result.stderr
