"""CPU inference latency: netspec's generated torch models vs references, batch 1 and 32.

    .venv/bin/python bench/latency.py            # the hand-written references, Markdown table
    .venv/bin/python bench/latency.py --specs lenet5 resnet18 --repeats 50 --batch 1 32
    .venv-references/bin/python bench/latency.py --specs resnet50 mobilenet_v2 \
        efficientnet_b0 convnext_tiny vit_b_16 # torchvision's models (`make references` venv)

The small specs' references are written here by hand the way one writes them without netspec
(a torchvision-style ResNet-18 with `BasicBlock`, `nn.Sequential` stacks for the others); the
modern networks' reference is torchvision's own model, where torchvision is installed. Each
reference and the generated model hold the same weights (copied parameter by parameter, shapes
checked; torchvision's through `netspec.weights.from_reference`) and must compute the same
outputs before they are timed, so both sides run exactly the same network. Timing: eval mode,
`torch.inference_mode`, warm-up, then generated and reference runs interleaved (ABAB...) so
that drift of the machine hits both alike; the median of each is reported, the ratio generated
/ reference (1.00 = no overhead), and the spread of the ratio of neighbouring runs (25th to
75th percentile).
"""

from __future__ import annotations

import argparse
import importlib
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from netspec import build, load  # noqa: E402  (after the path: runs from a checkout)

# ----------------------------------------------------------------------------- references


class LeNet5(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(784, 256), nn.BatchNorm1d(256, eps=1e-3), nn.LeakyReLU(0.1),
            nn.Dropout(0.2), nn.Linear(256, 128), nn.ELU(), nn.Dropout(0.2), nn.Linear(128, 10),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # eval mode: the input noise layer is the identity


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, cin = [], 64
        for cout, stride in [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1)] + [
            (512, 2),
            (512, 1),
        ]:
            blocks.append(BasicBlock(cin, cout, stride))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        x = self.blocks(x)
        return self.fc(torch.flatten(torch.mean(x, dim=(2, 3)), 1))


class VGG16(nn.Module):
    def __init__(self, batch_norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for convs, cout in [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]:
            for _ in range(convs):
                layers.append(nn.Conv2d(cin, cout, 3, padding=1))
                layers += [nn.BatchNorm2d(cout)] if batch_norm else []
                layers.append(nn.ReLU())
                cin = cout
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 1000),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class TextBiLSTM(nn.Module):
    """specs/text_bilstm.yaml as one writes it by hand: the final states of both directions of
    the top layer, concatenated."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20000, 128, padding_idx=0)
        self.lstm = nn.LSTM(128, 128, num_layers=2, bidirectional=True, batch_first=True)
        self.dropout = nn.Dropout(0.3)
        self.classifier = nn.Linear(256, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(self.embed(x))
        return self.classifier(self.dropout(torch.cat([hidden[-2], hidden[-1]], dim=1)))


REFERENCES: dict[str, Callable[[], nn.Module]] = {
    "lenet5": LeNet5,
    "mlp": MLP,
    "resnet18": ResNet18,
    "vgg16": lambda: VGG16(batch_norm=False),
    "vgg16_bn": lambda: VGG16(batch_norm=True),
    "text_bilstm": TextBiLSTM,
}
TORCHVISION = ("resnet50", "mobilenet_v2", "efficientnet_b0", "convnext_tiny", "vit_b_16")
"""Specs whose reference is torchvision's model of the same name (needs torchvision)."""


def reference_for(spec: str, generated: nn.Module) -> nn.Module:
    if spec in TORCHVISION:
        import torchvision

        from netspec.weights import from_reference

        reference = getattr(torchvision.models, spec)(weights=None).eval()
        with torch.no_grad():  # a zero-initialised head (ViT's) would make any two models agree
            for tensor in reference.parameters():
                if bool((tensor == tensor.flatten()[0]).all()):
                    tensor.normal_(std=0.02)
        from_reference(generated, reference)
        return reference
    reference = REFERENCES[spec]().eval()
    copy_weights(generated, reference)
    return reference


# ----------------------------------------------------------------------------- measuring


def copy_weights(source: nn.Module, target: nn.Module) -> None:
    """Copy parameters and buffers in order (both models define them in spec order)."""
    src, dst = source.state_dict(), target.state_dict()
    src_values = [v for k, v in src.items() if not k.endswith("num_batches_tracked")]
    dst_keys = [k for k in dst if not k.endswith("num_batches_tracked")]
    assert len(src_values) == len(dst_keys), (len(src_values), len(dst_keys))
    for value, key in zip(src_values, dst_keys):
        assert value.shape == dst[key].shape, (key, value.shape, dst[key].shape)
        dst[key] = value.clone()
    target.load_state_dict(dst)


def measure(generated: nn.Module, reference: nn.Module, x: torch.Tensor, repeats: int) -> dict:
    times: dict[str, list[float]] = {"generated": [], "reference": []}
    models = {"generated": generated, "reference": reference}
    with torch.inference_mode():
        for _ in range(max(3, repeats // 5)):  # warm-up: allocator, kernels, caches
            for model in models.values():
                model(x)
        for i in range(repeats):
            order = ("generated", "reference") if i % 2 == 0 else ("reference", "generated")
            for name in order:
                start = time.perf_counter()
                models[name](x)
                times[name].append(time.perf_counter() - start)
    gen, ref = (statistics.median(times[k]) * 1e3 for k in ("generated", "reference"))
    pairs = sorted(g / r for g, r in zip(times["generated"], times["reference"]))
    quartiles = statistics.quantiles(pairs, n=4) if len(pairs) > 1 else [pairs[0]] * 3
    return {
        "generated_ms": gen,
        "reference_ms": ref,
        "ratio": gen / ref,
        "spread": (quartiles[0], quartiles[2]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    choices = [*REFERENCES, *TORCHVISION]
    parser.add_argument("--specs", nargs="+", default=list(REFERENCES), choices=choices)
    parser.add_argument("--batch", nargs="+", type=int, default=[1], help="batch sizes")
    parser.add_argument("--repeats", type=int, default=0, help="runs per model (0: by size)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, tmp)
        for spec in args.specs:
            build(ROOT / "specs" / f"{spec}.yaml", backend="torch", out=Path(tmp) / f"{spec}_gen")
            module = importlib.import_module(f"{spec}_gen.model")
            generated = module.build_model().eval()
            reference = reference_for(spec, generated)
            for batch in args.batch:
                vocab = load(ROOT / "specs" / f"{spec}.yaml").spec.input.vocab
                if vocab is not None:  # token ids
                    x = torch.randint(0, vocab, (batch, *module.INPUT_SHAPE))
                else:
                    x = torch.randn(batch, *module.INPUT_SHAPE)
                with torch.inference_mode():
                    want, got = generated(x), reference(x)
                error = float((want - got).abs().max() / want.abs().max())
                assert error < 1e-5, f"{spec}: reference differs from the generated model ({error})"
                params = sum(p.numel() for p in generated.parameters())
                repeats = args.repeats or (200 if params < 1e6 else 40 if params < 5e7 else 10)
                repeats = max(6, repeats // batch) if batch > 1 else repeats
                result = measure(generated, reference, x, repeats)
                rows.append((spec, batch, repeats, result))
                print(
                    f"{spec} batch {batch}: generated {result['generated_ms']:.3f} ms, "
                    f"reference {result['reference_ms']:.3f} ms, ratio {result['ratio']:.3f}",
                    file=sys.stderr,
                )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}\n"
    )
    print("| spec | batch | runs | generated (ms) | reference (ms) | ratio | ratio p25–p75 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for spec, batch, repeats, r in rows:
        low, high = r["spread"]
        print(
            f"| {spec} | {batch} | {repeats} | {r['generated_ms']:.3f} | {r['reference_ms']:.3f} "
            f"| {r['ratio']:.3f} | {low:.3f}–{high:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
