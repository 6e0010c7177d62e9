"""Images per second per CPU core of the generated torch input pipeline vs torchvision's.

Writes a folder of JPEGs at ImageNet's typical 500x375 (smooth random images, so that they
compress as photos do, 10 classes), builds the torch package of a 3x224x224 classifier (whose
default `train: data:` is torchvision's ImageNet recipe), and reads every image once through:

  * generated  - the generated train.py's `ImageFolder` as its training loop reads it
                 (JPEG decoded by torchvision's decode_jpeg, installed here; the random
                 resized crop and flip drawn by `train_view`, the crop resized to 224x224 by
                 torch's uint8 kernel; a uint8 tensor: scaling and normalisation happen on
                 the device, so they are not counted);
  * generated, Pillow decode - the same without torchvision (Pillow decodes, as where
                 torchvision is not installed);
  * torchvision - `torchvision.datasets.ImageFolder` with RandomResizedCrop(224),
                 RandomHorizontalFlip(), ToTensor() and Normalize(), the reference recipe.

One process, one thread (torch.set_num_threads(1)): the rate is per core. Runs alternate
(generated, torchvision, ...) and the medians are reported with their ratio. Needs
torchvision, so it runs in the `make references` venv:

    .venv-references/bin/python bench/data.py
    .venv-references/bin/python bench/data.py --images 500 --repeats 3
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "resnet18.yaml"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000, help="JPEGs to write and read")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes of each")
    return parser.parse_args()


def write_jpegs(folder: Path, count: int) -> None:
    """`count` 500x375 JPEGs (quality 90) of smooth noise, in 10 class folders."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for index in range(count):
        small = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)  # upsampled: smooth
        image = Image.fromarray(small).resize((500, 375), Image.BICUBIC)
        target = folder / f"class{index % 10}"
        target.mkdir(parents=True, exist_ok=True)
        image.save(target / f"{index}.jpg", quality=90)


def rate(read, *args: int) -> float:
    """Images per second of one pass of `read(*args)` over the folder."""
    started = time.perf_counter()
    count = read(*args)
    return count / (time.perf_counter() - started)


def main() -> int:
    args = parse_args()
    import torch
    import torchvision
    from torchvision import transforms

    sys.path.insert(0, str(ROOT))
    from netspec import build

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="netspec_bench_data_"))
    write_jpegs(work / "images", args.images)
    build(SPEC, backend="torch", out=work / "pkg")
    sys.path.insert(0, str(work))
    program = importlib.import_module("pkg.train")
    generated = program.ImageFolder(work / "images", False, seed=0)
    assert program.CROP_SCALE is not None and program.FLIP, "the spec has no augmentation"
    reference = torchvision.datasets.ImageFolder(
        str(work / "images"),
        transform=transforms.Compose(
            [
                transforms.RandomResizedCrop(224),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                transforms.Normalize(program.MEAN, program.STD),
            ]
        ),
    )
    count = len(generated)
    assert count == len(reference) == args.images

    decoder = program.jpeg_decoder
    assert decoder() is not None, "torchvision's decode_jpeg is not used"

    def read_generated(epoch: int, pillow: bool = False) -> int:
        program.jpeg_decoder = (lambda: None) if pillow else decoder
        for index in range(count):
            generated[(index, epoch)]
        return count

    def read_reference() -> int:
        for index in range(count):
            reference[index]
        return count

    read_generated(0), read_reference()  # warm the file cache and imports
    names = ("generated", "generated, Pillow decode", "torchvision")
    rates: dict[str, list[float]] = {name: [] for name in names}
    for epoch in range(1, args.repeats + 1):
        rates["generated"].append(rate(read_generated, epoch))
        rates["generated, Pillow decode"].append(rate(read_generated, epoch, True))
        rates["torchvision"].append(rate(read_reference))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, 1 thread")
    print(f"{count} JPEGs 500x375 -> 224x224, {args.repeats} passes each (median)")
    for name, value in medians.items():
        print(f"  {name:26s} {value:8.1f} images/s per core")
    for name in names[:2]:
        print(f"{name} / torchvision = {medians[name] / medians['torchvision']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
