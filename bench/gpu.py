"""Every GPU training measurement of issue 4 in one run: generated VGG-16 vs hand-written.

Torch (this process): the bf16 matmul rate of the card (the "peak" the other numbers are a
percentage of), then VGG-16 training steps, batch 128 at 224x224, on one device-resident batch:

  * generated   - the generated train.py's own step (`Trainer`) with the settings its `train()`
                  picks by default on CUDA: bf16 autocast, channels_last, torch.compile,
                  fused SGD, cudnn.benchmark, TF32;
  * hand-written best - a hand-written VGG-16 and loop with bf16 autocast + channels_last +
                  torch.compile (the reference configuration of the issue);
  * hand-written eager bf16 and fp32 - for scale;
  * generated end to end - `python -m <pkg>.train` as a user runs it, images/s from its log
                  (median of its windows after compilation): on `--data synthetic` (one batch
                  kept on the device), and on a folder of 2,560 JPEG files of 500x375 made
                  here, decoded by the data-loader workers (Pillow) and, where torchvision is
                  installed, on the device (`--decode device`: nvJPEG); each also as a ratio
                  to the best hand-written step.

Keras (a subprocess, KERAS_BACKEND=jax): the generated VGG-16 compiled as the generated
train.py compiles it (its optimizer, loss, metrics; mixed_bfloat16 chosen by its `configure`)
vs `keras.applications.VGG16(weights=None)` under mixed_bfloat16, both timed with
`train_on_batch` on the same device-resident batch; then end to end, the generated train.py
(`--data synthetic`, two epochs, the second's images/s from its metrics.jsonl) vs
keras.applications' `fit` over the same kind of uint8 data batched as the program batches it.

Modern networks (this process, torch): the generated ResNet-50 and ConvNeXt-T against
torchvision's models (when torchvision is installed), each trained by one loop with bf16
autocast, channels_last, torch.compile and fused SGD, batch 128 at 224x224: the ratio says what
the generated module code costs against torchvision's.

Every timing is taken three times (after its warm-up) and the median reported. Results go to
$OUT/gpu_bench.json (or --out), rewritten after each measurement so that a run stopped at its
time limit keeps what it measured, and are printed as a table. Any part that fails is recorded
under its name with the error, and the exit status is then 1.

The GPU machine has torch, torchvision and JAX but no network, no pydantic and no Keras: carry
them as wheels (`bench/gpu_wheels.sh` downloads them into .whl/, which git ignores) and install
them there before running, all in one call of the device tool:

    bash bench/gpu_wheels.sh                                # here, once
    # on the GPU machine (device tool, carry [".whl"]):
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    PYTHONPATH=/tmp/site:. python3 bench/gpu.py            # writes $OUT/gpu_bench.json

    python bench/gpu.py --smoke            # tiny sizes on CPU: checks that the script runs
    python bench/gpu.py --smoke --part torch
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VGG16_MACS_224 = 15_470_264_320
"""Multiply-accumulates of one VGG-16 forward pass at 224x224 (used when netspec is absent)."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; runs on CPU")
    parser.add_argument("--part", choices=["all", "torch", "keras", "modern"], default="all")
    parser.add_argument("--packages", type=Path, help="folder with prebuilt vgg16_torch/keras")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--keras-backend", default="jax")
    parser.add_argument("--skip-e2e", action="store_true", help="skip the end-to-end run")
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.warmup, args.steps = 4, 1, 2
    return args


def image_size(args: argparse.Namespace) -> int:
    return 32 if args.smoke else 224


def packages(args: argparse.Namespace) -> Path:
    """The folder holding vgg16_torch and vgg16_keras (built here unless --packages)."""
    if args.packages:
        return args.packages.resolve()
    sys.path.insert(0, str(ROOT))
    from netspec import build

    folder = Path(tempfile.mkdtemp(prefix="netspec_gpu_bench_"))
    text = (ROOT / "specs" / "vgg16.yaml").read_text(encoding="utf-8")
    if args.smoke:  # the same network on 32x32 input (five 2x2 pools leave 1x1)
        text = text.replace("shape: [3, 224, 224]", "shape: [3, 32, 32]")
        assert "[3, 32, 32]" in text
    (folder / "vgg16.yaml").write_text(text, encoding="utf-8")
    for backend in ("torch", "keras"):
        build(folder / "vgg16.yaml", backend=backend, out=folder / f"vgg16_{backend}")
    return folder


def forward_macs(args: argparse.Namespace) -> int:
    try:
        sys.path.insert(0, str(ROOT))
        import netspec

        text = (ROOT / "specs" / "vgg16.yaml").read_text(encoding="utf-8")
        if args.smoke:
            text = text.replace("shape: [3, 224, 224]", "shape: [3, 32, 32]")
        return netspec.load(text, name="vgg16.yaml").macs
    except ImportError:
        assert not args.smoke
        return VGG16_MACS_224


# ----------------------------------------------------------------------------- timing

REPEATS = 3


def median_rate(step, steps: int, sync=lambda: None) -> float:
    """Steps per second of `step`: the median of REPEATS windows of `steps` steps each."""
    rates = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        rates.append(steps / (time.perf_counter() - start))
    return sorted(rates)[len(rates) // 2]


def interleaved_rates(steps: dict, count: int, sync=lambda: None) -> dict[str, float]:
    """Steps per second of each of `steps` (name: step), measured in turns (A B, then B A,
    ...) so that none profits from its place in the run (clocks, caches, the allocator):
    the median of REPEATS windows of `count` steps each."""
    rates: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for turn in range(REPEATS):
        for name in names if turn % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            for _ in range(count):
                steps[name]()
            sync()
            rates[name].append(count / (time.perf_counter() - start))
    return {name: sorted(values)[len(values) // 2] for name, values in rates.items()}


class Report:
    """The results so far, written to disk after every measurement."""

    def __init__(self, path: Path, results: dict) -> None:
        self.path = path
        self.results = results
        self.failed: list[str] = []

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.results, indent=2) + "\n", encoding="utf-8")

    def part(self, name: str, run) -> None:
        """Run one part, filling results[name]; a failure is recorded and the run goes on."""
        self.results[name] = {}
        try:
            run(self.results[name])
        except Exception as error:  # noqa: BLE001 - reported, and the exit status says so
            import traceback

            self.results[name]["error"] = "".join(traceback.format_exception(error))[-3000:]
            self.failed.append(name)
            print(f"{name} FAILED:\n{self.results[name]['error']}", file=sys.stderr, flush=True)
        self.save()


# ----------------------------------------------------------------------------- torch


def torch_part(args: argparse.Namespace, folder: Path, results: dict, save) -> None:
    import torch
    import torch.nn.functional as F
    from torch import nn

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    if not cuda and not args.smoke:
        raise SystemExit("no CUDA device; use --smoke to try the script on CPU")
    torch.backends.cudnn.benchmark = True
    torch.set_float32_matmul_precision("high")  # TF32 for fp32 matmuls

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def rate(step, warmup: int, steps: int) -> float:
        """Steps per second of `step`: the median of three timed windows after the warm-up."""
        for _ in range(warmup):
            step()
        sync()
        return median_rate(step, steps, sync)

    # -- bf16 matmul rate, the reference peak
    n = 256 if args.smoke else 8192
    left = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    right = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    matmuls = rate(lambda: left @ right, 3 if args.smoke else 20, 5 if args.smoke else 100)
    peak = 2 * n**3 * matmuls

    size = image_size(args)
    train_flops = 6 * forward_macs(args)  # forward + backward ~ 3x the forward pass
    batch = args.batch
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)
    results.update(
        device=torch.cuda.get_device_name() if cuda else "cpu",
        torch=torch.__version__,
        batch=batch,
        image=size,
        bf16_matmul_tflops=peak / 1e12,
    )

    def record(name: str, steps_per_s: float) -> None:
        images = steps_per_s * batch
        results[name] = {
            "images_per_s": images,
            "percent_of_matmul_peak": 100 * images * train_flops / peak,
        }
        print(f"  {name:28s} {images:10.1f} images/s", flush=True)
        save()

    # -- generated: the generated program's step with its CUDA defaults
    sys.path.insert(0, str(folder))
    train = importlib.import_module("vgg16_torch.train")
    torch.manual_seed(0)
    model = train.build_model().to(device)
    defaults = train.parse_args([])
    amp = defaults.amp or ("bf16" if cuda else "off")
    channels_last = train.CONV and (cuda if defaults.channels_last is None else True)
    use_compile = cuda if defaults.compile is None else defaults.compile
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = train.make_optimizer(
        model.parameters(), train.LEARNING_RATE, True if cuda else None
    )
    trainer = train.Trainer(model, optimizer, device, amp, channels_last)
    if use_compile:
        trainer.model = torch.compile(model)
    results["generated_settings"] = {
        "amp": amp,
        "channels_last": channels_last,
        "compile": use_compile,
    }
    record("generated", rate(lambda: trainer.step((x,), y), args.warmup, args.steps))

    trainer = model = optimizer = None  # free the memory for the references

    # -- hand-written VGG-16, the reference configurations
    class VGG16(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers, channels = [], 3
            for width, convs in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]:
                for _ in range(convs):
                    layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(True)]
                    channels = width
                layers.append(nn.MaxPool2d(2))
            self.features = nn.Sequential(*layers)
            side = size // 32
            self.classifier = nn.Sequential(
                nn.Linear(512 * side * side, 4096),
                nn.ReLU(True),
                nn.Dropout(0.5),
                nn.Linear(4096, 4096),
                nn.ReLU(True),
                nn.Dropout(0.5),
                nn.Linear(4096, 1000),
            )

        def forward(self, x):
            return self.classifier(torch.flatten(self.features(x), 1))

    def handwritten(bf16: bool, channels_last: bool, compiled: bool):
        torch.manual_seed(0)
        net = VGG16().to(device)
        if channels_last:
            net.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(
            net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, fused=cuda or None
        )
        run = torch.compile(net) if compiled else net
        inputs = x.contiguous(memory_format=torch.channels_last) if channels_last else x

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
                out = run(inputs)
            F.cross_entropy(out.float(), y).backward()
            opt.step()

        return step

    record(
        "handwritten_bf16_cl_compile",
        rate(handwritten(True, True, cuda), args.warmup, args.steps),
    )
    record("handwritten_eager_bf16", rate(handwritten(True, True, False), 3, args.steps))
    record("handwritten_fp32", rate(handwritten(False, False, False), 3, args.steps))
    best = results["handwritten_bf16_cl_compile"]["images_per_s"]
    results["generated_vs_best_handwritten"] = results["generated"]["images_per_s"] / best
    if cuda:
        torch.cuda.empty_cache()

    # -- generated end to end: the program as a user runs it, on synthetic data and on a
    # folder of JPEG files decoded by the data-loader workers or on the device
    if not args.skip_e2e:
        with tempfile.TemporaryDirectory() as scratch:
            images = jpeg_folder(Path(scratch) / "jpegs", args)
            runs = {"generated_end_to_end": ["--data", "synthetic"]}
            runs["generated_jpeg_workers"] = ["--data", str(images), "--decode", "workers"]
            if importlib.util.find_spec("torchvision") is not None:
                runs["generated_jpeg_device"] = ["--data", str(images), "--decode", "device"]
            for name, data in runs.items():
                images_per_s, windows = end_to_end(args, folder, batch, data)
                results[name] = {
                    "images_per_s": images_per_s,
                    "percent_of_matmul_peak": 100 * images_per_s * train_flops / peak,
                    "vs_best_handwritten_step": images_per_s / best,
                    "windows": windows,
                }
                print(f"  {name:28s} {images_per_s:10.1f} images/s", flush=True)
                save()


JPEG_SIZE = (500, 375)
"""ImageNet's typical image size (width, height)."""


def jpeg_folder(root: Path, args: argparse.Namespace) -> Path:
    """A folder of JPEG files in 10 classes, made here: 2,560 of 500x375 (64 of 64x48 for
    --smoke), smooth colour ramps with noise, saved at quality 90."""
    import numpy as np
    from PIL import Image

    count, (width, height) = (64, (64, 48)) if args.smoke else (2560, JPEG_SIZE)
    rng = np.random.default_rng(0)
    x, y = np.meshgrid(np.linspace(0, 1, width), np.linspace(0, 1, height))
    for i in range(count):
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        base = np.stack([x, y, 1 - x * y], axis=-1) * rng.uniform(100, 255, 3)
        noisy = base + rng.normal(0, 12, base.shape)
        pixels = np.clip(noisy, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)
    return root


def end_to_end(
    args: argparse.Namespace, folder: Path, batch: int, data: list[str]
) -> tuple[float, list[float]]:
    """Images/s of `python -m vgg16_torch.train` on `data`, the median of its logged windows
    after the first two (which include compilation), and all the windows."""
    steps = 6 if args.smoke else 150
    interval = 2 if args.smoke else 25
    command = [sys.executable, "-m", "vgg16_torch.train", *data]
    command += ["--batch-size", str(batch), "--max-steps", str(steps), "--epochs", "1000"]
    command += ["--log-interval", str(interval), "--no-progress"]
    if data[1] == "synthetic":
        command += ["--synthetic-samples", str(batch * steps)]
    else:  # (--smoke's 32x32 network has no crop recipe: its images are resized)
        command += ["--resize"]
    with tempfile.TemporaryDirectory() as run_dir:
        done = subprocess.run(
            [*command, "--run-dir", run_dir],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=240,
        )
    if done.returncode != 0:
        raise RuntimeError(f"the generated train.py failed ({data}):\n{done.stderr[-2000:]}")
    rates = [float(r) for r in re.findall(r"img/s ([0-9.e+]+)", done.stdout)]
    steady = rates[2:] or rates
    return sorted(steady)[len(steady) // 2], rates


# ----------------------------------------------------------------------------- modern networks

MODERN = ("resnet50", "convnext_tiny", "vit_b_16")
"""Specs whose training step is compared with torchvision's model of the same name."""
FIXED_SIZE = {"vit_b_16"}
"""Specs that take 224x224 only (a learned table per patch position): left out of --smoke."""


def modern_part(args: argparse.Namespace, results: dict, save) -> None:
    import torch
    import torch.nn.functional as F
    import torchvision

    sys.path.insert(0, str(ROOT))
    from netspec import build
    from netspec.weights import from_reference

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    size = 64 if args.smoke else 224
    x = torch.randn(args.batch, 3, size, size, device=device)
    y = torch.randint(0, 1000, (args.batch,), device=device)
    folder = Path(tempfile.mkdtemp(prefix="netspec_gpu_modern_"))
    sys.path.insert(0, str(folder))

    def training_step(net):
        """One training step of `net`: bf16, channels_last, compile, fused SGD."""
        net = net.to(device).to(memory_format=torch.channels_last).train()
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, fused=cuda or None)
        run = torch.compile(net) if cuda else net
        inputs = x.contiguous(memory_format=torch.channels_last)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, torch.bfloat16):
                out = run(inputs)
            F.cross_entropy(out.float(), y).backward()
            opt.step()

        for _ in range(args.warmup):
            step()
        sync()
        return step

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    for spec in MODERN:
        if size != 224 and spec in FIXED_SIZE:
            continue
        build(ROOT / "specs" / f"{spec}.yaml", backend="torch", out=folder / f"{spec}_torch")
        module = importlib.import_module(f"{spec}_torch.model")
        torch.manual_seed(0)
        generated = module.build_model()
        reference = getattr(torchvision.models, spec)(weights=None)
        from_reference(generated, reference)  # the same network, or this raises
        steps = {"generated": training_step(generated), "torchvision": training_step(reference)}
        row = {
            name: rate * args.batch
            for name, rate in interleaved_rates(steps, args.steps, sync).items()
        }
        row["generated_vs_torchvision"] = row["generated"] / row["torchvision"]
        results[spec] = row
        save()
        print(
            f"  {spec:16s} generated {row['generated']:9.1f} images/s, torchvision "
            f"{row['torchvision']:9.1f} images/s, ratio {row['generated_vs_torchvision']:.3f}",
            flush=True,
        )
        generated = reference = steps = None
        if cuda:
            torch.cuda.empty_cache()


# ----------------------------------------------------------------------------- keras


def keras_part(args: argparse.Namespace, folder: Path) -> dict:
    """Run in its own process with KERAS_BACKEND set (see main)."""
    import keras
    import numpy as np

    sys.path.insert(0, str(folder))
    train = importlib.import_module("vgg16_keras.train")
    defaults = train.parse_args([])
    strategy_name, _, _ = train.configure(defaults)  # dtype policy and distribution
    policy = keras.mixed_precision.global_policy().name
    size = image_size(args)
    batch = args.batch
    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(rng.random((batch, size, size, 3), dtype=np.float32))
    y = keras.ops.convert_to_tensor(rng.integers(0, 1000, batch))
    results: dict = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "devices": [str(d) for d in keras.distribution.list_devices()],
        "policy": policy,
        "strategy": strategy_name,
    }

    def warmed_step(model):
        for _ in range(args.warmup):
            model.train_on_batch(x, y)
        return lambda: model.train_on_batch(x, y)  # host floats: each step synced

    keras.utils.set_random_seed(0)
    model = train.build_model()
    model.compile(
        optimizer=train.make_optimizer(train.LEARNING_RATE),
        loss=train.make_loss(True),  # integer class labels, as y below
        metrics=train.make_metrics(True),
    )
    keras.mixed_precision.set_global_policy(policy)
    reference = keras.applications.VGG16(
        weights=None, input_shape=(size, size, 3), classes=1000, classifier_activation=None
    )
    reference.compile(
        # the same work per step as the generated program's (the spec's weight decay)
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, weight_decay=5e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    steps = {"generated": warmed_step(model), "keras_applications_vgg16": warmed_step(reference)}
    for name, rate in interleaved_rates(steps, args.steps).items():  # in turns
        results[name] = {"images_per_s": rate * batch}
        print(f"  keras {name:26s} {results[name]['images_per_s']:10.1f} images/s")
    del model, steps
    results["generated_vs_applications"] = (
        results["generated"]["images_per_s"] / results["keras_applications_vgg16"]["images_per_s"]
    )
    if not args.skip_e2e:
        keras_end_to_end(args, folder, train, reference, results)
    return results


def keras_end_to_end(args, folder: Path, train, reference, results: dict) -> None:
    """The generated train.py as a user runs it (`--data synthetic`: uint8 images in host
    memory, its input pipeline, callbacks and fit) against keras.applications' VGG16 in a
    plain `fit` on the same kind of data (uint8 images scaled as the program scales them),
    each timed on its second epoch (the first compiles)."""
    import keras
    import numpy as np

    steps = 3 if args.smoke else 40
    samples = args.batch * steps
    with tempfile.TemporaryDirectory() as run_dir:
        command = [sys.executable, "-m", "vgg16_keras.train", "--data", "synthetic"]
        command += ["--batch-size", str(args.batch), "--epochs", "2"]
        command += ["--synthetic-samples", str(samples), "--run-dir", run_dir]
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"the generated Keras train.py failed:\n{done.stderr[-2000:]}")
        records = (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
    generated = json.loads(records[-1])["images_per_s"]
    size = image_size(args)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (samples, size, size, 3), dtype=np.uint8)
    y = rng.integers(0, 1000, samples)
    # batched as the program batches: epoch 0's order, this process alone
    data = train.Batches((dict.fromkeys(train.INPUTS, x), y), args.batch, 0, (0, 1), 0)

    class EpochTime(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.started

    timer = EpochTime()
    reference.fit(data, epochs=2, callbacks=[timer], verbose=0)
    applications = samples / timer.seconds
    results["generated_end_to_end"] = {"images_per_s": generated, "records": records}
    results["applications_fit"] = {"images_per_s": applications}
    results["end_to_end_vs_applications_fit"] = generated / applications
    print(f"  keras generated e2e  {generated:10.1f} images/s (train.py, epoch 2)")
    print(f"  keras applications   {applications:10.1f} images/s (fit, epoch 2)")


def keras_child(args: argparse.Namespace, folder: Path) -> dict:
    """The Keras part in a process of its own (KERAS_BACKEND is read at import)."""
    env = {
        **os.environ,
        "KERAS_BACKEND": args.keras_backend,
        "NETSPEC_BENCH_KERAS_CHILD": "1",
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    argv = ["--smoke"] if args.smoke else []
    argv += ["--batch", str(args.batch), "--warmup", str(args.warmup)]
    argv += ["--steps", str(args.steps), "--packages", str(folder)]
    argv += ["--keras-backend", args.keras_backend]
    argv += ["--skip-e2e"] if args.skip_e2e else []
    done = subprocess.run(
        [sys.executable, __file__, *argv], env=env, capture_output=True, text=True, timeout=480
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    print("\n".join(x for x in done.stdout.splitlines() if not x.startswith("RESULT ")))
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the Keras process failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main() -> int:
    args = parse_args()
    if os.environ.get("NETSPEC_BENCH_KERAS_CHILD"):  # the Keras subprocess
        out = keras_part(args, args.packages)
        print("RESULT " + json.dumps(out))
        return 0
    folder = packages(args)
    path = args.out / ("gpu_bench_smoke.json" if args.smoke else "gpu_bench.json")
    report = Report(path, {"smoke": args.smoke, "date": time.strftime("%Y-%m-%d")})
    if args.part in ("all", "torch"):
        print("torch:", flush=True)
        report.part("torch", lambda into: torch_part(args, folder, into, report.save))
    if args.part in ("all", "keras"):
        print(f"keras ({args.keras_backend} backend):", flush=True)
        report.part("keras", lambda into: into.update(keras_child(args, folder)))
    if args.part in ("all", "modern"):
        print("modern networks (torch):", flush=True)
        report.part("modern", lambda into: modern_part(args, into, report.save))
    print(f"wrote {path}")
    results = report.results
    torch_results = results.get("torch", {})
    if "generated_vs_best_handwritten" in torch_results:
        print(
            f"torch: generated / best hand-written = "
            f"{torch_results['generated_vs_best_handwritten']:.3f} "
            f"(generated {torch_results['generated']['percent_of_matmul_peak']:.1f}% of "
            f"the {torch_results['bf16_matmul_tflops']:.0f} TFLOP/s bf16 matmul rate)"
        )
    if "generated_vs_applications" in results.get("keras", {}):
        print(
            f"keras: generated / applications = {results['keras']['generated_vs_applications']:.3f}"
        )
    if "end_to_end_vs_applications_fit" in results.get("keras", {}):
        ratio = results["keras"]["end_to_end_vs_applications_fit"]
        print(f"keras: generated train.py / applications fit = {ratio:.3f}")
    if report.failed:
        print(f"FAILED: {', '.join(report.failed)}", file=sys.stderr)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
