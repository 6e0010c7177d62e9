"""The view of a spec's `train:` section that the `train.py` templates lay out.

Every choice is made here, per backend: the optimizer, the learning-rate schedule and the loss
as code, what the targets look like, and the run's defaults. The templates hold the program's
fixed text and drop these values in; they never branch on the spec.

Losses, the targets they take and what `accuracy` means are decided in `netspec.objective`;
`netspec.emit.losses` writes each loss for each backend.

Optimizers follow torch's update rules, written out in docs/spec.md ("Train"): `sgd` is
`torch.optim.SGD` (weight decay coupled: added to the gradient as L2), `adam` is
`torch.optim.Adam` (coupled too) and `adamw` is `torch.optim.AdamW` (decoupled). Keras's own
optimizers differ (decoupled weight decay always, the learning rate inside SGD's velocity,
Adam's epsilon added before the bias correction), so the Keras program carries its own
`keras.optimizers.Optimizer` subclass with torch's rules, from templates/keras/optimizers/:
`TorchSGD`, or `TorchAdam` with `decoupled=True` for `adamw`. The same step on the same weights
and gradients gives the same weights in both backends (tests/test_optimizers.py).

Schedules set the learning rate once per epoch, the same in both backends: torch's scheduler
steps at each epoch's end; Keras's `learning_rate(epoch)` is set at each epoch's start (the
LearningRateScheduler callback, or the multi-worker loop) and the optimizer applies the current
rate at every step (its state never holds a learning rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netspec.emit import losses
from netspec.emit.base import literal, pystr, wrap
from netspec.ir import Adam, AdamW, CosineSchedule, Sgd, StepSchedule, Train
from netspec.network import Network


@dataclass(frozen=True)
class TrainingView:
    """What `train.py.jinja` and the README may use; every value is ready-made text."""

    sha256: str
    epochs: str
    batch_size: str
    base_batch: str
    """The global batch the learning rate is for (None: not scaled)."""
    lr: str
    num_classes: str
    output_shape: str
    targets: str
    """What the loss compares the output with (`netspec.emit.losses.targets`), a literal."""
    expected_targets: str
    """The targets a data set must hold, in words, as a string literal."""
    one_hot: str
    """Whether class indices are one-hot encoded for the loss."""
    per_step: str
    """A class loss at each step of a (T, K) output (`Objective.per_step`)."""
    ignore_index: str
    """Targets that count in neither loss nor accuracy (None: none)."""
    inputs: str
    """The `INPUTS` table: each input by its .npz array name (`x` for a spec's one `input:`),
    as `Input(shape, kind, vocab)`."""
    output_index: str
    """The trained output's place among the model's outputs (None: the model has one)."""
    untrained_weights: str
    """Whether some weights do not reach the trained output (torch's DDP must be told)."""
    clip: str
    """The global gradient norm steps are clipped to (None: no clipping)."""
    conv: str
    """Some input is an image: channels_last memory format pays off on GPUs."""
    accuracy: str
    """None, "categorical" or "binary", as a literal."""
    threshold: str
    """Binary accuracy: the output above which a unit counts as 1 (0 for logits)."""
    run_dir: str
    run_dir_text: str
    loss_note: str
    mean: str
    """Per channel, subtracted from image inputs scaled to [0, 1] (None: not normalised)."""
    std: str
    crop_scale: str
    """The random resized crop of training images from folders (None: no crop)."""
    crop_ratio: str
    flip: str
    """Training images from folders are flipped left-right half of the time."""
    trivial_augment: str
    """Training images from folders get TrivialAugmentWide, after the crop and flip."""
    eval_resize: str
    """Held-out images from folders: the shorter side resized to it, then center-cropped."""
    mixup: str
    """MixUp's Beta(alpha, alpha) parameter (None: no MixUp)."""
    cutmix: str
    """CutMix's (None: no CutMix)."""
    data_note: str
    """How images are prepared, in words (README)."""
    arrays_text: str
    """The arrays of an .npz data set, in words (Markdown)."""
    optimizer: str
    """The `make_optimizer` body (one formatted statement)."""
    optimizer_template: str
    """Keras only: the template under `optimizers/` of the optimizer class ("" for torch)."""
    schedule: str
    """The `make_scheduler` body (torch) or the `learning_rate` body (Keras)."""
    loss: str
    """The `make_loss` body."""
    loss_classes: list[str]
    """Templates under `losses/` of the loss classes `make_loss` uses."""


def view(network: Network, backend: str) -> dict[str, Any]:
    """The `train` entry of the package templates' context."""
    train = network.spec.train
    objective = network.objective
    out = network.shapes[objective.output]
    outputs = network.graph.outputs
    loss_code = losses.torch_loss(objective) if backend == "torch" else losses.keras_loss(objective)
    num_classes = int(out[-1]) if len(out) == 1 or objective.per_step else 0
    target_kind = losses.targets(objective, num_classes)
    lr = train.optimizer.lr
    run_dir = f"runs/{network.name.lower()}_{backend}"  # the two programs never mix runs
    build = _torch if backend == "torch" else _keras
    optimizer, schedule = build(train)
    return {
        "train": TrainingView(
            sha256=pystr(network.sha256),
            epochs=literal(train.epochs),
            batch_size=literal(train.batch_size),
            base_batch=literal(train.base_batch),
            lr=literal(float(lr)),
            num_classes=literal(num_classes),
            output_shape=literal(out),
            targets=pystr(target_kind),
            expected_targets=pystr(losses.expected_targets(objective, out)),
            one_hot=literal(
                (target_kind in ("probabilities", "values") and num_classes > 1)
                or _mixing(network)  # mixed targets are probability rows
            ),
            per_step=literal(objective.per_step),
            ignore_index=literal(objective.ignore_index),
            inputs=_inputs(network),
            output_index=literal(outputs.index(objective.output) if len(outputs) > 1 else None),
            untrained_weights=literal(_untrained_weights(network)),
            clip=literal(train.clip_grad_norm),
            conv=literal(any(len(shape) == 3 for shape in network.input_shapes.values())),
            accuracy=literal(objective.accuracy),
            threshold=literal(0.0 if objective.from_logits else 0.5),
            run_dir=pystr(run_dir),
            run_dir_text=run_dir,
            loss_note=_loss_note(network),
            **_data(network),
            arrays_text=_arrays_text(network),
            optimizer=optimizer,
            optimizer_template=_optimizer_template(train) if backend == "keras" else "",
            schedule=schedule,
            loss="\n".join(loss_code.body),
            loss_classes=loss_code.classes,
        )
    }


def _mixing(network: Network) -> bool:
    """Training batches are mixed (MixUp or CutMix)."""
    data = network.objective.data
    return data is not None and (data.mixup is not None or data.cutmix is not None)


def _data(network: Network) -> dict[str, str]:
    """The `data:` recipe (netspec.objective decides it) as the programs' constants."""
    data = network.objective.data
    crop = data.augment.random_resized_crop if data else None
    values = {
        "mean": literal(tuple(data.mean) if data and data.mean else None),
        "std": literal(tuple(data.std) if data and data.std else None),
        "crop_scale": literal(crop.scale if crop else None),
        "crop_ratio": literal(crop.ratio if crop else None),
        "flip": literal(bool(data and data.augment.horizontal_flip)),
        "trivial_augment": literal(bool(data and data.augment.trivial_augment)),
        "eval_resize": literal(data.eval_resize if data else None),
        "mixup": literal(data.mixup if data else None),
        "cutmix": literal(data.cutmix if data else None),
    }
    if data is None:
        note = "image pixels are scaled to [0, 1]; no augmentation"
    else:
        parts = ["image pixels are scaled to [0, 1]"]
        if data.mean:
            parts[0] += (
                f", then normalised per channel (mean {values['mean']}, std {values['std']})"
            )
        if crop:
            parts.append(
                f"training images from folders get a random resized crop (scale "
                f"{values['crop_scale']}, ratio {values['crop_ratio']})"
            )
        if data.augment.horizontal_flip:
            parts.append("a horizontal flip half of the time")
        if data.augment.trivial_augment:
            parts.append("then TrivialAugmentWide (one of 14 operations each)")
        mixing = [
            f"{name} (alpha {alpha!r})"
            for name, alpha in (("MixUp", data.mixup), ("CutMix", data.cutmix))
            if alpha is not None
        ]
        if mixing:
            parts.append(
                f"each training batch gets {' or '.join(mixing)}"
                + (", one of them at random" if len(mixing) > 1 else "")
            )
        if data.eval_resize:
            parts.append(
                f"held-out images are resized to {data.eval_resize} on the shorter side and "
                "center-cropped"
            )
        note = "; ".join(parts)
    return {**values, "data_note": note}


def _loss_note(network: Network) -> str:
    """The loss in words: which, on which output (of several), and its targets."""
    objective = network.objective
    on = f" on output {objective.output}" if len(network.graph.outputs) > 1 else ""
    expected = losses.expected_targets(objective, network.shapes[objective.output])
    return f"{objective.loss}{on} (targets: {expected})"


def _arrays_text(network: Network) -> str:
    """`x` (N, 3, 32, 32), `y` (N,): an .npz's arrays, each input's by its name."""
    expected = losses.expected_targets(network.objective, network.shapes[network.objective.output])
    names = network.graph.inputs if network.several_inputs else ["x"]
    arrays = [
        f"`{array}` (N, {', '.join(map(str, network.shapes[name]))})"
        for array, name in zip(names, network.graph.inputs)
    ]
    return ", ".join([*arrays, f"`y` ({expected})"])


def _inputs(network: Network) -> str:
    """The INPUTS table's text: `{name: Input(shape, kind, vocab)}`, kind "image" for a
    (C, H, W) input (uint8 pixels scaled to [0, 1] on the device), "tokens" for int64 ids,
    else "values"."""
    sources = network.spec.sources()
    entries = []
    for name in network.graph.inputs:
        shape, vocab = network.shapes[name], sources[name].vocab
        kind = "tokens" if vocab is not None else "image" if len(shape) == 3 else "values"
        array = name if network.several_inputs else "x"
        entry = f"Input({literal(shape)}, {pystr(kind)}, {literal(vocab)})"
        entries.append(f"    {pystr(array)}: {entry},")
    return "{\n" + "\n".join(entries) + "\n}"


def _untrained_weights(network: Network) -> bool:
    """Whether a layer with weights lies off every path to the trained output (another
    output's head, say): its weights get no gradient."""
    nodes = {node.name: node for node in network.graph.nodes}
    reached, todo = set(), [network.objective.output]
    while todo:
        name = todo.pop()
        if name in nodes and name not in reached:
            reached.add(name)
            todo.extend(nodes[name].inputs)
    used = reached | {nodes[name].shares for name in reached if nodes[name].shares}
    return any(stats.params and name not in used for name, stats in network.stats.items())


def _optimizer_template(train: Train) -> str:
    """The Keras program's optimizer class: `TorchSGD` (sgd) or `TorchAdam` (adam, adamw)."""
    return "sgd" if isinstance(train.optimizer, Sgd) else "adam"


def _clip(train: Train) -> str:
    """Keras clips in the optimizer, by the global norm as torch's `clip_grad_norm_`."""
    norm = train.clip_grad_norm
    return "" if norm is None else f", global_clipnorm={literal(norm)}"


def _kwargs(**kwargs: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in kwargs.items())


_COSINE_AFTER_WARMUP = "0.5 * (1.0 + math.cos(math.pi * (epoch - warmup) / decay))"
"""The cosine factor of an epoch after the warm-up (the same text in both programs)."""


def _torch(train: Train) -> tuple[str, str]:
    opt = train.optimizer
    if isinstance(opt, Sgd):
        args = _kwargs(
            lr="lr",
            momentum=literal(opt.momentum),
            nesterov=literal(opt.nesterov),
            weight_decay=literal(opt.weight_decay),
        )
        callee = "torch.optim.SGD"
    elif isinstance(opt, AdamW):
        args = _kwargs(lr="lr", weight_decay=literal(opt.weight_decay))
        callee = "torch.optim.AdamW"
    else:
        assert isinstance(opt, Adam), opt
        args = _kwargs(lr="lr", weight_decay=literal(opt.weight_decay))
        callee = "torch.optim.Adam"
    optimizer = wrap(f"return {callee}(params, {args}, fused=fused)", 4)
    sched = train.schedule
    if isinstance(sched, StepSchedule):
        line = (
            "return torch.optim.lr_scheduler.StepLR(optimizer, "
            f"step_size={literal(sched.step_size)}, gamma={literal(sched.gamma)})"
        )
    elif isinstance(sched, CosineSchedule) and sched.warmup_epochs:
        return optimizer, "\n".join(
            [
                f"    warmup = {literal(sched.warmup_epochs)}",
                "    decay = max(1, epochs - warmup)  # --epochs may leave none",
                "",
                "    def factor(epoch: int) -> float:",
                "        if epoch < warmup:",
                "            return (epoch + 1) / (warmup + 1)",
                f"        return {_COSINE_AFTER_WARMUP}",
                "",
                "    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)",
            ]
        )
    elif isinstance(sched, CosineSchedule):
        line = "return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)"
    else:
        line = "return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)"
    schedule = wrap(line, 4)
    return optimizer, schedule


def _keras(train: Train) -> tuple[str, str]:
    opt = train.optimizer
    if isinstance(opt, Sgd):
        args = _kwargs(
            learning_rate="lr",
            momentum=literal(opt.momentum),
            nesterov=literal(opt.nesterov),
            weight_decay=literal(opt.weight_decay),
        )
        callee = "TorchSGD"
        args += _clip(train)
    else:
        assert isinstance(opt, (Adam, AdamW)), opt
        args = _kwargs(
            learning_rate="lr",
            weight_decay=literal(opt.weight_decay),
            decoupled=literal(isinstance(opt, AdamW)),
        )
        callee = "TorchAdam"
        args += _clip(train)
    optimizer = wrap(f"return {callee}({args})", 4)
    sched = train.schedule
    if isinstance(sched, StepSchedule):
        expr = f"lr * {literal(sched.gamma)} ** (epoch // {literal(sched.step_size)})"
    elif isinstance(sched, CosineSchedule) and sched.warmup_epochs:
        return optimizer, "\n".join(
            [
                f"    warmup = {literal(sched.warmup_epochs)}",
                "    decay = max(1, epochs - warmup)  # --epochs may leave none",
                "    if epoch < warmup:",
                "        return lr * (epoch + 1) / (warmup + 1)",
                f"    return lr * {_COSINE_AFTER_WARMUP}",
            ]
        )
    elif isinstance(sched, CosineSchedule):
        expr = "lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))"
    else:
        expr = "lr"
    return optimizer, f"    return {expr}"
