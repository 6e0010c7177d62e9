"""The training objective, defined once: what each loss computes, what the network's output must
be for it, what the targets are, and what `accuracy` means.

Both emitters and the docs follow this module; the validation pass here turns every mismatch
between a network's output and its loss into a located error, because a mismatch does not fail
loudly at run time: it trains another objective (a softmax before `cross_entropy` applies
softmax twice; probabilities fed to `nll` give negative losses).

The output's *kind* is the activation that produces it: `softmax`, `log_softmax`, `sigmoid`,
another activation, or none (a linear layer: logits). Dropout and Gaussian noise pass their
input's kind through.
"""

from __future__ import annotations

from dataclasses import dataclass

from netspec.errors import Problem, SpecError
from netspec.ir import (
    IMAGENET,
    ActivationFn,
    Data,
    Dropout,
    GaussianNoise,
    LayerBase,
    Shape,
    Train,
    fmt,
)
from netspec.passes import Graph, Node
from netspec.spec import SourceMap

CLASS_LOSSES = frozenset({"cross_entropy", "nll", "kl_div"})
"""Losses over one distribution of K >= 2 classes per sample."""
PER_STEP_LOSSES = frozenset({"cross_entropy", "nll"})
"""Class losses that also take a (T, K) output: one distribution per step."""


@dataclass(frozen=True)
class Objective:
    """What the generated training programs compute for one spec (decided here, laid out by the
    emitters)."""

    loss: str
    from_logits: bool
    """binary_cross_entropy: the output is a logit (True) or a probability (False)."""
    accuracy: str | None
    """None, `categorical` (argmax against the class), or `binary` (thresholded per unit)."""
    autoencoder: bool
    """mse on an output shaped like the input: synthetic targets are the input itself."""
    per_step: bool = False
    """A class loss on a (T, K) output: a distribution over K classes at each of T steps, the
    targets (T,) class indices per sample; the loss is the mean over the batch's steps (those
    whose target is `ignore_index` left out) and accuracy each sample's fraction of correct
    steps."""
    ignore_index: int | None = None
    label_smoothing: float | None = None
    """cross_entropy: the share of each target spread evenly over the classes."""
    output: str = ""
    """The node whose output the loss applies to (`train.output`, or the first output)."""
    data: Data | None = None
    """How image inputs are normalised and augmented (`train.data`, or `data_default`)."""


def final_activation(layer: LayerBase) -> str | None:
    """The activation a layer ends in: its own type for an activation layer, its fused
    `activation:` for conv and dense, None for a linear layer."""
    fused = getattr(layer, "activation", None)
    if fused is not None:
        return fused.type
    return layer.type if isinstance(layer, ActivationFn) else None


def output_kind(nodes: dict[str, Node], output: str) -> tuple[str | None, Node]:
    """The activation that produces the network's output, and the node that applies it."""
    node = nodes[output]
    while isinstance(node.layer, (Dropout, GaussianNoise)) and node.inputs[0] in nodes:
        node = nodes[node.inputs[0]]
    return final_activation(node.layer), node


def _needs(loss: str, activation: str | None, shape: Shape) -> str | None:
    """Why `loss` cannot take an output of `shape` made by `activation` (None: it can), with
    the fix."""
    ends = (
        f"the network ends in {activation}" if activation else "the network ends in a linear layer"
    )
    if loss in CLASS_LOSSES or loss == "binary_cross_entropy":
        steps = len(shape) == 2 and loss in PER_STEP_LOSSES
        if len(shape) != 1 and not steps:
            return (
                f"loss {loss} needs one vector per sample"
                + (" or, per step, a (T, K) sequence" if loss in PER_STEP_LOSSES else "")
                + f", but the network outputs {fmt(shape)}; "
                + (
                    "end it in global_avgpool1d or select and a dense layer"
                    if len(shape) == 2
                    else "end it in global_avgpool2d or flatten and a dense layer"
                )
            )
    if loss in CLASS_LOSSES and shape[-1] < 2:
        return (
            f"loss {loss} needs at least 2 classes, but the network outputs {fmt(shape)}; "
            "for one output unit use binary_cross_entropy"
        )
    if loss == "cross_entropy" and activation in ("softmax", "log_softmax", "sigmoid"):
        fix = {
            "softmax": "remove the softmax (the loss applies it), or end in log_softmax and "
            "use loss nll",
            "log_softmax": "use loss nll, which takes log-probabilities, or remove the log_softmax",
            "sigmoid": "remove the sigmoid, or use loss binary_cross_entropy for independent "
            "labels",
        }[activation]
        return f"loss cross_entropy takes logits, but {ends}: {fix}"
    if loss in ("nll", "kl_div") and activation != "log_softmax":
        return (
            f"loss {loss} takes log-probabilities, but {ends}: end the network in log_softmax "
            "(a layer, or activation: log_softmax)"
            + ("; or use loss cross_entropy on logits" if loss == "nll" else "")
        )
    if loss == "binary_cross_entropy" and activation in ("softmax", "log_softmax"):
        return (
            f"loss binary_cross_entropy takes one probability (sigmoid) or one logit per unit, "
            f"but {ends}: use sigmoid or no activation, or loss "
            f"{'cross_entropy' if activation == 'softmax' else 'nll'} for exclusive classes"
        )
    return None


def default_loss(activation: str | None, output: Shape) -> str:
    """The loss of a spec that names none, from what its output is: for one vector per sample,
    log-probabilities train with `nll`, sigmoid units with `binary_cross_entropy`, K >= 2
    scores with `cross_entropy` (a softmax too, and so the error that says to remove it);
    for a (T, K) sequence the same per step, but sigmoids; anything else (one linear unit, an
    image) with `mse`."""
    if len(output) == 2 and activation != "sigmoid":
        return _class_loss(activation, output[-1])
    if len(output) != 1:
        return "mse"
    if activation == "sigmoid":
        return "binary_cross_entropy"
    return _class_loss(activation, output[0])


def _class_loss(activation: str | None, classes: int) -> str:
    if classes < 2:
        return "mse"
    return "nll" if activation == "log_softmax" else "cross_entropy"


def data_default(loss: str, inputs: list[Shape], per_step: bool) -> Data | None:
    """torchvision's ImageNet recipe for a classifier of one 3x224x224 image input (what its
    users expect of such a network), else nothing: pixels in [0, 1], no augmentation."""
    if inputs == [(3, 224, 224)] and loss in CLASS_LOSSES and not per_step:
        return IMAGENET
    return None


def _check_data(data: Data, inputs: list[Shape], source: SourceMap) -> list[Problem]:
    images = [shape for shape in inputs if len(shape) == 3]
    where = ("train", "data")
    if not images:
        return [source.problem(where, "data: prepares images, and the network takes none")]
    problems = []
    channels = {shape[0] for shape in images}
    if data.mean is not None and {len(data.mean)} != channels:
        problems.append(
            source.problem(
                (*where, "mean"),
                f"mean and std have {len(data.mean)} values, the images have "
                f"{' or '.join(map(str, sorted(channels)))} channels",
            )
        )
    side = max(max(shape[1:]) for shape in images)
    if data.eval_resize is not None and data.eval_resize < side:
        problems.append(
            source.problem(
                (*where, "eval_resize"),
                f"eval_resize {data.eval_resize} is below the input size {side}: the center "
                f"crop would not fit",
            )
        )
    return problems


def _check_mixing(
    data: Data, train: Train, loss: str, output: Shape, inputs: int, source: SourceMap
) -> list[Problem]:
    """MixUp and CutMix mix the images of a batch and their class targets: one image input,
    a vector of class scores and cross_entropy, whose targets may be probability rows."""
    used = [name for name in ("mixup", "cutmix") if getattr(data, name) is not None]
    if not used:
        return []
    where = ("train", "data", used[0])
    if loss != "cross_entropy":
        return [
            source.problem(
                where, f"{used[0]} mixes class targets: the loss must be cross_entropy, not {loss}"
            )
        ]
    if len(output) != 1:
        return [
            source.problem(
                where,
                f"{used[0]} mixes one class target per sample: the "
                f"output must be (K,) class scores, not {fmt(output)}",
            )
        ]
    if train.ignore_index is not None:
        return [
            source.problem(
                where,
                f"{used[0]} with ignore_index: a mixed target has no "
                "class index to ignore; leave one out",
            )
        ]
    if inputs != 1:
        return [
            source.problem(
                where, f"{used[0]} mixes the images of one input; the network takes {inputs}"
            )
        ]
    return []


def objective(
    loss: str,
    train: Train,
    activation: str | None,
    input_shape: Shape | None,
    output: Shape,
    trained: str = "",
) -> Objective:
    """The objective of a valid spec (`check` has accepted it); `input_shape` is None for a
    network of several inputs (none of which is an autoencoder's target)."""
    per_step = loss in PER_STEP_LOSSES and len(output) == 2
    if train.metrics is None:
        wants_accuracy = loss != "mse"
    else:
        wants_accuracy = "accuracy" in train.metrics
    accuracy = None
    if wants_accuracy:
        accuracy = "binary" if loss == "binary_cross_entropy" else "categorical"
    return Objective(
        loss=loss,
        from_logits=activation != "sigmoid",
        accuracy=accuracy,
        autoencoder=loss == "mse" and output == input_shape,
        per_step=per_step,
        ignore_index=train.ignore_index,
        label_smoothing=train.label_smoothing,
        output=trained,
        data=train.data
        if train.data is not None
        else data_default(loss, [input_shape] if input_shape else [], per_step),
    )


def check(
    train: Train,
    graph: Graph,
    shapes: dict[str, Shape],
    source: SourceMap,
    outputs: list[str] | None = None,
) -> Objective:
    """The spec's objective; a located error when the output does not fit the loss.
    `outputs` are the spec's `outputs:` as written (a repeated layer or a block use is named
    there by what its last node is named in `graph.outputs`, in the same order)."""
    nodes = {n.name: n for n in graph.nodes}
    written = dict(zip(outputs or graph.outputs, graph.outputs))
    trained = written.get(train.output or "", train.output or graph.output)
    if trained not in graph.outputs:
        raise SpecError(
            [
                source.problem(
                    ("train", "output"),
                    f"train.output {ascii(trained)} is not an output of the network (outputs: "
                    f"{', '.join(written)})",
                )
            ]
        )
    activation, node = output_kind(nodes, trained)
    output = shapes[trained]
    loss = train.loss or default_loss(activation, output)
    where = (
        f" (loss on line {source.locate(('train', 'loss'))[0]})"
        if train.loss
        else f" (no loss is set; {loss} is the default for this output)"
    )
    problems: list[Problem] = []
    reason = _needs(loss, activation, output)
    if reason is not None:
        problems.append(source.problem(node.path, f"{node.name}: {reason}{where}"))
    explicit = train.metrics is not None and "accuracy" in train.metrics
    if explicit and loss == "mse" and (len(output) != 1 or output[0] < 2):
        problems.append(
            source.problem(
                ("train", "metrics"),
                f"accuracy needs class scores (K,) with K >= 2, but the network outputs "
                f"{fmt(output)}; remove it from metrics",
            )
        )
    if train.ignore_index is not None and loss != "cross_entropy":
        problems.append(
            source.problem(
                ("train", "ignore_index"),
                f"ignore_index is for the loss cross_entropy; the loss is {loss}",
            )
        )
    if train.label_smoothing is not None and loss != "cross_entropy":
        problems.append(
            source.problem(
                ("train", "label_smoothing"),
                f"label_smoothing is for the loss cross_entropy; the loss is {loss}",
            )
        )
    elif train.label_smoothing is not None and train.ignore_index is not None:
        problems.append(
            source.problem(
                ("train", "label_smoothing"),
                "label_smoothing with ignore_index is not supported (Keras has no sparse "
                "loss that does both); leave one out",
            )
        )
    if train.data is not None:
        problems += _check_data(train.data, [shapes[name] for name in graph.inputs], source)
        problems += _check_mixing(train.data, train, loss, output, len(graph.inputs), source)
    if problems:
        raise SpecError(problems)
    single = shapes[graph.inputs[0]] if len(graph.inputs) == 1 else None
    return objective(loss, train, activation, single, output, trained)
