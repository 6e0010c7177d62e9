"""The view of a spec's `train:` section that the `train.py` templates lay out.

Every choice is made here, per backend: the optimizer, the learning-rate schedule and the loss
as code, what the targets look like, and the run's defaults. The templates hold the program's
fixed text and drop these values in; they never branch on the spec.

Losses, and what the network's output and the data's targets must be:

- `cross_entropy`: the network outputs logits, targets are class indices.
  torch `nn.CrossEntropyLoss()`; Keras `SparseCategoricalCrossentropy(from_logits=True)`.
- `nll`: log-probabilities, class indices.
  torch `nn.NLLLoss()`; Keras `SparseCategoricalCrossentropy(from_logits=True)`.
- `mse`: any output, dense targets (one-hot).
  torch `nn.MSELoss()`; Keras `MeanSquaredError()`.
- `binary_cross_entropy`: probabilities, dense targets in [0, 1].
  torch `nn.BCELoss()`; Keras `BinaryCrossentropy(from_logits=False)`.
- `kl_div`: log-probabilities, probability targets.
  torch `nn.KLDivLoss(reduction="batchmean")`; Keras the program's `KLDiv` (sum over the
  classes, mean over the batch).

`nll` in Keras: log-probabilities are logits whose log-sum-exp is 0, so softmax cross-entropy
from them is exactly the negative log-likelihood. Keras's own `KLDivergence` wants
probabilities, so the Keras program carries a small `KLDiv` on log-probabilities that is
torch's `batchmean`. Integer labels are one-hot encoded for the dense losses.

Optimizers: torch's SGD and Adam add `weight_decay` to the gradient (L2); Keras's
`weight_decay` is decoupled (as AdamW). The two agree for `adamw` and whenever the decay is 0.
Keras's Adam gets torch's `epsilon=1e-8`. Schedules step once per epoch in both backends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netspec.emit.base import literal, pystr, wrap
from netspec.ir import Adam, AdamW, CosineSchedule, Sgd, StepSchedule, Train
from netspec.network import Network

DENSE_LOSSES = frozenset({"mse", "binary_cross_entropy", "kl_div"})
"""Losses whose targets are a vector per sample; integer labels are one-hot encoded for them."""

TORCH_LOSSES = {
    "cross_entropy": "nn.CrossEntropyLoss()",
    "nll": "nn.NLLLoss()",
    "mse": "nn.MSELoss()",
    "binary_cross_entropy": "nn.BCELoss()",
    "kl_div": 'nn.KLDivLoss(reduction="batchmean")',
}

KERAS_LOSSES = {
    "cross_entropy": (
        "keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)"
    ),
    "nll": "keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)",
    "mse": "keras.losses.MeanSquaredError(reduction=reduction)",
    "binary_cross_entropy": (
        "keras.losses.BinaryCrossentropy(from_logits=False, reduction=reduction)"
    ),
    "kl_div": "KLDiv(reduction=reduction)",
}

LOSS_NOTES = {
    "cross_entropy": "the network outputs logits; targets are class indices",
    "nll": "the network outputs log-probabilities; targets are class indices",
    "mse": "targets are vectors of the output's size (class indices are one-hot encoded)",
    "binary_cross_entropy": (
        "the network outputs probabilities; targets are in [0, 1] (indices are one-hot encoded)"
    ),
    "kl_div": (
        "the network outputs log-probabilities; targets are probabilities "
        "(indices are one-hot encoded)"
    ),
}


@dataclass(frozen=True)
class TrainingView:
    """What `train.py.jinja` and the README may use; every value is ready-made text."""

    sha256: str
    epochs: str
    batch_size: str
    lr: str
    num_classes: str
    unsupported: str
    """A string literal: why this network cannot be trained by the program ("" when it can)."""
    conv: str
    dense_targets: str
    accuracy: str
    run_dir: str
    run_dir_text: str
    loss_note: str
    optimizer: str
    """The `make_optimizer` body (one formatted statement)."""
    schedule: str
    """The `make_scheduler` body (torch) or the `learning_rate` body (Keras)."""
    loss: str
    """The `make_loss` body."""
    accuracy_metric: str
    """Keras only: the accuracy metric's constructor."""


def view(network: Network, backend: str) -> dict[str, Any]:
    """The `train` entry of the package templates' context."""
    train = network.spec.train
    out = network.output_shape
    unsupported = ""
    if len(out) != 1:
        unsupported = (
            f"train.py trains networks whose output is one vector per sample (classes,); "
            f"{network.name} outputs {tuple(out)}"
        )
    lr = train.optimizer.lr
    run_dir = f"runs/{network.name.lower()}"
    build = _torch if backend == "torch" else _keras
    optimizer, schedule, loss, metric = build(train)
    return {
        "train": TrainingView(
            sha256=pystr(network.sha256),
            epochs=literal(train.epochs),
            batch_size=literal(train.batch_size),
            lr=literal(float(lr)),
            num_classes=literal(int(out[0]) if len(out) == 1 else 0),
            unsupported=pystr(unsupported),
            conv=literal(len(network.input_shape) == 3),
            dense_targets=literal(train.loss in DENSE_LOSSES),
            accuracy=literal("accuracy" in train.metrics),
            run_dir=pystr(run_dir),
            run_dir_text=run_dir,
            loss_note=f"{train.loss}: {LOSS_NOTES[train.loss]}",
            optimizer=optimizer,
            schedule=schedule,
            loss=loss,
            accuracy_metric=metric,
        )
    }


def _kwargs(**kwargs: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in kwargs.items())


def _torch(train: Train) -> tuple[str, str, str, str]:
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
    elif isinstance(sched, CosineSchedule):
        line = "return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)"
    else:
        line = "return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)"
    schedule = wrap(line, 4)
    return optimizer, schedule, wrap(f"return {TORCH_LOSSES[train.loss]}", 4), ""


def _keras(train: Train) -> tuple[str, str, str, str]:
    opt = train.optimizer
    decay = literal(opt.weight_decay) if opt.weight_decay else "None"
    if isinstance(opt, Sgd):
        args = _kwargs(
            learning_rate="lr",
            momentum=literal(opt.momentum),
            nesterov=literal(opt.nesterov),
            weight_decay=decay,
        )
        callee = "keras.optimizers.SGD"
    elif isinstance(opt, AdamW):
        args = _kwargs(learning_rate="lr", weight_decay=decay, epsilon="1e-08")
        callee = "keras.optimizers.AdamW"
    else:
        assert isinstance(opt, Adam), opt
        args = _kwargs(learning_rate="lr", weight_decay=decay, epsilon="1e-08")
        callee = "keras.optimizers.Adam"
    optimizer = wrap(f"return {callee}({args})", 4)
    sched = train.schedule
    if isinstance(sched, StepSchedule):
        expr = f"lr * {literal(sched.gamma)} ** (epoch // {literal(sched.step_size)})"
    elif isinstance(sched, CosineSchedule):
        expr = "lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))"
    else:
        expr = "lr"
    metric = (
        'keras.metrics.CategoricalAccuracy(name="accuracy")'
        if train.loss in DENSE_LOSSES
        else 'keras.metrics.SparseCategoricalAccuracy(name="accuracy")'
    )
    return optimizer, f"    return {expr}", wrap(f"return {KERAS_LOSSES[train.loss]}", 4), metric
