"""The `train:` section: loss, optimizer, schedule, batch size, epochs, metrics."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
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
    epochs: Annotated[int, Field(ge=1, le=100_000)] = 10
    metrics: Annotated[list[Literal["accuracy"]], Field(max_length=4)] | None = None
    """None: accuracy for every loss but mse (see netspec.objective)."""
    clip_grad_norm: Annotated[float, Field(gt=0.0, le=1e6)] | None = None
    """Before each step, scale the gradients down so that their global 2-norm (over every
    weight) is at most this (torch's `clip_grad_norm_`, Keras's `global_clipnorm`)."""
    ignore_index: Annotated[int, Field(ge=-1, le=1 << 20)] | None = None
    """cross_entropy: targets equal to it (padding) count in neither the loss nor accuracy."""
    output: Annotated[str, Field(max_length=64)] | None = None
    """The output the loss applies to, one of the spec's `outputs:` (None: the first)."""

    @model_validator(mode="after")
    def _warmup_within_the_run(self) -> Train:
        warmup = getattr(self.schedule, "warmup_epochs", 0)
        if warmup >= self.epochs:
            raise PydanticCustomError(
                "warmup",
                "schedule.warmup_epochs {warmup} leaves none of the {epochs} epochs to decay "
                "over; warm up for fewer epochs",
                {"warmup": warmup, "epochs": self.epochs},
            )
        return self
