"""The `train: data:` recipe in both generated programs (docs/spec.md, "Data"):

- each training image's crop and flip depend on (seed, epoch, sample) alone, and the two
  programs draw the same ones; crops stay inside the image with the area share and aspect ratio
  asked for;
- held-out images from a folder are cropped and normalised alike in both programs (to a
  rounding: Pillow resizes in uint8, TensorFlow in floats);
- a spec with the full recipe trains from an image folder of mixed sizes in both backends;
- images cross to the device as uint8 and are scaled and normalised there, in both programs;
- torch's workers give each view as Pillow crops, resizes (bilinear) and flips it (as
  torchvision's RandomResizedCrop does: the crop's edges are the image's edges), to a
  rounding, in RGB and grey, decoding JPEG files with torchvision where it is installed (the
  same pixels as Pillow's) and with Pillow otherwise;
- torch's `--decode device` sees what the Pillow path sees (with torchvision: `make
  references`), and says what it needs without it;
- `trivial_augment`: the programs' operations are torchvision's TrivialAugmentWide's, pixel
  for pixel (with torchvision), and both programs give a training image the same one.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from netspec import build
from tests import test_train_keras, test_train_torch

PROGRAMS = {"torch": test_train_torch, "keras": test_train_keras}

REFERENCE_PYTHON = os.environ.get("NETSPEC_REFERENCE_PYTHON")
"""A Python with torchvision (`make references`), for decoding with it."""
if REFERENCE_PYTHON is not None:  # (a venv's python: absolute, but not resolved)
    REFERENCE_PYTHON = os.path.abspath(REFERENCE_PYTHON)

SPEC = """\
netspec: 1
name: Crops
input: {shape: [3, 16, 16]}
layers:
  - {type: conv2d, name: conv, filters: 4, kernel: 3, padding: 1, activation: relu}
  - {type: global_avgpool2d}
  - {type: dense, name: fc, units: 2}
train:
  batch_size: 4
  epochs: 2
  data:
    mean: [0.5, 0.4, 0.3]
    std: [0.2, 0.25, 0.3]
    augment:
      random_resized_crop: {scale: [0.2, 1.0], ratio: [0.5, 2.0]}
      horizontal_flip: true
    eval_resize: 20
"""

MASKS = """\
netspec: 1
name: Masks
input: {shape: [3, 16, 16]}
layers:
  - {type: conv2d, name: conv, filters: 2, kernel: 1}
train: {loss: mse}
"""
"""Values of an image's shape as targets (a segmentation's masks), not the input itself."""

TARGETS = """
import json, sys
import numpy as np
from masks import train
y = np.random.default_rng(0).integers(0, 2, (4, 2, 16, 16)).astype(np.uint8)
t = train.check_targets(y, 4, "y")
if hasattr(train, "to_float"):  # Keras: as its pipelines prepare targets, channels last
    t = train.to_float(t, train.TARGET).transpose(0, 3, 1, 2)
print(json.dumps({"dtype": str(t.dtype), "values": sorted({float(v) for v in t.ravel()})}))
"""

VIEWS = """
import json, sys
from crops.train import eval_view, train_view
sizes = [(40, 30), (30, 40), (17, 16), (500, 375)]
print(json.dumps([eval_view(40, 30, (16, 16)), eval_view(30, 45, (16, 16))]))
print(json.dumps([
    [train_view(seed, epoch, index, w, h) for (w, h) in sizes]
    for seed in (0, 1) for epoch in (0, 1) for index in range(50)
]))
"""

EVAL_TORCH = """
import sys, numpy as np, torch
from pathlib import Path
from crops import train as program
data = program.ImageFolder(Path(sys.argv[1]), False)
trainer = program.Trainer(torch.nn.Identity(), None, torch.device("cpu"), "off", False)
spec = program.INPUTS["x"]
images = [trainer.input(data[i][0][0][None], spec)[0].numpy() for i in range(len(data))]
np.save(sys.argv[2], np.stack(images))
"""

EVAL_KERAS = """
import argparse, sys, numpy as np
from crops import train as program
args = argparse.Namespace(data=sys.argv[1], resize=False, global_batch=64, seed=0, epochs=1)
_, val, _, _ = program.folder_datasets(args)
images, _ = next(iter(val))  # uint8, scaled and normalised in the trained model:
images = program.scaled(images, program.INPUTS["x"])
np.save(sys.argv[2], np.asarray(images).transpose(0, 3, 1, 2))
"""


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> Path:
    """`crops` for each backend in folders torch/ and keras/, and an image folder of mixed
    sizes with train/ and val/."""
    from PIL import Image

    root = tmp_path_factory.mktemp("data")
    (root / "crops.yaml").write_text(SPEC, encoding="utf-8")
    trivial = SPEC.replace(
        "      horizontal_flip: true\n",
        "      horizontal_flip: true\n      trivial_augment: true\n",
    )
    (root / "trivial.yaml").write_text(trivial, encoding="utf-8")
    (root / "masks.yaml").write_text(MASKS, encoding="utf-8")
    for backend in PROGRAMS:
        build(root / "crops.yaml", backend=backend, out=root / backend / "crops")
        build(root / "trivial.yaml", backend=backend, out=root / backend / "trivial")
        build(root / "masks.yaml", backend=backend, out=root / backend / "masks")
    rng = np.random.default_rng(0)
    sizes = [(24, 20), (20, 30), (16, 16), (33, 21)]
    for part, count in (("train", 8), ("val", 3)):
        for label in ("a", "b"):
            folder = root / "images" / part / label
            folder.mkdir(parents=True)
            for i in range(count):
                width, height = sizes[i % len(sizes)]
                pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def run(backend: str, packages: Path, script: str, *args: str | Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        cwd=packages / backend,
        env=PROGRAMS[backend].env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_both_programs_draw_the_same_crops_and_flips(packages: Path) -> None:
    lines = {b: run(b, packages, VIEWS).splitlines()[-2:] for b in PROGRAMS}
    # held-out: the shorter side resized to 20, the center 16x16, as a box of the original
    assert json.loads(lines["torch"][0]) == [[8, 3, 24, 24], [3, 10, 24, 24]]
    views = {b: json.loads(lines[b][1]) for b in PROGRAMS}
    assert views["torch"] == views["keras"]
    sizes = [(40, 30), (30, 40), (17, 16), (500, 375)]
    by_seed_epoch = [views["torch"][i * 50 : (i + 1) * 50] for i in range(4)]
    assert by_seed_epoch[0] != by_seed_epoch[1] != by_seed_epoch[2]  # new draws each epoch
    flips = [view[4] for rows in views["torch"] for view in rows]
    assert 0.4 < np.mean(flips) < 0.6
    fitting = 0
    for rows in views["torch"]:
        for (width, height), (left, top, w, h, _) in zip(sizes, rows):
            assert 0 <= left and left + w <= width and 0 <= top and top + h <= height
            share, ratio = w * h / (width * height), w / h
            fitting += 0.2 * 0.8 <= share <= 1.0 and 0.5 * 0.8 <= ratio <= 2.0 * 1.2
    assert fitting >= 0.95 * len(flips)  # the rest: the fallback, rounding at small sizes


def test_held_out_images_are_cropped_and_normalised_alike(packages: Path) -> None:
    val = packages / "images" / "val"
    run("torch", packages, EVAL_TORCH, val, packages / "torch.npy")
    run("keras", packages, EVAL_KERAS, val.parent, packages / "keras.npy")  # train/, val/
    torch_images, keras_images = np.load(packages / "torch.npy"), np.load(packages / "keras.npy")
    assert torch_images.shape == keras_images.shape == (6, 3, 16, 16)
    # normalised: (x - mean) / std of uniform pixels has these means per channel
    expected = (0.5 - np.array([0.5, 0.4, 0.3])) / np.array([0.2, 0.25, 0.3])
    assert np.allclose(torch_images.mean(axis=(0, 2, 3)), expected, atol=0.15)
    difference = np.abs(torch_images - keras_images) * np.array([0.2, 0.25, 0.3])[:, None, None]
    assert difference.mean() < 0.02, difference.mean()  # in [0, 1] pixel units


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_the_recipe_trains_from_a_folder_of_mixed_sizes(backend: str, packages: Path) -> None:
    program = PROGRAMS[backend]
    run_dir = packages / f"run_{backend}"
    done = program.ok(
        program.train(
            packages / backend,
            "--data",
            packages / "images",
            "--run-dir",
            run_dir,
            package="crops",
        )
    )
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2] and "val_loss" in records[-1], done.stdout


# ----------------------------------------------------------------------------- torch workers

WORKER_VIEWS = """
import json, sys, numpy as np
from pathlib import Path
from PIL import Image
from {package} import train as program
root, decoder = Path(sys.argv[1]), sys.argv[2]
if decoder == "pillow":
    program.jpeg_decoder = lambda: None
assert (program.jpeg_decoder() is not None) == (decoder == "torchvision")
channels, height, width = program.INPUTS["x"].shape
data = program.ImageFolder(root, False, seed=3)
items = [(i, epoch) for epoch in (0, 1) for i in range(len(data))] + list(range(len(data)))
worst = total = count = 0
pixels = []
for item in items:
    index, epoch = item if isinstance(item, tuple) else (item, None)
    path, _ = data.files[index]
    with Image.open(path) as image:  # torchvision's resized_crop of a Pillow image
        image = image.convert("L" if channels == 1 else "RGB")
        left, top, w, h, flip = data.view(path, index, epoch, image.size)
        image = image.crop((left, top, left + w, top + h))
        image = image.resize((width, height), Image.BILINEAR)
        if flip:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
    expected = np.array(image).reshape(height, width, channels).transpose(2, 0, 1)
    (x,), _ = data[item]
    assert x.dtype.is_floating_point is False and tuple(x.shape) == (channels, height, width)
    diff = np.abs(x.numpy().astype(int) - expected.astype(int))
    worst, total, count = max(worst, int(diff.max())), total + diff.sum(), count + diff.size
    pixels.append(x.numpy().tolist())
print(json.dumps({{"max": worst, "mean": float(total / count), "pixels": pixels}}))
"""


def worker_views(python: str, packages: Path, package: str, root: Path, decoder: str) -> dict:
    done = subprocess.run(
        [python, "-c", WORKER_VIEWS.format(package=package), str(root), decoder],
        cwd=packages / "torch",
        env=test_train_torch.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def grey_jpegs(packages: Path, jpegs: Path) -> Path:
    """`grey`, the crops spec on one channel built for torch, and the JPEG files in grey."""
    from PIL import Image

    spec = SPEC.replace("[3, 16, 16]", "[1, 16, 16]").replace("Crops", "Grey")
    spec = spec.replace("[0.5, 0.4, 0.3]", "[0.5]").replace("[0.2, 0.25, 0.3]", "[0.2]")
    (packages / "grey.yaml").write_text(spec, encoding="utf-8")
    build(packages / "grey.yaml", backend="torch", out=packages / "torch" / "grey")
    root = packages / "grey_jpegs"
    for path in jpegs.rglob("*.jpg"):
        (root / path.parent.name).mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            image.convert("L").save(root / path.parent.name / path.name, quality=95)
    return root


@pytest.mark.parametrize("images", ["noise_png", "ramp_jpeg"])
@pytest.mark.parametrize("package", ["crops", "grey"])
def test_torch_workers_crop_resize_and_flip_as_pillow(
    packages: Path, jpegs: Path, grey_jpegs: Path, package: str, images: str
) -> None:
    """Training views of two epochs and held-out views, against Pillow's crop, then bilinear
    resize, then flip of the same view, as torchvision's transforms do them (the workers
    resize with torch's uint8 kernel): at most
    3 uint8 steps apart, 0.05 on average. Antialiasing left out, or a view off by a pixel,
    differs by tens on the noise images."""
    if images == "noise_png":
        root = packages / "images" / "train"
    else:
        root = grey_jpegs if package == "grey" else jpegs
    result = worker_views(sys.executable, packages, package, root, "pillow")
    assert result["max"] <= 3 and result["mean"] < 0.05, (result["max"], result["mean"])


@pytest.mark.skipif(REFERENCE_PYTHON is None, reason="needs torchvision: run `make references`")
@pytest.mark.parametrize("package", ["crops", "grey"])
def test_torch_workers_decode_jpeg_with_torchvision_as_pillow_does_references(
    packages: Path, jpegs: Path, grey_jpegs: Path, package: str
) -> None:
    """With torchvision installed, the workers decode JPEG files (RGB ones for an RGB input,
    grey ones for a grey input) with its decode_jpeg: the very pixels Pillow's decoding
    gives."""
    root = grey_jpegs if package == "grey" else jpegs
    ours = worker_views(REFERENCE_PYTHON, packages, package, root, "torchvision")
    pillow = worker_views(REFERENCE_PYTHON, packages, package, root, "pillow")
    assert ours["pixels"] == pillow["pixels"]
    assert ours["max"] <= 3 and ours["mean"] < 0.05, (ours["max"], ours["mean"])


# ----------------------------------------------------------------------------- --decode device

DECODE = """
import json, sys, torch
from pathlib import Path
from crops import train as program
root = Path(sys.argv[1])
pillow = program.ImageFolder(root, False, seed=3)
device = program.ImageFolder(root, False, seed=3, encoded=True)
spec = program.INPUTS["x"]
diffs = []
for item in [(i, epoch) for epoch in (0, 1) for i in range(len(pillow))] + [0, 1, 2]:
    (a,), _ = pillow[item]
    (batch,), _ = program.collate([device[item]])
    b = program.decode_on_device(batch, spec, torch.device("cpu"))[0]
    diffs.append(float((a.float() - b.float()).abs().mean()))
print(json.dumps({"diffs": diffs}))
"""


@pytest.fixture(scope="module")
def jpegs(packages: Path) -> Path:
    """JPEG files of several sizes, one class folder each: smooth left-to-right and
    top-to-bottom ramps, so that a wrong crop, resize or flip shows as a large difference."""
    from PIL import Image

    root = packages / "jpegs"
    for i, (width, height) in enumerate([(40, 30), (30, 45), (64, 48), (48, 64)]):
        folder = root / str(i % 2)  # the spec's two classes
        folder.mkdir(parents=True, exist_ok=True)
        x, y = np.meshgrid(np.linspace(0, 255, width), np.linspace(0, 255, height))
        pixels = np.stack([x, y, 255 - x], axis=-1).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=95)
    return root


def test_decoding_on_the_device_needs_torchvision_and_says_so(packages: Path, jpegs: Path) -> None:
    """(The test environment has no torchvision: it needs a torch build of its own.)"""
    done = test_train_torch.train(
        packages / "torch", "--data", jpegs, "--decode", "device", package="crops"
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "--decode device needs torchvision: pip install torchvision" in done.stderr


@pytest.mark.skipif(REFERENCE_PYTHON is None, reason="needs torchvision: run `make references`")
def test_decoding_on_the_device_sees_what_pillow_sees_and_trains(
    packages: Path, jpegs: Path
) -> None:
    """--decode device: torchvision decodes the JPEG files (here on the CPU; nvJPEG on CUDA)
    and crops, resizes and flips them as the Pillow path does, to a rounding, for training
    views of two epochs and held-out views; and a run trains with it."""
    done = subprocess.run(
        [REFERENCE_PYTHON, "-c", DECODE, str(jpegs)],
        cwd=packages / "torch",
        env=test_train_torch.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    diffs = json.loads(done.stdout.splitlines()[-1])["diffs"]
    assert len(diffs) == 11 and max(diffs) < 2.0, diffs  # in uint8 steps; a flip is ~100
    run_dir = packages / "run_decode_device"
    command = [REFERENCE_PYTHON, "-m", "crops.train", "--no-progress", "--data", str(jpegs)]
    command += ["--decode", "device", "--device", "cpu", "--run-dir", str(run_dir)]
    done = subprocess.run(
        command,
        cwd=packages / "torch",
        env=test_train_torch.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]


# ----------------------------------------------------------------------------- uint8 transfer

UINT8_TORCH = """
import json, sys, torch
from pathlib import Path
from torch.utils.data import DataLoader
from crops import train as program
data = program.ImageFolder(Path(sys.argv[1]) / "train", False, seed=0)
(x,), _ = next(iter(DataLoader(data, batch_size=4, collate_fn=program.collate)))
trainer = program.Trainer(torch.nn.Identity(), None, torch.device("cpu"), "off", False)
float_x = trainer.input(x, program.INPUTS["x"])
mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (program.MEAN, program.STD))
expected = (x.float() / 255 - mean) / std
print(json.dumps({"loaded": str(x.dtype), "diff": float((float_x - expected).abs().max())}))
"""

UINT8_KERAS = """
import argparse, json, sys, numpy as np
from crops import train as program
from crops.model import build_model
args = argparse.Namespace(data=sys.argv[1], resize=False, global_batch=4, seed=0, epochs=1)
make_train, _, _, _ = program.folder_datasets(args)
images, _ = next(iter(make_train(0, 0)))
model = build_model()
trained = program.with_scaling(model, {"x"})
x = np.asarray(images)
direct = model(program.to_float(x, program.INPUTS["x"]))
print(json.dumps({
    "loaded": str(images.dtype.name),
    "model_input": str(trained.inputs[0].dtype),
    "diff": float(np.abs(np.asarray(trained(x)) - np.asarray(direct)).max()),
}))
"""


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_images_leave_host_memory_as_uint8_and_are_scaled_on_the_device(
    backend: str, packages: Path
) -> None:
    """Image batches cross to the device as uint8 (a quarter of float32's bytes); the torch
    step (Trainer.input) and the Keras trained model (with_scaling) scale and normalise them
    there, to what the host would have computed."""
    script = UINT8_TORCH if backend == "torch" else UINT8_KERAS
    result = json.loads(run(backend, packages, script, packages / "images").splitlines()[-1])
    assert result["loaded"] in ("torch.uint8", "uint8")
    if backend == "keras":
        assert result["model_input"] == "uint8"
    assert result["diff"] < 1e-5, result


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_uint8_value_targets_are_taken_as_the_numbers_they_are(
    backend: str, packages: Path
) -> None:
    """A uint8 mask of 0 and 1 as mse targets trains towards 0 and 1 in both programs (Keras
    used to scale it by 1/255 as if it were pixels; only an autoencoder's uint8 targets, its
    input, are scaled, as the input is)."""
    result = json.loads(run(backend, packages, TARGETS).splitlines()[-1])
    assert result == {"dtype": "float32", "values": [0.0, 1.0]}


# ----------------------------------------------------------------------------- tar shards


def shards_of(folder: Path, out: Path, per_shard: int = 3) -> None:
    """The images of a class-folder tree as WebDataset-style tar shards (`<key>.png` and
    `<key>.cls`), in the folder's sample order (classes, then names), `per_shard` a shard."""
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    samples = [
        (path, label)
        for label, name in enumerate(classes)
        for path in sorted((folder / name).iterdir())
    ]
    out.mkdir(parents=True)
    for start in range(0, len(samples), per_shard):
        with tarfile.open(out / f"shard-{start // per_shard:04d}.tar", "w") as tar:
            for i, (path, label) in enumerate(samples[start : start + per_shard], start):
                tar.add(path, arcname=f"{i:06d}{path.suffix}")
                text = str(label).encode()
                info = tarfile.TarInfo(f"{i:06d}.cls")
                info.size = len(text)
                tar.addfile(info, io.BytesIO(text))


@pytest.fixture(scope="module")
def shards(packages: Path) -> Path:
    """The images/ tree as shards: train/ and val/ folders of .tar files."""
    root = packages / "shards"
    for part in ("train", "val"):
        shards_of(packages / "images" / part, root / part)
    return root


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_tar_shards_train_exactly_as_the_same_images_in_class_folders(
    backend: str, packages: Path, shards: Path
) -> None:
    """Each train.py reads WebDataset-style shards (a folder of .tar files, or train/ and
    val/ folders of them) as it reads class folders: the same samples in the same order, so
    the same augmentation and exactly the same weights; a sample without a class index is
    refused with its name."""
    program = PROGRAMS[backend]
    weights = "model.pt" if backend == "torch" else "model.weights.h5"
    runs = {}
    for name, data in (("folders", packages / "images"), ("shards", shards)):
        runs[name] = packages / f"run_{backend}_{name}"
        args = ["--data", data, "--run-dir", runs[name]]
        done = program.ok(program.train(packages / backend, *args, package="crops"))
        if backend == "torch":
            assert "16 samples of" in done.stdout
    diff = program.compare(runs["folders"] / weights, runs["shards"] / weights)
    assert diff["max_diff"] == 0.0, diff
    broken = packages / f"broken_shards_{backend}"
    shards_of(packages / "images" / "train", broken)
    with tarfile.open(broken / "shard-0000.tar", "a") as tar:
        tar.add(next((packages / "images" / "train" / "a").iterdir()), arcname="extra.png")
    done = program.train(packages / backend, "--data", broken, package="crops")
    assert done.returncode == 2
    assert (
        "shard-0000.tar:extra.png: needs extra.cls holding a class index in [0, 2)" in done.stderr
    )


def test_a_broken_image_in_a_shard_is_one_line_naming_it_in_keras(
    packages: Path, shards: Path
) -> None:
    """TensorFlow cannot decode a truncated image read from a shard: the line names the
    shard and the member."""
    broken = packages / "broken_member_keras"
    shutil.copytree(shards, broken)
    victim = broken / "train" / "shard-0001.tar"
    with tarfile.open(victim) as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar]
    with tarfile.open(victim, "w") as tar:
        for info, data in members:
            if info.name.endswith(".png"):
                data = data[:60]
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    args = ["--data", broken, "--run-dir", packages / "broken_member_run_keras"]
    done = test_train_keras.train(packages / "keras", *args, package="crops")
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {victim}:") and "cannot read the image" in last, last


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_a_broken_image_is_one_line_naming_it(backend: str, packages: Path, jpegs: Path) -> None:
    """A truncated JPEG (not the first file, which is read before any worker starts) stops
    the run with exit status 2 and one line naming the file: not a torch worker's traceback,
    nor TensorFlow's, whose error does not name the file."""
    broken = packages / f"broken_jpegs_{backend}"
    shutil.copytree(jpegs, broken)
    victim = sorted(broken.rglob("*.jpg"))[-1]
    victim.write_bytes(victim.read_bytes()[:300])
    args = ["--data", broken, "--resize", "--run-dir", packages / f"broken_run_{backend}"]
    if backend == "torch":
        done = test_train_torch.train(packages / "torch", *args, "--workers", "1", package="crops")
    else:
        done = test_train_keras.train(packages / "keras", *args, package="crops")
    assert done.returncode == 2, done.stderr[-2000:]
    # the program's last line (TensorFlow's decoding threads may still print a libjpeg
    # warning after it, from C)
    ours = [x for x in done.stderr.splitlines() if x.startswith("error: ")]
    assert ours[-1].startswith(f"error: {victim}: cannot read the image"), ours
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_a_broken_held_out_image_is_one_line_naming_it(backend: str, packages: Path) -> None:
    """A truncated image among the held-out ones, read when the first epoch is evaluated:
    one line naming it (Keras looks through the held-out files first, then)."""
    broken = packages / f"broken_val_{backend}"
    shutil.copytree(packages / "images", broken)
    victim = sorted((broken / "val").rglob("*.png"))[-1]
    victim.write_bytes(victim.read_bytes()[:100])
    args = ["--data", broken, "--run-dir", packages / f"broken_val_run_{backend}"]
    done = PROGRAMS[backend].train(packages / backend, *args, package="crops")
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {victim}: cannot read the image"), last


TRIVIAL_REFERENCE = """
import json, numpy as np
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import TrivialAugmentWide, _apply_op
from crops import train as program
space = TrivialAugmentWide()._augmentation_space(31)
assert list(space) == list(program.TRIVIAL_OPS)
for name, (magnitudes, signed) in space.items():
    if name in program.TRIVIAL_RANGES:  # the same 31 float32 values, bit for bit
        assert program.linspace(*program.TRIVIAL_RANGES[name], 31) == magnitudes.tolist(), name
    assert signed == (name in program.TRIVIAL_RANGES and name != "Solarize"), name
rng = np.random.default_rng(0)
compared = different = 0
for mode, shape in (("RGB", (37, 45, 3)), ("L", (37, 45))):
    image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)
    for name, (magnitudes, signed) in space.items():
        for magnitude in magnitudes.reshape(-1).tolist():
            for sign in (1.0, -1.0) if signed else (1.0,):
                ours = program.trivial_augment(image, name, sign * magnitude)
                theirs = _apply_op(image, name, sign * magnitude, InterpolationMode.NEAREST, None)
                compared += 1
                different += not np.array_equal(np.asarray(ours), np.asarray(theirs))
print(json.dumps({"compared": compared, "different": different}))
"""


@pytest.mark.skipif(REFERENCE_PYTHON is None, reason="needs torchvision: run `make references`")
def test_trivial_augment_is_torchvisions_references(packages: Path) -> None:
    """Every operation at every magnitude (and sign), on RGB and grey images: the pixels of
    torchvision's TrivialAugmentWide (its Pillow path), and its magnitude tables."""
    done = subprocess.run(
        [REFERENCE_PYTHON, "-c", TRIVIAL_REFERENCE],
        cwd=packages / "torch",
        env=test_train_torch.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["compared"] > 700 and result["different"] == 0, result


TRIVIAL_TORCH = """
import sys, numpy as np
from pathlib import Path
from trivial import train as program
data = program.ImageFolder(Path(sys.argv[1]), False, seed=0)
order = program.TRIVIAL_OPS
names = [program.trivial_draw(0, 0, index)[0] for index in range(len(data))]
images = [data[(index, 0)][0][0].numpy().transpose(1, 2, 0) for index in range(len(data))]
np.savez(sys.argv[2], images=np.stack(images), names=np.array(names))
"""

TRIVIAL_KERAS = """
import argparse, sys, numpy as np
from trivial import train as program
args = argparse.Namespace(data=sys.argv[1], resize=False, global_batch=16, seed=0, epochs=1)
make_train, _, _, _ = program.folder_datasets(args)
images, _ = next(iter(make_train(0, 0)))  # the first epoch's 16 images, in its order
order = program.epoch_order(16, 0, np.int64(0)).numpy()
by_index = np.empty_like(np.asarray(images))
by_index[order] = np.asarray(images)
np.savez(sys.argv[2], images=by_index)
"""


def test_both_programs_give_a_training_image_the_same_trivial_augment(packages: Path) -> None:
    """The 16 training images of epoch 0, cropped, flipped and TrivialAugmentWide-ed by each
    program: the same pixels to a rounding (Pillow and TensorFlow resize a little apart, and
    a few operations, posterize or equalize, can turn one step of difference into more)."""
    train = packages / "images" / "train"
    run("torch", packages, TRIVIAL_TORCH, train, packages / "trivial_torch.npz")
    run("keras", packages, TRIVIAL_KERAS, train, packages / "trivial_keras.npz")
    torch_out = np.load(packages / "trivial_torch.npz")
    keras_out = np.load(packages / "trivial_keras.npz")
    assert len(set(torch_out["names"].tolist())) >= 6  # several operations drawn
    difference = np.abs(torch_out["images"].astype(int) - keras_out["images"].astype(int))
    per_image = difference.mean(axis=(1, 2, 3))
    print(f"mean difference {difference.mean():.3f} of a uint8 step; per image {per_image}")
    assert per_image.max() < 8.0, per_image  # another operation's image differs by tens
    assert difference.mean() < 3.0, difference.mean()  # (crops alone: about 1)


def test_trivial_augment_is_refused_with_decoding_on_the_device(
    packages: Path, jpegs: Path
) -> None:
    done = test_train_torch.train(
        packages / "torch", "--data", jpegs, "--decode", "device", package="trivial"
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "trivial_augment works on Pillow images" in done.stderr.strip().splitlines()[-1]
