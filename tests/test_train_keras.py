"""The generated Keras training program, run for real (TensorFlow backend, CPU) in subprocesses.

This process never imports TensorFlow or torch (see tests/frameworks.py for why); weights are
compared by reading the .weights.h5 files with h5py in a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import socket
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
  epochs: 2
"""

COMPARE = """
import json, sys, h5py, numpy as np
def load(path):
    out = {}
    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            out[name] = np.array(item)
    with h5py.File(path, "r") as f:
        f.visititems(visit)
    assert out, path
    return out
a = load(sys.argv[1])
res = {"finite": all(bool(np.isfinite(v).all()) for v in a.values() if v.dtype.kind == "f")}
if len(sys.argv) > 2:
    b = load(sys.argv[2])
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    res["max_diff"] = max(float(np.abs(a[k] - b[k]).max()) for k in a if a[k].size)
print(json.dumps(res))
"""


def env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": "",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@pytest.fixture(scope="module")
def pkgdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("keras_train")
    (root / "tiny.yaml").write_text(TINY)
    build(root / "tiny.yaml", backend="keras", out=root / "tiny")
    return root


def command(*args: str | Path, package: str = "tiny") -> list[str]:
    return [sys.executable, "-m", f"{package}.train", *map(str, args)]


def train(cwd: Path, *args: str | Path, package: str = "tiny", extra_env=None, timeout=300):
    return subprocess.run(
        command(*args, package=package),
        cwd=cwd,
        env=env(**(extra_env or {})),
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
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_mirrored_on_two_logical_cpus_matches_one_device(pkgdir: Path) -> None:
    common = ["--synthetic-samples", "128", "--epochs", "2"]
    one = pkgdir / "runs" / "one"  # the global batch of two replicas of 16
    ok(train(pkgdir, *common, "--strategy", "default", "--batch-size", "32", "--run-dir", one))
    two = pkgdir / "runs" / "two"
    done = ok(
        train(pkgdir, *common, "--strategy", "mirrored", "--cpu-devices", "2", "--run-dir", two)
    )
    assert "training on 2 replica(s), strategy mirrored" in done.stdout
    diff = compare(one / "model.weights.h5", two / "model.weights.h5")
    print(f"max |weight difference| {diff['max_diff']:.3g}")
    assert diff["max_diff"] <= 1e-5, diff
    records = [json.loads(x) for x in (two / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert (two / "checkpoints" / "last.weights.h5").exists()
    assert not (two / "backup").exists()  # BackupAndRestore cleans up after a full run


def test_backup_and_restore_resumes_after_sigkill_exactly(pkgdir: Path) -> None:
    run = pkgdir / "runs" / "killed"
    args = ["--synthetic-samples", "2048", "--epochs", "4", "--run-dir", run]
    proc = subprocess.Popen(
        command(*args),
        cwd=pkgdir,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        for line in proc.stdout:
            if line.startswith("epoch 2/4:"):
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert (run / "backup").is_dir() and not (run / "model.weights.h5").exists()
    done = ok(train(pkgdir, *args))
    epochs = [line.split(":")[0] for line in done.stdout.splitlines() if line.startswith("epoch ")]
    assert epochs[0] in ("epoch 3/4", "epoch 4/4"), done.stdout
    assert epochs[-1] == "epoch 4/4"
    # the resumed run is the uninterrupted one: weights, optimizer state and data order
    whole = pkgdir / "runs" / "whole"
    ok(train(pkgdir, *args[:-1], whole))
    diff = compare(whole / "model.weights.h5", run / "model.weights.h5")
    assert diff["max_diff"] <= 1e-6, diff


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_multi_worker_two_workers_on_loopback(pkgdir: Path) -> None:
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    run = pkgdir / "runs" / "multi"
    procs = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(
            subprocess.Popen(
                command("--synthetic-samples", "128", "--run-dir", run),
                cwd=pkgdir,
                env=env(TF_CONFIG=json.dumps(config), TF_CPP_MIN_LOG_LEVEL="0"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, f"{out[-3000:]}\n{err[-3000:]}"
    assert "strategy multi-worker" in outputs[0][0]
    assert "Compiled cluster using XLA" in outputs[0][1]  # each replica's step
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]  # written by the chief only
    assert all(np.isfinite(r["loss"]) for r in records)
    assert compare(run / "model.weights.h5")["finite"]
    assert not (run / "backup" / "worker-1").exists()


def test_nan_loss_stops_before_the_checkpoint(pkgdir: Path) -> None:
    run = pkgdir / "runs" / "nan"
    done = train(
        pkgdir,
        "--synthetic-samples",
        "128",
        "--epochs",
        "3",
        "--run-dir",
        run,
        extra_env={"NETSPEC_INJECT_NAN_STEP": "11"},  # epoch 2 (8 steps an epoch)
    )
    assert done.returncode == 3, done.stderr[-3000:]
    assert "error: loss is not finite (NaN or Inf) in epoch 2 at step 3" in done.stderr
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1]
    assert compare(run / "checkpoints" / "last.weights.h5")["finite"]


WITHOUT_TENSORFLOW = """
import runpy, sys
sys.modules["tensorflow"] = None  # as on a machine with JAX alone
sys.argv = ["train", *sys.argv[1:]]
runpy.run_module("tiny.train", run_name="__main__")
"""


RESUMES = {
    # backend, program, TF_CONFIG: which data pipeline and loop a resume goes through
    "tf.data": ("tensorflow", ["-m", "tiny.train"], False),
    "pydataset": ("jax", ["-c", WITHOUT_TENSORFLOW], False),
    "multi-worker loop": ("tensorflow", ["-m", "tiny.train"], True),
}


@pytest.mark.parametrize("path", RESUMES)
def test_a_rerun_resumes_mid_epoch_exactly(pkgdir: Path, path: str) -> None:
    """--checkpoint-every 5 backs up the state every 5 steps (16 steps an epoch). A NaN at
    step 24 stops the run before any backup of it, leaving the one of step 20, 4 steps into
    epoch 2; the rerun continues from there and ends with the weights of an uninterrupted
    run (each data pipeline skips the batches already trained on)."""
    backend, program, multi_worker = RESUMES[path]
    rng = np.random.default_rng(2)
    data = pkgdir / "resume.npz"
    if not data.exists():
        np.savez(
            data,
            x=rng.integers(0, 256, (256, 1, 8, 8), dtype=np.uint8),
            y=rng.integers(0, 10, 256),
        )
    extra = {"KERAS_BACKEND": backend}
    if multi_worker:  # a cluster of one worker: the custom loop
        cluster = {"worker": [f"127.0.0.1:{free_port()}"]}
        extra["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": 0}}
        )

    def run(folder: Path, **more: str) -> subprocess.CompletedProcess:
        args = ["--data", data, "--checkpoint-every", "5", "--run-dir", folder]
        return subprocess.run(
            [sys.executable, *program, *map(str, args)],
            cwd=pkgdir,
            env=env(**extra, **more),
            capture_output=True,
            text=True,
            timeout=300,
        )

    whole, resumed = pkgdir / "runs" / f"whole_{path}", pkgdir / "runs" / f"resumed_{path}"
    ok(run(whole))
    stopped = run(resumed, NETSPEC_INJECT_NAN_STEP="24")
    assert stopped.returncode == 3, stopped.stderr[-3000:]
    if not multi_worker:
        position = json.loads((resumed / "backup" / "position.json").read_text())
        assert (position["epoch"], position["step"]) == (1, 4), position
        names = sorted(path.name for path in (resumed / "backup").iterdir())
        assert names == ["position.json", "state-16.weights.h5", "state-20.weights.h5"]
    done = ok(run(resumed))
    assert "resumed from" in done.stdout, done.stdout
    records = [json.loads(x) for x in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert not (resumed / "backup").exists()  # removed once the run is complete
    diff = compare(whole / "model.weights.h5", resumed / "model.weights.h5")
    assert diff["max_diff"] <= 1e-6, diff


SLOW_SAVES = """
import runpy, sys, time, keras, tensorflow as tf
offset = [0.0]  # every save takes 1000 s of perf_counter's time, and none of the wall's
clock = time.perf_counter
time.perf_counter = lambda: clock() + offset[0]
def slowed(save):
    def slow(*args, **kwargs):
        offset[0] += 1000.0
        print("a slow save", flush=True)
        return save(*args, **kwargs)
    return slow
keras.Model.save_weights = slowed(keras.Model.save_weights)
tf.train.CheckpointManager.save = slowed(tf.train.CheckpointManager.save)
sys.argv = ["train", *sys.argv[1:]]
runpy.run_module("tiny.train", run_name="__main__")
"""


@pytest.mark.parametrize("loop", ["fit", "multi-worker loop"])
def test_images_per_second_and_eval_seconds_leave_out_the_backups_save(
    pkgdir: Path, loop: str
) -> None:
    """The backup written at an epoch's end is counted neither in the training seconds (and
    images/s) nor in eval_seconds: the logged time is what the network took."""
    rng = np.random.default_rng(3)
    data = pkgdir / "timed.npz"
    np.savez(
        data,
        x=rng.integers(0, 256, (64, 1, 8, 8), dtype=np.uint8),
        y=rng.integers(0, 10, 64),
        x_val=rng.integers(0, 256, (16, 1, 8, 8), dtype=np.uint8),
        y_val=rng.integers(0, 10, 16),
    )
    extra = {"KERAS_BACKEND": "tensorflow"}
    if loop == "multi-worker loop":  # a cluster of one worker: the custom loop
        cluster = {"worker": [f"127.0.0.1:{free_port()}"]}
        task = {"type": "worker", "index": 0}
        extra["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": task})
    run = pkgdir / "runs" / f"timed_{loop.replace(' ', '_')}"
    done = ok(
        subprocess.run(
            [sys.executable, "-c", SLOW_SAVES, "--data", str(data), "--run-dir", str(run)],
            cwd=pkgdir,
            env=env(**extra),
            capture_output=True,
            text=True,
            timeout=300,
        )
    )
    assert "a slow save" in done.stdout
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for record in records:
        assert record["seconds"] < 1000 and record["eval_seconds"] < 1000, record
        assert record["images_per_s"] > 64 / 1000, record


def test_npz_shape_mismatch_is_an_error(pkgdir: Path) -> None:
    rng = np.random.default_rng(0)
    data = pkgdir / "small.npz"
    np.savez(data, x=rng.random((32, 1, 6, 6), dtype=np.float32), y=rng.integers(0, 10, 32))
    done = train(pkgdir, "--data", data, "--run-dir", pkgdir / "runs" / "npz")
    assert done.returncode == 2
    assert "holds samples of shape (1, 6, 6), the network takes (1, 8, 8)" in done.stderr


def test_lenet5_learns_digits(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from tests.test_train_torch import digits_npz

    build(ROOT / "specs" / "lenet5.yaml", backend="keras", out=tmp_path / "lenet")
    digits_npz(tmp_path / "digits.npz")
    started = time.perf_counter()
    done = ok(
        train(
            tmp_path,
            "--data",
            tmp_path / "digits.npz",
            "--epochs",
            "12",
            "--run-dir",
            tmp_path / "run",
            package="lenet",
        )
    )
    seconds = time.perf_counter() - started
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    accuracy = records[-1]["val_accuracy"]
    print(f"LeNet-5 (Keras) on digits: held-out accuracy {accuracy:.4f} in {seconds:.1f} s")
    assert accuracy >= 0.95, done.stdout


@pytest.mark.parametrize("tensorflow", ["installed", "absent"])
def test_jax_backend_trains_from_batches_not_a_float_copy_of_the_set(
    pkgdir: Path, tensorflow: str
) -> None:
    """On JAX, an .npz goes through tf.data where TensorFlow is installed and otherwise
    through a PyDataset that converts one batch at a time; either way the run trains,
    evaluates the held-out arrays and saves finite weights."""
    rng = np.random.default_rng(0)
    data = pkgdir / "jax.npz"
    np.savez(
        data,
        x=rng.integers(0, 256, (64, 1, 8, 8), dtype=np.uint8),
        y=rng.integers(0, 10, 64),
        x_val=rng.integers(0, 256, (20, 1, 8, 8), dtype=np.uint8),
        y_val=rng.integers(0, 10, 20),
    )
    run = pkgdir / "runs" / f"jax_{tensorflow}"
    args = ["--data", data, "--run-dir", run]
    if tensorflow == "installed":
        done = train(pkgdir, *args, extra_env={"KERAS_BACKEND": "jax"})
    else:
        done = subprocess.run(
            [sys.executable, "-c", WITHOUT_TENSORFLOW, *map(str, args)],
            cwd=pkgdir,
            env=env(KERAS_BACKEND="jax"),
            capture_output=True,
            text=True,
            timeout=300,
        )
    ok(done)
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert all(np.isfinite(r["val_loss"]) for r in records)
    assert compare(run / "model.weights.h5")["finite"]


def test_jax_data_parallel_batch_is_per_device_and_matches_one_device(pkgdir: Path) -> None:
    """On JAX, --batch-size is per device as on TensorFlow: two (host) devices of 16 train
    as one device with 32."""
    common = ["--synthetic-samples", "128", "--epochs", "2"]
    one = pkgdir / "runs" / "jax_one"
    ok(
        train(
            pkgdir,
            *common,
            "--batch-size",
            "32",
            "--strategy",
            "default",
            "--run-dir",
            one,
            extra_env={"KERAS_BACKEND": "jax"},
        )
    )
    two = pkgdir / "runs" / "jax_two"
    flags = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    done = ok(train(pkgdir, *common, "--run-dir", two, extra_env=flags))
    assert "training on 2 replica(s), strategy data-parallel" in done.stdout
    assert "batch 16 per replica (global 32)" in done.stdout
    diff = compare(one / "model.weights.h5", two / "model.weights.h5")
    assert diff["max_diff"] <= 1e-5, diff


def launcher_env(launcher: str, index: int, address: str, job: int) -> dict[str, str]:
    """The variables a launcher gives process `index` of 2 on this machine: Keras's own
    (the first process listening at `address`), or srun's (JAX's Slurm detection makes the
    coordinator's address of the step's node list and a port of the job id)."""
    if launcher == "keras":
        return {
            "KERAS_DISTRIBUTION_JOB_ADDRESSES": address,
            "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
            "KERAS_DISTRIBUTION_PROCESS_ID": str(index),
        }
    return {
        "SLURM_JOB_ID": str(job),
        "SLURM_NTASKS": "2",
        "SLURM_STEP_NUM_TASKS": "2",
        "SLURM_STEP_NODELIST": "localhost",
        "SLURM_STEP_NUM_NODES": "1",
        "SLURM_PROCID": str(index),
        "SLURM_LOCALID": str(index),
    }


def free_slurm_job_id() -> int:
    """A job id whose port, as JAX makes it (61440 + id % 4096), is free here."""
    for job in range(1000, 1000 + 4096):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", 61440 + job % 4096))
            except OSError:
                continue
            return job
    raise RuntimeError("no free port for JAX's coordinator")


@pytest.mark.parametrize(
    ("tensorflow", "launcher"),
    [("installed", "keras"), ("absent", "keras"), ("installed", "slurm")],
)
def test_two_jax_processes_train_as_one_process_with_their_devices(
    pkgdir: Path, tensorflow: str, launcher: str
) -> None:
    """Two processes started with Keras's distribution variables, or with those srun sets,
    join one JAX run through keras.distribution.initialize: each feeds its share of every
    global batch (Keras splits tf.data; without TensorFlow the program does), only the first
    writes the run's files, and the weights are those of one process driving two devices."""
    rng = np.random.default_rng(1)
    data = pkgdir / "processes.npz"
    np.savez(
        data,
        x=rng.integers(0, 256, (64, 1, 8, 8), dtype=np.uint8),
        y=rng.integers(0, 10, 64),
        x_val=rng.integers(0, 256, (40, 1, 8, 8), dtype=np.uint8),
        y_val=rng.integers(0, 10, 40),
    )
    program = ["-m", "tiny.train"] if tensorflow == "installed" else ["-c", WITHOUT_TENSORFLOW]
    common = ["--data", str(data)]
    one = pkgdir / "runs" / f"jax_one_process_{tensorflow}_{launcher}"
    flags = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    ok(
        subprocess.run(
            [sys.executable, *program, *common, "--run-dir", str(one)],
            cwd=pkgdir,
            env=env(**flags),
            capture_output=True,
            text=True,
            timeout=300,
        )
    )
    two = pkgdir / "runs" / f"jax_two_processes_{tensorflow}_{launcher}"
    address, job = f"127.0.0.1:{free_port()}", free_slurm_job_id()
    procs = [
        subprocess.Popen(
            [sys.executable, *program, *common, "--run-dir", str(two)],
            cwd=pkgdir,
            env=env(KERAS_BACKEND="jax", **launcher_env(launcher, index, address, job)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(2)
    ]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, f"{out[-3000:]}\n{err[-3000:]}"
    assert "training on 2 replica(s), strategy data-parallel" in outputs[0][0]
    assert "batch 16 per replica (global 32)" in outputs[0][0]
    records = [json.loads(x) for x in (two / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2] and "val_loss" in records[-1]
    assert sorted(p.name for p in two.iterdir()) == [
        "checkpoints",
        "metrics.jsonl",
        "model.weights.h5",
    ]
    diff = compare(one / "model.weights.h5", two / "model.weights.h5")
    assert diff["max_diff"] <= 1e-5, diff


def test_jax_processes_resume_from_the_backup_they_all_hold(pkgdir: Path) -> None:
    """Two JAX processes back up every 3 steps (8 steps an epoch); --max-steps 14 stops them
    with a backup of step 14, after one of step 12. Process 1's is rolled back to step 12,
    as a kill between the two processes' writes would leave it: rerun, both resume from step
    12 and end with the weights of an uninterrupted run."""
    rng = np.random.default_rng(3)
    data = pkgdir / "common.npz"
    np.savez(
        data, x=rng.integers(0, 256, (256, 1, 8, 8), dtype=np.uint8), y=rng.integers(0, 10, 256)
    )

    def run(folder: Path, *more: str) -> list[tuple[int, str, str]]:
        address = f"127.0.0.1:{free_port()}"
        args = ["--data", data, "--checkpoint-every", "3", "--run-dir", folder, *more]
        procs = [
            subprocess.Popen(
                command(*args),
                cwd=pkgdir,
                env=env(KERAS_BACKEND="jax", **launcher_env("keras", index, address, 0)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for index in range(2)
        ]
        outputs = [proc.communicate(timeout=300) for proc in procs]
        return [(proc.returncode, *output) for proc, output in zip(procs, outputs)]

    whole, resumed = pkgdir / "runs" / "common_whole", pkgdir / "runs" / "common_resumed"
    for code, out, err in run(whole):
        assert code == 0, f"{out[-3000:]}\n{err[-3000:]}"
    for code, out, err in run(resumed, "--max-steps", "14"):
        assert code == 0, f"{out[-3000:]}\n{err[-3000:]}"
    other = resumed / "process-1" / "backup"
    position = json.loads((other / "position.json").read_text())
    assert (position["epoch"], position["step"]) == (1, 6)
    (other / position["weights"]).unlink()
    (other / "position.json").write_text(json.dumps(position["previous"]))
    for code, out, err in run(resumed):
        assert code == 0, f"{out[-3000:]}\n{err[-3000:]}"
        assert "after 1 epoch(s) and 4 step(s)" in out, out
    diff = compare(whole / "model.weights.h5", resumed / "model.weights.h5")
    assert diff["max_diff"] <= 1e-6, diff


def test_tf_workers_resume_from_the_backup_they_all_hold(pkgdir: Path) -> None:
    """The same for two TensorFlow workers (the multi-worker loop, tf.train.Checkpoint)."""
    data = pkgdir / "common.npz"
    if not data.exists():
        rng = np.random.default_rng(3)
        np.savez(
            data, x=rng.integers(0, 256, (256, 1, 8, 8), dtype=np.uint8), y=rng.integers(0, 10, 256)
        )

    def run(folder: Path, *more: str) -> list[tuple[int, str, str]]:
        workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
        args = ["--data", data, "--checkpoint-every", "3", "--run-dir", folder, *more]
        procs = []
        for index in range(2):
            task = {"type": "worker", "index": index}
            config = json.dumps({"cluster": {"worker": workers}, "task": task})
            procs.append(
                subprocess.Popen(
                    command(*args),
                    cwd=pkgdir,
                    env=env(TF_CONFIG=config),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        outputs = [proc.communicate(timeout=300) for proc in procs]
        return [(proc.returncode, *output) for proc, output in zip(procs, outputs)]

    whole, resumed = pkgdir / "runs" / "tf_common_whole", pkgdir / "runs" / "tf_common_resumed"
    for code, out, err in run(whole):
        assert code == 0, f"{out[-3000:]}\n{err[-3000:]}"
    for code, out, err in run(resumed, "--max-steps", "14"):
        assert code == 0, f"{out[-3000:]}\n{err[-3000:]}"
    other = resumed / "backup" / "worker-1"
    index = (other / "checkpoint").read_text()
    assert 'model_checkpoint_path: "ckpt-14"' in index, index
    for path in other.glob("ckpt-14.*"):
        path.unlink()
    (other / "checkpoint").write_text(index.replace('"ckpt-14"', '"ckpt-12"', 1))
    for code, out, err in run(resumed):
        assert code == 0, f"{out[-3000:]}\n{err[-3000:]}"
        assert "after step 12" in out, out
    diff = compare(whole / "model.weights.h5", resumed / "model.weights.h5")
    assert diff["max_diff"] <= 1e-6, diff


def test_the_multi_worker_loop_evaluates_as_fit_does(pkgdir: Path) -> None:
    """Held-out data in the multi-worker loop (a cluster of one worker): each epoch's
    val_loss (the mean over the samples) and val_accuracy are fit's, to rounding."""
    rng = np.random.default_rng(4)
    data = pkgdir / "evaluated.npz"
    np.savez(
        data,
        x=rng.integers(0, 256, (96, 1, 8, 8), dtype=np.uint8),
        y=rng.integers(0, 10, 96),
        x_val=rng.integers(0, 256, (40, 1, 8, 8), dtype=np.uint8),  # a partial last batch
        y_val=rng.integers(0, 10, 40),
    )
    records = {}
    for way in ("fit", "loop"):
        run = pkgdir / "runs" / f"evaluated_{way}"
        extra = {}
        if way == "loop":
            cluster = {"worker": [f"127.0.0.1:{free_port()}"]}
            extra["TF_CONFIG"] = json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": 0}}
            )
        ok(train(pkgdir, "--data", data, "--run-dir", run, extra_env=extra))
        lines = (run / "metrics.jsonl").read_text().splitlines()
        records[way] = [json.loads(line) for line in lines]
    for fitted, looped in zip(records["fit"], records["loop"], strict=True):
        assert looped["val_loss"] == pytest.approx(fitted["val_loss"], rel=1e-4), (fitted, looped)
        assert looped["val_accuracy"] == pytest.approx(fitted["val_accuracy"], abs=1e-6)
