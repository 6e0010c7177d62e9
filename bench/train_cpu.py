"""CPU cost of the generated torch training step vs a hand-written one, in the same process.

For each network (LeNet-5, the MLP, a small ResNet) the generated package is built, and one
training step as the generated `train.py` does it (its `Trainer.step`, plus the per-step
bookkeeping of its loop) is timed against a hand-written model and the plain loop one would
write (`zero_grad`, forward, `F.cross_entropy`, `backward`, `step`), with the same optimizer
settings and batch; then the generated step alone, around the hand-written model ("step
only"). Rounds alternate between the two (which goes first alternates too); the ratio is the
median of the per-round ratios (goal <= 1.02), robust to a machine whose load changes.

    .venv/bin/python bench/train_cpu.py [--rounds 40] [--steps 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from netspec import build  # noqa: E402

SMALL_RESNET = """\
netspec: 1
name: SmallResNet
input: {shape: [3, 32, 32]}
blocks:
  basic:
    params: {filters: null}
    layers:
      - {type: conv2d, name: conv1, filters: $filters, kernel: 3, padding: 1, bias: false}
      - {type: batchnorm, name: bn1}
      - {type: relu, name: relu1}
      - {type: conv2d, name: conv2, filters: $filters, kernel: 3, padding: 1, bias: false}
      - {type: batchnorm, name: bn2}
      - {type: add, name: add, inputs: [bn2, input]}
      - {type: relu, name: relu2}
layers:
  - {type: conv2d, name: conv1, filters: 16, kernel: 3, padding: 1, bias: false}
  - {type: batchnorm, name: bn1}
  - {type: relu, name: relu}
  - {type: block, name: layer1, block: basic, args: {filters: 16}, repeat: 2}
  - {type: global_avgpool2d, name: avgpool}
  - {type: dense, name: fc, units: 10}
train:
  optimizer: {type: sgd, lr: 0.1, momentum: 0.9, weight_decay: 0.0001}
  batch_size: 64
"""


class LeNet5(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.c3 = nn.Conv2d(6, 16, 5)
        self.f5 = nn.Linear(400, 120)
        self.f6 = nn.Linear(120, 84)
        self.logits = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c3(x)), 2)
        x = torch.flatten(x, 1)
        return self.logits(F.relu(self.f6(F.relu(self.f5(x)))))


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.bn1 = nn.BatchNorm1d(256, eps=0.001, momentum=0.1)
        self.fc2 = nn.Linear(256, 128)
        self.logits = nn.Linear(128, 10)

    def forward(self, x):
        x = x + torch.randn_like(x) * 0.1
        x = F.dropout(F.leaky_relu(self.bn1(self.fc1(x)), 0.1), 0.2, self.training)
        x = F.dropout(F.elu(self.fc2(x)), 0.2, self.training)
        return self.logits(x)


class Basic(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + x)


class SmallResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = nn.Sequential(Basic(16), Basic(16))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.layer1(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


CASES = [
    # (name, spec, hand-written class, optimizer factory)
    (
        "lenet5",
        ROOT / "specs" / "lenet5.yaml",
        LeNet5,
        lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
    ),
    (
        "mlp",
        ROOT / "specs" / "mlp.yaml",
        MLP,
        lambda p: torch.optim.AdamW(p, lr=0.001, weight_decay=0.01),
    ),
    (
        "small_resnet",
        SMALL_RESNET,
        SmallResNet,
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.0001),
    ),
]


def generated_step(package: str, x: torch.Tensor, y: torch.Tensor, model=None):
    """The generated program's step with its CPU defaults, and its loop's bookkeeping."""
    train = importlib.import_module(f"{package}.train")
    model = model or train.build_model()
    optimizer = train.make_optimizer(model.parameters(), train.LEARNING_RATE, None)
    trainer = train.Trainer(model, optimizer, torch.device("cpu"), "off", False)
    window = torch.zeros(4, dtype=torch.float64)

    def step() -> None:
        loss, correct = trainer.step(x, y)
        window[0] += loss
        window[1] += correct
        window[2] += len(x)
        window[3] += 1

    return step


def handwritten_step(cls, make_optimizer, x: torch.Tensor, y: torch.Tensor):
    model = cls()
    optimizer = make_optimizer(model.parameters())

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def timed(step, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    workdir = Path(tempfile.mkdtemp(prefix="netspec_bench_"))
    sys.path.insert(0, str(workdir))
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}")
    worst = worst_step = 0.0
    for name, spec, cls, make_optimizer in CASES:
        build(spec, backend="torch", out=workdir / f"bench_{name}")
        train = importlib.import_module(f"bench_{name}.train")
        torch.manual_seed(0)
        x = torch.randn(args.batch, *train.INPUT_SHAPE)
        y = torch.randint(0, train.NUM_CLASSES, (args.batch,))
        torch.manual_seed(0)
        gen = generated_step(f"bench_{name}", x, y)
        hand = handwritten_step(cls, make_optimizer, x, y)
        worst = max(worst, report(name, gen, hand, args))
        # the scaffolding alone: the same hand-written model under the generated step
        gen = generated_step(f"bench_{name}", x, y, model=cls())
        worst_step = max(worst_step, report(f"  {name} step only", gen, hand, args))
    print(f"worst ratio {worst:.3f}, step only {worst_step:.3f} (goal <= 1.02)")
    return 0


def report(name: str, gen, hand, args: argparse.Namespace) -> float:
    """Print and return the median of paired per-round ratios (which goes first alternates)."""
    for step in (gen, hand):  # warm up
        timed(step, 5)
    gen_times, hand_times, ratios = [], [], []
    for index in range(args.rounds):
        if index % 2:
            h = timed(hand, args.steps)
            g = timed(gen, args.steps)
        else:
            g = timed(gen, args.steps)
            h = timed(hand, args.steps)
        gen_times.append(g)
        hand_times.append(h)
        ratios.append(g / h)
    ratio = statistics.median(ratios)
    g, h = statistics.median(gen_times), statistics.median(hand_times)
    print(
        f"{name:24s} generated {g * 1e3:8.3f} ms/step  hand-written {h * 1e3:8.3f} ms/step"
        f"  ratio {ratio:.3f}  (best-of-rounds {min(gen_times) / min(hand_times):.3f})",
        flush=True,
    )
    return ratio


if __name__ == "__main__":
    sys.exit(main())
