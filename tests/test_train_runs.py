"""Runs as users start, stop and restart them, in both generated programs (issue 12's list of
lost or mixed runs, and launchers other than torchrun):

- Ctrl-C stops a run without a traceback and says where to resume from (exit status 130);
- a run on synthetic data says so in its first line;
- the two backends' programs of one spec never share a run folder;
- a finished Keras run is not silently retrained from scratch by a second command;
- Keras's --max-steps ends the run there, and a run it ended continues with more, in both;
- --checkpoint-every in epochs checkpoints those epochs only, in both programs;
- images saved channels last are refused with the fix, never averaged as if rows were channels;
- two torch processes started with Slurm's variables (no torchrun) train as one process does;
- a batch script's own process, not started by srun, trains alone instead of waiting.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from netspec import build
from tests import test_train_keras, test_train_torch

PROGRAMS = {"torch": test_train_torch, "keras": test_train_keras}


@pytest.fixture(scope="module")
def pkgdirs(tmp_path_factory) -> dict[str, Path]:
    """Per backend, a folder holding `tiny`: the test_train_<backend> module's network."""
    folders = {}
    for backend, program in PROGRAMS.items():
        root = tmp_path_factory.mktemp(f"runs_{backend}")
        (root / "tiny.yaml").write_text(program.TINY, encoding="utf-8")
        build(root / "tiny.yaml", backend=backend, out=root / "tiny")
        scaled = program.TINY.replace("  batch_size: 16\n", "  batch_size: 16\n  base_batch: 64\n")
        (root / "scaled.yaml").write_text(scaled, encoding="utf-8")
        build(root / "scaled.yaml", backend=backend, out=root / "scaled")
        folders[backend] = root
    return folders


def command(backend: str, *args: str | Path) -> list[str]:
    extra = ["--no-progress"] if backend == "torch" else []
    return [sys.executable, "-m", "tiny.train", *extra, *map(str, args)]


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_ctrl_c_stops_cleanly_and_says_where_to_resume(
    backend: str, pkgdirs: dict[str, Path]
) -> None:
    run = pkgdirs[backend] / "interrupted"
    program = PROGRAMS[backend]
    process = subprocess.Popen(
        command(backend, "--epochs", "1000", "--synthetic-samples", "64", "--run-dir", run),
        cwd=pkgdirs[backend],
        env=program.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    try:
        for line in process.stdout:  # the first epoch's line: a checkpoint exists
            lines.append(line)
            if line.startswith("epoch 1/"):
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err, err
    assert "SYNTHETIC" in "".join(lines)
    if backend == "torch":
        assert "interrupted: the last checkpoint is" in err and "--resume" in err, err
    else:
        saved = f"interrupted: the training state after 1 epoch(s) is saved in {run / 'backup'}"
        assert saved in err, err


def test_the_two_programs_of_one_spec_keep_their_runs_apart(pkgdirs: dict[str, Path]) -> None:
    run_dirs = {
        backend: next(
            line
            for line in (folder / "tiny" / "train.py").read_text().splitlines()
            if line.startswith("RUN_DIR = ")
        )
        for backend, folder in pkgdirs.items()
    }
    assert run_dirs == {
        "torch": 'RUN_DIR = "runs/tiny_torch"',
        "keras": 'RUN_DIR = "runs/tiny_keras"',
    }


def test_a_finished_keras_run_is_not_retrained_from_scratch(pkgdirs: dict[str, Path]) -> None:
    folder, run = pkgdirs["keras"], pkgdirs["keras"] / "finished"
    common = ["--synthetic-samples", "32", "--run-dir", run]
    test_train_keras.ok(test_train_keras.train(folder, "--epochs", "1", *common))
    before = (run / "metrics.jsonl").read_text()
    again = test_train_keras.train(folder, "--epochs", "2", *common)
    assert again.returncode == 2, again.stderr
    assert "holds an earlier run's weights; choose another --run-dir" in again.stderr
    assert (run / "metrics.jsonl").read_text() == before


def test_keras_max_steps_ends_the_run(pkgdirs: dict[str, Path]) -> None:
    """Step 5 would make the loss NaN (exit status 3): --max-steps 3 never reaches it."""
    folder = pkgdirs["keras"]
    run = folder / "max_steps"
    args = ["--synthetic-samples", "128", "--epochs", "3", "--run-dir", run]
    nan = {"NETSPEC_INJECT_NAN_STEP": "5"}
    test_train_keras.ok(test_train_keras.train(folder, *args, "--max-steps", "3", extra_env=nan))
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1]
    unbounded = test_train_keras.train(folder, *args[:-1], folder / "no_max", extra_env=nan)
    assert unbounded.returncode == 3, unbounded.stderr


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_a_run_ended_by_max_steps_continues_with_more(
    backend: str, pkgdirs: dict[str, Path]
) -> None:
    """--max-steps 5, then the same command with --max-steps 12 (torch: and --resume), ends
    with the weights of a run straight to step 12; once more, it trains no further step."""
    folder, program = pkgdirs[backend], PROGRAMS[backend]
    args = ["--synthetic-samples", "128", "--epochs", "3"]  # 8 steps an epoch
    resume = ["--resume"] if backend == "torch" else []
    weights = "model.pt" if backend == "torch" else "model.weights.h5"
    straight, stepwise = folder / "straight_12", folder / "stepwise_12"
    program.ok(program.train(folder, *args, "--max-steps", "12", "--run-dir", straight))
    program.ok(program.train(folder, *args, "--max-steps", "5", "--run-dir", stepwise))
    for _ in range(2):
        done = program.train(folder, *args, "--max-steps", "12", *resume, "--run-dir", stepwise)
        assert "resumed from" in program.ok(done).stdout
        diff = program.compare(straight / weights, stepwise / weights)
        assert diff["max_diff"] <= 1e-6, diff


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_channels_last_images_are_refused_with_the_fix(
    backend: str, pkgdirs: dict[str, Path]
) -> None:
    folder = pkgdirs[backend]
    rng = np.random.default_rng(0)
    data = folder / "channels_last.npz"
    np.savez(data, x=rng.integers(0, 256, (32, 6, 6, 1), dtype=np.uint8), y=rng.integers(0, 10, 32))
    program = PROGRAMS[backend]
    done = program.train(folder, "--data", data, "--resize", "--run-dir", folder / "cl")
    assert done.returncode == 2, done.stderr
    assert "holds images of shape (6, 6, 1), channels last" in done.stderr
    assert "x.transpose(0, 3, 1, 2)" in done.stderr


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_checkpoint_every_n_epochs_keeps_only_those_epochs(
    backend: str, pkgdirs: dict[str, Path]
) -> None:
    """--checkpoint-every 2epochs (4 steps an epoch): a NaN at step 14, in epoch 4, stops the
    run; what is left is the checkpoint of epoch 2, none of epochs 1 or 3."""
    folder, program = pkgdirs[backend], PROGRAMS[backend]
    run = folder / "every_2_epochs"
    args = ["--synthetic-samples", "64", "--epochs", "4", "--checkpoint-every", "2epochs"]
    nan = {"NETSPEC_INJECT_NAN_STEP": "14"}
    done = program.train(folder, *args, "--run-dir", run, extra_env=nan)
    assert done.returncode == 3, done.stderr[-3000:]
    if backend == "torch":
        assert [p.name for p in program.newest(run / "checkpoints")] == ["ckpt-000000008.pt"]
    else:
        position = json.loads((run / "backup" / "position.json").read_text())
        assert (position["epoch"], position["step"]) == (2, 0), position
    bad = program.train(folder, "--checkpoint-every", "3days", "--run-dir", folder / "bad")
    assert bad.returncode == 2
    assert "'3days': expected N, Nsteps or Nepochs with N >= 1" in bad.stderr, bad.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


BATCH_SCRIPT = {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "2", "SLURM_PROCID": "0", "SLURM_LOCALID": "0"}
"""What a process started by an sbatch script itself (no srun) finds: the job's task count."""
SRUN = {
    **BATCH_SCRIPT,
    "SLURM_STEP_NUM_TASKS": "2",
    "SLURM_STEP_TASKS_PER_NODE": "2",
    "SLURM_STEP_NODELIST": "localhost",
}
"""What srun adds for each of the 2 tasks it starts on one node (each also gets its own
SLURM_PROCID and SLURM_LOCALID)."""


def test_slurm_variables_start_two_ranks_that_train_as_one_process(
    pkgdirs: dict[str, Path],
) -> None:
    folder = pkgdirs["torch"]
    args = ["--epochs", "2", "--synthetic-samples", "64"]
    single = folder / "single"  # the global batch of two ranks of 16
    test_train_torch.ok(
        test_train_torch.train(folder, *args, "--batch-size", "32", "--run-dir", single)
    )
    slurm = folder / "slurm"
    port = str(free_port())
    ranks = [
        subprocess.Popen(
            command("torch", *args, "--run-dir", slurm),
            cwd=folder,
            env={
                **test_train_torch.env(),
                **SRUN,
                "SLURM_PROCID": str(rank),
                "SLURM_LOCALID": str(rank),
                "MASTER_PORT": port,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [rank.communicate(timeout=240) for rank in ranks]
    for rank, (_, err) in zip(ranks, outputs):
        assert rank.returncode == 0, err[-3000:]
    assert "training on 2 x cpu (slurm)" in outputs[0][0]
    diff = test_train_torch.compare(single / "model.pt", slurm / "model.pt")
    assert diff["max_diff"] <= 1e-5, diff


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_a_batch_script_without_srun_trains_alone_and_says_so(
    backend: str, pkgdirs: dict[str, Path]
) -> None:
    """The job has 2 tasks, but only the batch script's own process runs the program: it must
    not wait for a second process that never comes (Keras on JAX: no
    keras.distribution.initialize)."""
    folder, program = pkgdirs[backend], PROGRAMS[backend]
    extra = {**BATCH_SCRIPT, **({"KERAS_BACKEND": "jax"} if backend == "keras" else {})}
    run = folder / "batch_script"
    done = program.train(
        folder, "--epochs", "1", "--synthetic-samples", "32", "--run-dir", run, extra_env=extra
    )
    program.ok(done)
    assert "the Slurm job has 2 tasks but srun did not start this process" in done.stderr
    assert "training on 1 " in done.stdout, done.stdout


def test_the_rendezvous_host_is_the_first_of_slurms_node_list(pkgdirs: dict[str, Path]) -> None:
    script = (
        "from tiny.train import first_host\n"
        "for nodes in ['gpu[07-08,11],cpu1', 'node3', 'a1,b2', 'n[1-4]']:\n"
        "    print(first_host(nodes))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=pkgdirs["torch"],
        env=test_train_torch.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["gpu07", "node3", "a1", "n1"]


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_batch_is_per_device_and_base_batch_scales_the_learning_rate(
    backend: str, pkgdirs: dict[str, Path]
) -> None:
    """TINY: lr 0.05 for base_batch 64; batch 16 per device on one device: lr 0.0125."""
    program = PROGRAMS[backend]
    folder = pkgdirs[backend]
    done = program.ok(
        program.train(
            folder,
            "--epochs",
            "1",
            "--synthetic-samples",
            "32",
            "--run-dir",
            folder / "scaled_run",
            package="scaled",
        )
    )
    per = "rank" if backend == "torch" else "replica"
    assert f"batch 16 per {per} (global 16), lr 0.0125" in done.stdout, done.stdout
