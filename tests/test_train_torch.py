"""The generated torch training program, run for real (CPU, gloo) in subprocesses.

This process never imports torch: each run of the generated `train.py` and each weight
comparison is its own subprocess (see tests/frameworks.py for why).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from netspec import build

ROOT = Path(__file__).parent.parent

TINY = """\
netspec: 1
name: Tiny
input: {shape: [1, 8, 8]}
layers:
  - {type: conv2d, name: conv, filters: 4, kernel: 3, padding: 1, activation: relu}
  - {type: maxpool2d, name: pool, size: 2}
  - {type: flatten}
  - {type: dense, name: fc, units: 10}
train:
  optimizer: {type: sgd, lr: 0.05, momentum: 0.9}
  batch_size: 16
  epochs: 3
"""

COMPARE = """
import json, math, sys, torch
def load(p):
    s = torch.load(p, map_location="cpu", weights_only=True)
    return s["model"] if "model" in s else s
a = load(sys.argv[1])
out = {"finite": all(bool(torch.isfinite(v).all()) for v in a.values())}
if len(sys.argv) > 2:
    b = load(sys.argv[2])
    assert a.keys() == b.keys()
    out["max_diff"] = max(float((a[k] - b[k]).abs().max()) for k in a)
    out["changed"] = out["max_diff"] > 0
print(json.dumps(out))
"""


def env() -> dict[str, str]:
    return {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": "",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture(scope="module")
def pkgdir(tmp_path_factory) -> Path:
    """A folder holding the `tiny` package (and `tiny2`, the same net from another spec)."""
    root = tmp_path_factory.mktemp("torch_train")
    (root / "tiny.yaml").write_text(TINY)
    build(root / "tiny.yaml", backend="torch", out=root / "tiny")
    (root / "tiny2.yaml").write_text(TINY.replace("lr: 0.05", "lr: 0.04"))
    build(root / "tiny2.yaml", backend="torch", out=root / "tiny2")
    return root


def train(pkgdir: Path, *args: str | Path, package: str = "tiny", extra_env=None, timeout=240):
    return subprocess.run(
        [sys.executable, "-m", f"{package}.train", "--no-progress", *map(str, args)],
        cwd=pkgdir,
        env={**env(), **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, (
        f"rc {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def compare(a: Path, b: Path | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", COMPARE, str(a), *([str(b)] if b else [])],
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def newest(folder: Path) -> list[Path]:
    return sorted(folder.glob("ckpt-*.pt"), reverse=True)


# 256 samples / batch 16: 16 steps an epoch.
COMMON = ["--synthetic-samples", "256", "--log-interval", "1"]


@pytest.fixture(scope="module")
def finished(pkgdir: Path) -> Path:
    """An uninterrupted 3-epoch run, checkpointing every 5 steps."""
    run = pkgdir / "runs" / "finished"
    ok(train(pkgdir, *COMMON, "--checkpoint-every", "5", "--run-dir", run))
    return run


def test_help_lists_the_flags(pkgdir: Path) -> None:
    out = ok(train(pkgdir, "--help")).stdout
    for flag in ["--epochs", "--batch-size", "--lr", "--data", "--seed", "--checkpoint-dir"]:
        assert flag in out
    for flag in ["--resume", "--amp", "--channels-last", "--compile", "--workers", "--resize"]:
        assert flag in out
    assert "(16)" in out and "(0.05)" in out  # defaults from the spec


def test_run_writes_metrics_checkpoints_and_weights(finished: Path) -> None:
    lines = (finished / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert records[-1]["step"] == 48
    assert {"loss", "accuracy", "images_per_s", "lr"} <= records[0].keys()
    # the last two checkpoints only
    assert [p.name for p in newest(finished / "checkpoints")] == [
        "ckpt-000000048.pt",
        "ckpt-000000045.pt",
    ]
    assert not list((finished / "checkpoints").glob(".*"))  # no temporary files left
    assert compare(finished / "model.pt")["finite"]


def test_ddp_two_ranks_match_one_process(pkgdir: Path) -> None:
    single = pkgdir / "runs" / "single"  # the global batch of two ranks of 16
    common = ["--epochs", "2", "--synthetic-samples", "64"]
    ok(train(pkgdir, *common, "--batch-size", "32", "--run-dir", single))
    ddp = pkgdir / "runs" / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    done = subprocess.run(
        [*cmd, "-m", "tiny.train", "--no-progress", "--epochs", "2"]
        + ["--synthetic-samples", "64", "--run-dir", str(ddp)],
        cwd=pkgdir,
        env=env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    ok(done)
    assert "training on 2 x cpu" in done.stdout
    diff = compare(single / "model.pt", ddp / "model.pt")
    print(f"max |weight difference| {diff['max_diff']:.3g}")
    assert diff["max_diff"] <= 1e-5, diff


def test_sigkill_then_resume_equals_uninterrupted(pkgdir: Path, finished: Path) -> None:
    run = pkgdir / "runs" / "killed"
    cmd = [sys.executable, "-m", "tiny.train", "--no-progress", *COMMON]
    cmd += ["--checkpoint-every", "5", "--run-dir", str(run)]
    proc = subprocess.Popen(
        cmd, cwd=pkgdir, env=env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        for line in proc.stdout:
            if line.startswith("epoch 2 step 23:"):  # mid-epoch, past the checkpoint of step 20
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "model.pt").exists()
    ckpt = newest(run / "checkpoints")[0].name
    assert ckpt < "ckpt-000000048.pt"
    done = ok(train(pkgdir, *COMMON, "--checkpoint-every", "5", "--run-dir", run, "--resume"))
    assert f"resumed from {run / 'checkpoints' / ckpt}" in done.stdout
    diff = compare(finished / "model.pt", run / "model.pt")
    assert diff["max_diff"] == 0.0, diff


def test_restart_under_torchrun_resumes_by_itself(pkgdir: Path, finished: Path) -> None:
    run = pkgdir / "runs" / "restarted"
    shutil.copytree(finished, run)
    done = ok(
        train(
            pkgdir,
            *COMMON,
            "--epochs",
            "4",
            "--run-dir",
            run,
            extra_env={"TORCHELASTIC_RESTART_COUNT": "1"},
        )
    )
    assert "resumed from" in done.stdout and "epoch 4/4" in done.stdout


def test_truncated_newest_checkpoint_falls_back(pkgdir: Path, finished: Path) -> None:
    run = pkgdir / "runs" / "truncated"
    shutil.copytree(finished, run)
    last, previous = newest(run / "checkpoints")
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    done = ok(train(pkgdir, *COMMON, "--epochs", "4", "--run-dir", run, "--resume"))
    assert f"checkpoint {last} is damaged" in done.stderr
    assert f"resumed from {previous}" in done.stdout
    assert "epoch 4/4" in done.stdout


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_with_a_pickled_object_is_refused(pkgdir: Path, finished: Path) -> None:
    run = pkgdir / "runs" / "evil"
    shutil.copytree(finished, run)
    marker = pkgdir / "pwned"
    newest(run / "checkpoints")[0].write_bytes(pickle.dumps({"model": _Evil(marker)}))
    done = train(pkgdir, *COMMON, "--epochs", "4", "--run-dir", run, "--resume")
    assert done.returncode == 2, done.stderr
    assert "error: refusing checkpoint" in done.stderr
    assert "could run code" in done.stderr
    assert not marker.exists()


def test_checkpoint_of_another_spec_is_refused(pkgdir: Path, finished: Path) -> None:
    run = pkgdir / "runs" / "other_spec"
    shutil.copytree(finished, run)
    done = train(pkgdir, *COMMON, "--run-dir", run, "--resume", package="tiny2")
    assert done.returncode == 2
    assert "was written for a different spec" in done.stderr


def test_existing_checkpoints_need_resume(pkgdir: Path, finished: Path) -> None:
    run = pkgdir / "runs" / "again"
    shutil.copytree(finished, run)
    done = train(pkgdir, *COMMON, "--run-dir", run)
    assert done.returncode == 2 and "pass --resume" in done.stderr


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(pkgdir: Path) -> None:
    run = pkgdir / "runs" / "nan"
    done = train(pkgdir, *COMMON, "--run-dir", run, extra_env={"NETSPEC_INJECT_NAN_STEP": "20"})
    assert done.returncode == 3, done.stderr
    assert "error: loss is not finite (NaN or Inf) in epoch 2 at or before step 20" in done.stderr
    assert "ckpt-000000016.pt" in done.stderr
    ckpts = newest(run / "checkpoints")
    assert [p.name for p in ckpts] == ["ckpt-000000016.pt"]
    assert compare(ckpts[0])["finite"]
    assert not (run / "model.pt").exists()


def test_npz_shape_mismatch_is_an_error_unless_resize(pkgdir: Path) -> None:
    rng = np.random.default_rng(0)
    data = pkgdir / "small.npz"
    np.savez(data, x=rng.random((32, 1, 6, 6), dtype=np.float32), y=rng.integers(0, 10, 32))
    done = train(pkgdir, "--data", data, "--run-dir", pkgdir / "runs" / "npz")
    assert done.returncode == 2
    assert "holds samples of shape (1, 6, 6), the network takes (1, 8, 8)" in done.stderr
    assert "--resize" in done.stderr
    done = ok(
        train(pkgdir, "--data", data, "--resize", "--epochs", "1", "--run-dir", pkgdir / "r2")
    )
    assert "epoch 1/1" in done.stdout


def digits_npz(path: Path) -> None:
    """scikit-learn's bundled 8x8 digits, upscaled 4x to LeNet's 32x32, split 80/20."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    x = np.kron(x, np.ones((1, 4, 4), dtype=np.float32))[:, None]  # (N, 1, 32, 32)
    x_train, x_val, y_train, y_val = train_test_split(
        x, digits.target, test_size=0.2, random_state=0, stratify=digits.target
    )
    np.savez(path, x=x_train, y=y_train, x_val=x_val, y_val=y_val)


def test_lenet5_learns_digits(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    build(ROOT / "specs" / "lenet5.yaml", backend="torch", out=tmp_path / "lenet")
    digits_npz(tmp_path / "digits.npz")
    started = time.perf_counter()
    done = ok(
        train(
            tmp_path,
            "--data",
            tmp_path / "digits.npz",
            "--epochs",
            "20",
            "--run-dir",
            tmp_path / "run",
            package="lenet",
        )
    )
    seconds = time.perf_counter() - started
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    accuracy = records[-1]["val_accuracy"]
    print(f"LeNet-5 (torch) on digits: held-out accuracy {accuracy:.4f} in {seconds:.1f} s")
    assert accuracy >= 0.95, done.stdout


LOSSES = {  # each loss with an output it takes (netspec.objective)
    "cross_entropy": "",
    "nll": ", activation: log_softmax",
    "mse": "",
    "binary_cross_entropy": ", activation: sigmoid",
    "kl_div": ", activation: log_softmax",
}
OPTIONS = {"cross_entropy": "  label_smoothing: 0.1\n"}
"""Loss options tried here (the shipped specs' golden files have cross_entropy without)."""
OPTIMIZERS = [
    "{type: sgd, lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.0001}",
    "{type: adam, lr: 0.001}",
    "{type: adamw, weight_decay: 0.05}",
]
SCHEDULES = ["none", "{type: step, step_size: 30, gamma: 0.1}", "{type: cosine}"]


def test_every_train_section_renders_clean_code(tmp_path: Path) -> None:
    """Every loss, optimizer and schedule gives a train.py (both backends) that compiles, is
    ruff-format stable and lint-clean with default settings, and is byte-identical when
    rebuilt; no framework is imported here."""
    import shutil

    from netspec import load
    from netspec.emit import emit

    files = []
    for i, (loss, activation) in enumerate(LOSSES.items()):
        spec = TINY.replace("  optimizer: {type: sgd, lr: 0.05, momentum: 0.9}\n", "")
        spec = spec.replace("units: 10}", f"units: 10{activation}}}")
        spec += f"  loss: {loss}\n  optimizer: {OPTIMIZERS[i % 3]}\n"
        spec += f"  schedule: {SCHEDULES[(i + 1) % 3]}\n" + OPTIONS.get(loss, "")
        network = load(spec, name=f"{loss}.yaml")
        for backend in ("torch", "keras"):
            text = emit(network, backend)["train.py"]
            assert text == emit(load(spec, name=f"{loss}.yaml"), backend)["train.py"]
            compile(text, f"{loss}_{backend}/train.py", "exec")
            assert not re.search(r"import pickle|pickle\.(loads?|dumps?)\(", text)
            assert "allow_pickle=True" not in text
            assert not re.search(r"(?<![.\w])(eval|exec)\(", text)
            path = tmp_path / f"{loss}_{backend}.py"
            path.write_text(text)
            files.append(str(path))
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    done = subprocess.run([ruff, "format", "--isolated", "--check", *files], capture_output=True)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    done = subprocess.run([ruff, "check", "--isolated", *files], capture_output=True)
    assert done.returncode == 0, done.stdout.decode()


def test_image_folder_with_train_and_val(pkgdir: Path) -> None:
    """--data DIR: train/ and val/ with one sub-folder of PNGs per class; a wrong image size
    is refused unless --resize."""
    image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    root = pkgdir / "images"
    for part, count in (("train", 16), ("val", 4)):
        for label in ("cat", "dog"):
            folder = root / part / label
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (8, 8), dtype=np.uint8)
                image.fromarray(pixels).save(folder / f"{i}.png")
    done = ok(train(pkgdir, "--data", root, "--epochs", "1", "--run-dir", pkgdir / "r_img"))
    record = json.loads((pkgdir / "r_img" / "metrics.jsonl").read_text().splitlines()[-1])
    assert "val_accuracy" in record and "32 samples" in done.stdout
    image.fromarray(rng.integers(0, 256, (9, 9), dtype=np.uint8)).save(
        root / "train" / "cat" / "big.png"
    )
    done = train(pkgdir, "--data", root, "--run-dir", pkgdir / "r_img2")
    assert done.returncode != 0 and "pass --resize" in done.stderr


FULL_DISK = """
import errno, runpy, sys, torch
def full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")
torch.save = full
sys.argv = ["train", *sys.argv[1:]]
runpy.run_module("tiny.train", run_name="__main__")
"""


def test_a_full_disk_while_saving_is_a_clear_error_and_loses_nothing(
    pkgdir: Path, finished: Path
) -> None:
    """The checkpoint writer fails as on a full disk: the run stops with a message naming the
    checkpoints still intact, and they still load."""
    run = pkgdir / "runs" / "full_disk"
    shutil.copytree(finished, run)
    before = {p.name: p.read_bytes() for p in newest(run / "checkpoints")}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            FULL_DISK,
            "--no-progress",
            *COMMON,
            "--epochs",
            "4",
            "--checkpoint-every",
            "5",
            "--run-dir",
            str(run),
            "--resume",
        ],
        cwd=pkgdir,
        env=env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "could not write checkpoint" in done.stderr
    assert "No space left on device" in done.stderr and "Traceback" not in done.stderr
    assert {p.name: p.read_bytes() for p in newest(run / "checkpoints")} == before
    assert not list((run / "checkpoints").glob(".*.tmp"))
    assert compare(newest(run / "checkpoints")[0])["finite"]


def test_a_save_killed_halfway_leaves_only_a_temporary_file_that_is_ignored(
    pkgdir: Path, finished: Path
) -> None:
    """kill -9 during a save can only leave the temporary file (the rename is atomic): the
    resumed run ignores it, removes it and continues from the last complete checkpoint."""
    run = pkgdir / "runs" / "killed_save"
    shutil.copytree(finished, run)
    last = newest(run / "checkpoints")[0]
    partial = run / "checkpoints" / ".ckpt-999999999.pt.tmp"
    partial.write_bytes(last.read_bytes()[:1000])
    done = ok(train(pkgdir, *COMMON, "--epochs", "4", "--run-dir", run, "--resume"))
    assert f"resumed from {last}" in done.stdout
    assert not partial.exists()


SLOW_SAVE = """
import runpy, sys, time, torch
real = torch.save
def slow(state, handle, *args, **kwargs):
    real(state, handle, *args, **kwargs)
    if isinstance(state, dict) and state.get("step") == 10:
        print("writing the checkpoint of step 10", flush=True)
        time.sleep(120)  # still the temporary file: the kill comes before its rename
torch.save = slow
optimizer_step = torch.optim.SGD.step
def slow_step(self, *args, **kwargs):  # steps of 20 ms: the writer's thread gets to run
    time.sleep(0.02)                    # before the next save waits for it, however loaded
    return optimizer_step(self, *args, **kwargs)
torch.optim.SGD.step = slow_step
sys.argv = ["train", *sys.argv[1:]]
runpy.run_module("tiny.train", run_name="__main__")
"""


def test_steps_go_on_while_a_checkpoint_is_written_and_a_kill_then_loses_nothing(
    pkgdir: Path, finished: Path
) -> None:
    """Rank 0 writes checkpoints in a background thread: training goes on during a write;
    kill -9 in the middle of one leaves only its temporary file, and the resumed run ends
    with exactly the weights of an uninterrupted run."""
    run = pkgdir / "runs" / "killed_while_writing"
    cmd = [sys.executable, "-c", SLOW_SAVE, "--no-progress", *COMMON]
    cmd += ["--checkpoint-every", "5", "--run-dir", str(run)]
    proc = subprocess.Popen(
        cmd, cwd=pkgdir, env=env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            # (two threads print: the line can be glued to another one)
            writing = any("writing the checkpoint of step 10" in x for x in lines[:-1])
            if writing and line.startswith("epoch 1 step "):  # a step during the write
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=60)
        proc.stdout.close()
    assert lines[-1].startswith("epoch 1 step 1"), lines
    assert [p.name for p in newest(run / "checkpoints")] == ["ckpt-000000005.pt"]
    assert (run / "checkpoints" / ".ckpt-000000010.pt.tmp").exists()
    done = ok(train(pkgdir, *COMMON, "--checkpoint-every", "5", "--run-dir", run, "--resume"))
    assert f"resumed from {run / 'checkpoints' / 'ckpt-000000005.pt'}" in done.stdout
    assert compare(finished / "model.pt", run / "model.pt")["max_diff"] == 0.0
