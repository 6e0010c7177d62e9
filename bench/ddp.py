"""DistributedDataParallel set up five ways, for the generated ResNet-18, on 2 CPU processes.

The generated torch train.py wraps the model in DDP and compiles the wrapper, so that
torch.compile's DDPOptimizer splits the graph at DDP's gradient buckets and the all-reduce
of each bucket overlaps the backward of the next. torch's guide ("Where to apply
torch.compile?") suggests compiling the inner module instead; DDP's `static_graph=True` may
save its per-step bookkeeping. Each is timed here, in one run, with the same data:

  * eager            DDP(model)
  * eager, static    DDP(model, static_graph=True)
  * compile(DDP)     torch.compile(DDP(model))          - the generated program's on CUDA
  * compile(DDP), static
  * DDP(compile)     DDP(model) with model.compile() first

Two processes on the gloo backend (one thread each; `--threads` to change), batch 16 per
process at 64x64 by default, SGD with momentum. Every variant holds its own copy of the model
and its own DDP; the variants take turns (each timed window runs every variant once, in an
order rotated per window), and the medians are reported with their ratio to compile(DDP).
On a GPU machine with several GPUs the same script measures NCCL with `--device cuda`.

    .venv/bin/python bench/ddp.py
    .venv/bin/python bench/ddp.py --size 96 --windows 7
"""

from __future__ import annotations

import argparse
import copy
import importlib
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("eager", "eager, static", "compile(DDP)", "compile(DDP), static", "DDP(compile)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--size", type=int, default=64, help="image side")
    parser.add_argument("--batch", type=int, default=16, help="per process")
    parser.add_argument("--steps", type=int, default=5, help="steps per timed window")
    parser.add_argument("--windows", type=int, default=5)
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def variant(base, name: str, device):
    """(model, optimizer, callable) of one way to set DDP up."""
    import torch
    from torch.nn.parallel import DistributedDataParallel as DDP

    model = copy.deepcopy(base).to(device)
    ids = [device.index] if device.type == "cuda" else None
    if name == "DDP(compile)":
        model.compile()
    static = name.endswith("static")
    net = DDP(model, device_ids=ids, gradient_as_bucket_view=True, static_graph=static)
    if name.startswith("compile(DDP)"):
        net = torch.compile(net)
    return net, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def worker(rank: int, args: argparse.Namespace, port: int, package: Path, out: Path) -> None:
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    backend = "nccl" if args.device == "cuda" else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=args.processes)
    device = torch.device(args.device, rank) if args.device == "cuda" else torch.device("cpu")
    sys.path.insert(0, str(package.parent))
    torch.manual_seed(0)
    base = importlib.import_module(f"{package.name}.model").build_model()
    generator = torch.Generator().manual_seed(rank)
    x = torch.randn(args.batch, 3, args.size, args.size, generator=generator).to(device)
    y = torch.randint(0, 1000, (args.batch,), generator=generator).to(device)
    steps = {}
    for name in VARIANTS:
        net, opt = variant(base, name, device)

        def step(net=net, opt=opt) -> None:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            opt.step()

        for _ in range(3):  # compile, build DDP's buckets, warm up
            step()
        steps[name] = step
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for window in range(args.windows):
        shift = window % len(VARIANTS)
        for name in VARIANTS[shift:] + VARIANTS[:shift]:
            dist.barrier()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            started = time.perf_counter()
            for _ in range(args.steps):
                steps[name]()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds[name].append((time.perf_counter() - started) / args.steps)
    if rank == 0:
        lines = [f"{name}\t{statistics.median(values)}" for name, values in seconds.items()]
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dist.destroy_process_group()


def main() -> int:
    args = parse_args()
    import torch
    import torch.multiprocessing as mp

    sys.path.insert(0, str(ROOT))
    from netspec import build

    folder = Path(tempfile.mkdtemp(prefix="netspec_bench_ddp_"))
    text = (ROOT / "specs" / "resnet18.yaml").read_text(encoding="utf-8")
    text = text.replace("shape: [3, 224, 224]", f"shape: [3, {args.size}, {args.size}]")
    (folder / "resnet18.yaml").write_text(text, encoding="utf-8")
    build(folder / "resnet18.yaml", backend="torch", out=folder / "resnet18_torch")
    out = folder / "medians.tsv"
    mp.spawn(
        worker,
        args=(args, free_port(), folder / "resnet18_torch", out),
        nprocs=args.processes,
    )
    medians = dict(
        (name, float(value))
        for name, value in (line.split("\t") for line in out.read_text().splitlines())
    )
    print(
        f"torch {torch.__version__}, {args.processes} processes on {args.device} "
        f"({args.threads} thread each), ResNet-18 batch {args.batch} per process at "
        f"{args.size}x{args.size}, {args.windows} windows of {args.steps} steps (median)"
    )
    reference = medians["compile(DDP)"]
    for name, value in medians.items():
        print(f"  {name:22s} {value * 1e3:8.1f} ms per step   {reference / value:6.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
