"""The `train:` section: loss, optimizer, schedule, batch size, epochs, metrics, and how
training images are prepared (`data:`)."""

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from netspec.ir.base import IRModel, tagged


class Sgd(IRModel):
    type: Literal["sgd"]
    lr: Annotated[float, Field(gt=0.0, le=10.0)] = 0.01
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.9
    nesterov: bool = False
    weight_decay: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0

    @field_validator("nesterov")
    @classmethod
    def _nesterov_needs_momentum(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("momentum") == 0:
            raise PydanticCustomError("nesterov", "nesterov needs momentum above 0", {})
        return value


class Adam(IRModel):
    type: Literal["adam"]
    lr: Annotated[float, Field(gt=0.0, le=10.0)] = 1e-3
    weight_decay: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0


class AdamW(IRModel):
    type: Literal["adamw"]
    lr: Annotated[float, Field(gt=0.0, le=10.0)] = 1e-3
    weight_decay: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.01


class StepSchedule(IRModel):
    """Multiply the learning rate by `gamma` every `step_size` epochs."""

    type: Literal["step"]
    step_size: Annotated[int, Field(ge=1, le=100_000)]
    gamma: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1


class CosineSchedule(IRModel):
    """Cosine decay from `lr` to 0 over the run's epochs; with `warmup_epochs` W, the first W
    epochs ramp up linearly (epoch e at lr * (e + 1) / (W + 1)) and the decay takes the rest."""

    type: Literal["cosine"]
    warmup_epochs: Annotated[int, Field(ge=0, le=100_000)] = 0


class NoSchedule(IRModel):
    type: Literal["none"]


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


Range = Annotated[
    tuple[Annotated[float, Field(gt=0.0, le=100.0)], Annotated[float, Field(gt=0.0, le=100.0)]],
    BeforeValidator(_as_tuple),
]
"""[low, high] with 0 < low <= high."""


class RandomResizedCrop(IRModel):
    """A random part of each training image, of `scale` (a share of its area) and `ratio`
    (width / height, drawn log-uniformly) within the ranges, resized to the input size:
    torchvision's RandomResizedCrop, whose defaults these are."""

    scale: Range = (0.08, 1.0)
    ratio: Range = (3 / 4, 4 / 3)

    @model_validator(mode="after")
    def _ranges_ascend(self) -> "RandomResizedCrop":
        for name in ("scale", "ratio"):
            low, high = getattr(self, name)
            if low > high:
                raise PydanticCustomError(
                    "range",
                    "{name} [{low}, {high}] is not [low, high]",
                    {"name": name, "low": low, "high": high},
                )
        if self.scale[1] > 1.0:
            raise PydanticCustomError(
                "range", "scale is a share of the image's area, at most 1.0", {}
            )
        return self


class Augment(IRModel):
    """Random changes to each training image read from an image folder, drawn anew each epoch
    from (seed, epoch, sample): the same in both backends."""

    random_resized_crop: RandomResizedCrop | None = None
    horizontal_flip: bool = False
    trivial_augment: bool = False
    """TrivialAugmentWide (Müller and Hutter 2021), torchvision's: after the crop and flip,
    one operation drawn from 14 (shears, translations, a rotation, colour, contrast,
    brightness, sharpness, posterize, solarize, autocontrast, equalize, identity) at one of
    31 magnitudes."""


Channels = Annotated[
    list[Annotated[float, Field(ge=-10.0, le=10.0)]], Field(min_length=1, max_length=4)
]


Alpha = Annotated[float, Field(gt=0.0, le=100.0)]
"""The parameter of a symmetric Beta(alpha, alpha) distribution."""


class Data(IRModel):
    """How image inputs are prepared: pixels scaled to [0, 1], then `(x - mean) / std` per
    channel (every data source, training and held-out); image folders get `augment` in
    training, and held-out images are resized to `eval_resize` on the shorter side and
    center-cropped to the input size (without it: resized to the input size). `mixup` and
    `cutmix` mix each training batch, from any source (netspec.objective requires a class
    loss); with both, each batch gets one of them, half of the time each."""

    mean: Channels | None = None
    std: Channels | None = None
    augment: Augment = Augment()
    eval_resize: Annotated[int, Field(ge=1, le=1 << 16)] | None = None
    mixup: Alpha | None = None
    """MixUp (Zhang et al. 2018): each sample and its targets become lam x themselves +
    (1 - lam) x the previous sample's in the batch, lam ~ Beta(mixup, mixup)."""
    cutmix: Alpha | None = None
    """CutMix (Yun et al. 2019): a box of the previous sample in the batch is pasted into each
    sample, its area a share 1 - lam (lam ~ Beta(cutmix, cutmix)) clipped to the image; the
    targets are mixed by the areas."""

    @model_validator(mode="after")
    def _mean_and_std_together(self) -> "Data":
        if (self.mean is None) != (self.std is None):
            raise PydanticCustomError("data", "give mean and std together", {})
        if self.std is not None and min(self.std) <= 0:
            raise PydanticCustomError("data", "std must be above 0", {})
        if self.mean is not None and len(self.mean) != len(self.std or ()):
            raise PydanticCustomError("data", "mean and std need one value per channel each", {})
        return self


IMAGENET = Data(
    mean=[0.485, 0.456, 0.406],
    std=[0.229, 0.224, 0.225],
    augment=Augment(random_resized_crop=RandomResizedCrop(), horizontal_flip=True),
    eval_resize=256,
)
"""torchvision's ImageNet recipe (references/classification): the default `data:` of a
classifier of 3x224x224 images."""


Optimizer = tagged(Sgd, Adam, AdamW)
Schedule = tagged(NoSchedule, StepSchedule, CosineSchedule)


class Train(IRModel):
    """Training defaults; every field is optional. What each loss takes and computes is
    defined in netspec.objective (and docs/spec.md)."""

    loss: Literal["cross_entropy", "nll", "mse", "binary_cross_entropy", "kl_div"] | None = None
    """None: chosen from the network's output (netspec.objective.default_loss)."""
    optimizer: Optimizer = Sgd(type="sgd")
    schedule: Schedule = NoSchedule(type="none")
    batch_size: Annotated[int, Field(ge=1, le=1 << 20)] = 64
    """Per device (GPU, or process on the CPU), as torchvision's and timm's; the global batch
    is this times the devices."""
    base_batch: Annotated[int, Field(ge=1, le=1 << 24)] | None = None
    """The global batch the optimizer's `lr` is meant for: a run scales it linearly to its own
    global batch (lr x global / base_batch; Goyal et al. 2017). None: lr as written."""
    epochs: Annotated[int, Field(ge=1, le=100_000)] = 10
    metrics: Annotated[list[Literal["accuracy"]], Field(max_length=4)] | None = None
    """None: accuracy for every loss but mse (see netspec.objective)."""
    clip_grad_norm: Annotated[float, Field(gt=0.0, le=1e6)] | None = None
    """Before each step, scale the gradients down so that their global 2-norm (over every
    weight) is at most this (torch's `clip_grad_norm_`, Keras's `global_clipnorm`)."""
    ignore_index: Annotated[int, Field(ge=-1, le=1 << 20)] | None = None
    """cross_entropy: targets equal to it (padding) count in neither the loss nor accuracy."""
    label_smoothing: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None
    """cross_entropy: the target distribution is (1 - e) x the target + e / K, spread over
    the K classes (torch's `CrossEntropyLoss(label_smoothing=e)`; Szegedy et al. 2016)."""
    output: Annotated[str, Field(max_length=64)] | None = None
    """The output the loss applies to, one of the spec's `outputs:` (None: the first)."""
    data: Data | None = None
    """None: IMAGENET for a classifier of 3x224x224 images, else no normalisation and no
    augmentation (netspec.objective decides)."""

    @model_validator(mode="after")
    def _warmup_within_the_run(self) -> "Train":
        warmup = getattr(self.schedule, "warmup_epochs", 0)
        if warmup >= self.epochs:
            raise PydanticCustomError(
                "warmup",
                "schedule.warmup_epochs {warmup} leaves none of the {epochs} epochs to decay "
                "over; warm up for fewer epochs",
                {"warmup": warmup, "epochs": self.epochs},
            )
        return self
