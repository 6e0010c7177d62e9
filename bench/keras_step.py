"""One training step of the generated Keras VGG-16 vs keras.applications' VGG16, on the CPU.

Builds specs/vgg16.yaml for Keras at a small input size, compiles it as its train.py does
(the spec's optimizer, loss and metrics) and keras.applications' VGG16 of the same size with
Keras's SGD doing the same work (momentum 0.9, weight decay 5e-4) and plain accuracy, and
times `train_on_batch` on one batch of random images, the two models in turns (A B, then
B A, ...) so that neither profits from its place. The same comparison on a GPU is part (a)
of bench/gpu.py's Keras part.

    .venv/bin/python bench/keras_step.py                     # JAX, 64x64, batch 8
    .venv/bin/python bench/keras_step.py --backend tensorflow --size 96
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["jax", "tensorflow", "torch"], default="jax")
    parser.add_argument("--size", type=int, default=64, help="image side (a multiple of 32)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5, help="steps per timed window")
    parser.add_argument("--repeats", type=int, default=5, help="timed windows of each")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    sys.path.insert(0, str(ROOT))
    from netspec import build

    folder = Path(tempfile.mkdtemp(prefix="netspec_bench_keras_step_"))
    text = (ROOT / "specs" / "vgg16.yaml").read_text(encoding="utf-8")
    text = text.replace("shape: [3, 224, 224]", f"shape: [3, {args.size}, {args.size}]")
    (folder / "vgg16.yaml").write_text(text, encoding="utf-8")
    build(folder / "vgg16.yaml", backend="keras", out=folder / "vgg16_keras")
    sys.path.insert(0, str(folder))
    import keras
    import numpy as np

    train = importlib.import_module("vgg16_keras.train")
    train.configure(train.parse_args([]))  # the program's dtype policy
    keras.utils.set_random_seed(0)
    generated = train.build_model()
    generated.compile(
        optimizer=train.make_optimizer(train.LEARNING_RATE),
        loss=train.make_loss(True),
        metrics=train.make_metrics(True),
    )
    reference = keras.applications.VGG16(
        weights=None,
        input_shape=(args.size, args.size, 3),
        classes=1000,
        classifier_activation=None,
    )
    reference.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, weight_decay=5e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    rng = np.random.default_rng(0)
    x = rng.random((args.batch, args.size, args.size, 3), dtype=np.float32)
    y = rng.integers(0, 1000, args.batch)
    models = {"generated": generated, "keras.applications": reference}
    for model in models.values():  # compile and warm up
        for _ in range(3):
            model.train_on_batch(x, y)
    seconds: dict[str, list[float]] = {name: [] for name in models}
    for turn in range(args.repeats):
        for name in list(models) if turn % 2 == 0 else list(models)[::-1]:
            started = time.perf_counter()
            for _ in range(args.steps):
                models[name].train_on_batch(x, y)  # returns host floats: synced
            seconds[name].append((time.perf_counter() - started) / args.steps)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    print(
        f"keras {keras.__version__} on {args.backend}, "
        f"{keras.mixed_precision.global_policy().name}, batch {args.batch} at "
        f"{args.size}x{args.size}, {args.repeats} windows of {args.steps} steps (median)"
    )
    for name, value in medians.items():
        print(f"  {name:20s} {value * 1e3:8.1f} ms per step")
    ratio = medians["keras.applications"] / medians["generated"]
    print(f"generated / keras.applications (speed) = {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
