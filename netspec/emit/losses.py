"""Each loss as code for each backend, following `netspec.objective` (docs/spec.md has the table
of losses, outputs and formulas).

- `cross_entropy` (logits): torch `nn.CrossEntropyLoss()`; Keras
  `SparseCategoricalCrossentropy` or `CategoricalCrossentropy` with `from_logits=True`. With
  `label_smoothing`, Keras's `CategoricalCrossentropy(label_smoothing=...)`, class indices
  through the program's `SmoothedSparseCrossentropy` (Keras's sparse loss has no smoothing).
- `nll` (log-probabilities): torch `nn.NLLLoss()`; Keras the program's `NLLLoss`.
- `kl_div` (log-probabilities): torch `nn.KLDivLoss(reduction="batchmean")`; Keras the
  program's `KLDivLoss`.
- `binary_cross_entropy` on logits: torch `nn.BCEWithLogitsLoss()`; Keras
  `BinaryCrossentropy(from_logits=True)`. On a sigmoid: the program's `ClippedBCELoss` in both.
- `mse`: torch `nn.MSELoss()`; Keras `MeanSquaredError()`.

Where Keras's own loss would compute something else, the Keras program carries a small loss
class: Keras has no NLL on log-probabilities; its `KLDivergence` takes probabilities; and its
`BinaryCrossentropy` on a sigmoid's output quietly uses the sigmoid's input on TensorFlow only.
Probabilities are clipped to [1e-7, 1 - 1e-7] in both backends (Keras's rule), so the two compute
the same loss and gradient even when the sigmoid saturates.
"""

from __future__ import annotations

from dataclasses import dataclass

from netspec.emit.base import wrap
from netspec.objective import Objective


@dataclass(frozen=True)
class LossCode:
    """A loss for one backend: `make_loss`'s body and the loss classes it needs (templates
    under `losses/`)."""

    body: list[str]
    classes: list[str]


def targets(objective: Objective, num_classes: int) -> str:
    """What the program compares the output with (the generated `TARGETS`): `classes` (indices
    or probability rows), `indices`, `probabilities` (indices are one-hot encoded), `binary`
    (0/1 per output unit), `values` (of the output's shape; indices one-hot encoded for a
    vector of classes) or `input` (the input itself: an autoencoder)."""
    return {
        "cross_entropy": "classes",
        "nll": "indices",
        "kl_div": "probabilities",
        "binary_cross_entropy": "binary",
        "mse": "input" if objective.autoencoder else "values",
    }[objective.loss]


def expected_targets(objective: Objective, output: tuple[int, ...]) -> str:
    """The targets a data set must hold, in words, for error messages and READMEs."""
    k = output[-1] if objective.per_step else output[0]
    steps = f"{output[0]}, " if objective.per_step else ""
    classes = f"(N, {steps.rstrip(', ')}) class indices" if steps else "(N,) class indices"
    classes += f" in [0, {k})"
    if objective.ignore_index is not None:
        classes += f" or {objective.ignore_index} (ignored)"
    shape = "(N, " + ", ".join(str(d) for d in output) + ")"
    return {
        "classes": f"{classes} or {shape} class probabilities",
        "indices": classes,
        "probabilities": f"{shape} class probabilities or {classes}",
        "binary": (f"(N,) or {shape} labels in [0, 1]" if k == 1 else f"{shape} labels in [0, 1]"),
        "values": f"{shape} values" + (f" or {classes}" if len(output) == 1 and k > 1 else ""),
        "input": f"{shape} values, or none (the input is the target)",
    }[targets(objective, k)]


def torch_loss(objective: Objective) -> LossCode:
    if objective.loss == "binary_cross_entropy" and not objective.from_logits:
        return LossCode(["    return ClippedBCELoss()"], ["clipped_bce"])
    options = []
    if objective.ignore_index is not None:
        options.append(f"ignore_index={objective.ignore_index}")
    if objective.label_smoothing is not None:
        options.append(f"label_smoothing={objective.label_smoothing!r}")
    expression = {
        "cross_entropy": f"nn.CrossEntropyLoss({', '.join(options)})",
        "nll": "nn.NLLLoss()",
        "kl_div": 'nn.KLDivLoss(reduction="batchmean")',
        "binary_cross_entropy": "nn.BCEWithLogitsLoss()",
        "mse": "nn.MSELoss()",
    }[objective.loss]
    return LossCode([f"    return {expression}"], [])


def keras_loss(objective: Objective) -> LossCode:
    if objective.loss == "cross_entropy" and objective.label_smoothing is not None:
        smoothing = f"label_smoothing={objective.label_smoothing!r}"
        dense = f"keras.losses.CategoricalCrossentropy(from_logits=True, {smoothing}"
        return LossCode(
            [
                "    if sparse:",
                wrap(f"return SmoothedSparseCrossentropy({smoothing}, reduction=reduction)", 8),
                wrap(f"return {dense}, reduction=reduction)", 4),
            ],
            ["smoothed_sparse_ce"],
        )
    if objective.loss == "cross_entropy":
        sparse = "keras.losses.SparseCategoricalCrossentropy"
        dense = "keras.losses.CategoricalCrossentropy"
        ignore = objective.ignore_index
        ignored = "" if ignore is None else f", ignore_class={ignore}"
        return LossCode(
            [
                "    if sparse:",
                wrap(f"return {sparse}(from_logits=True{ignored}, reduction=reduction)", 8),
                wrap(f"return {dense}(from_logits=True, reduction=reduction)", 4),
            ],
            [],
        )
    if objective.loss == "binary_cross_entropy" and objective.from_logits:
        line = "return keras.losses.BinaryCrossentropy(from_logits=True, reduction=reduction)"
        return LossCode([wrap(line, 4)], [])
    name, template = {
        "nll": ("NLLLoss", "nll"),
        "kl_div": ("KLDivLoss", "kl_div"),
        "binary_cross_entropy": ("ClippedBCELoss", "clipped_bce"),
        "mse": ("keras.losses.MeanSquaredError", ""),
    }[objective.loss]
    return LossCode([f"    return {name}(reduction=reduction)"], [template] if template else [])
