"""Layers on any shape: dense, flatten, regularisers, merges (add, concat) and block uses."""

import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from netspec.ir.activations import Activation
from netspec.ir.base import (
    PARAM,
    Bool,
    LayerBase,
    Name,
    NonNegFloat,
    PosInt,
    Rate,
    Shape,
    ShapeError,
    _as_expr,
    describe,
    features,
    fmt,
)


class Flatten(LayerBase):
    """(C, H, W) -> (C*H*W,) in channels-first order, whatever the backend's layout."""

    type: Literal["flatten"]

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return (math.prod(inputs[0]),)

    def channels(self, inputs: list[str], rank: int) -> str | None:
        return None


class Dense(LayerBase):
    """A fully connected layer on (F,) features, or on each step of a (T, F) sequence."""

    type: Literal["dense"]
    units: PosInt
    bias: Bool = True
    activation: Activation | None = None

    def output_shape(self, inputs: list[Shape]) -> Shape:
        if len(inputs[0]) == 3:
            raise ShapeError(
                f"dense needs (F,) features or a (T, F) sequence, got {describe(inputs[0])}; "
                "add a flatten or a global pool"
            )
        return (*inputs[0][:-1], self.units)  # type: ignore[return-value]

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        return inputs[0][-1] * self.units + (self.units if self.bias else 0), 0

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        return math.prod(inputs[0]) * self.units

    def channels(self, inputs: list[str], rank: int) -> str | None:
        return _as_expr(self.units)


class Dropout(LayerBase):
    type: Literal["dropout"]
    rate: Rate


class GaussianNoise(LayerBase):
    """Adds N(0, stddev^2) noise while training; the identity at inference."""

    type: Literal["gaussian_noise"]
    stddev: NonNegFloat


class Add(LayerBase):
    """Element-wise sum of two or more inputs of one shape."""

    type: Literal["add"]
    arity: ClassVar[tuple[int, int]] = (2, 64)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        if any(s != inputs[0] for s in inputs):
            raise ShapeError(
                "add needs inputs of one shape, got " + " and ".join(fmt(s) for s in inputs)
            )
        return inputs[0]


class Concat(LayerBase):
    """Concatenation along `axis` of the per-sample shape (0: channels or features)."""

    type: Literal["concat"]
    axis: Annotated[int, Field(ge=0, le=2)] = 0
    arity: ClassVar[tuple[int, int]] = (2, 64)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        first = inputs[0]
        if self.axis >= len(first):
            raise ShapeError(f"concat axis {self.axis} is out of range for {fmt(first)}")
        for shape in inputs[1:]:
            if len(shape) != len(first) or any(
                a != b for i, (a, b) in enumerate(zip(shape, first)) if i != self.axis
            ):
                raise ShapeError(
                    f"concat along axis {self.axis} needs other axes equal, "
                    f"got {fmt(first)} and {fmt(shape)}"
                )
        return tuple(
            sum(s[i] for s in inputs) if i == self.axis else d for i, d in enumerate(first)
        )

    def channels(self, inputs: list[str], rank: int) -> str | None:
        features = 1 if rank == 2 else 0
        return " + ".join(inputs) if self.axis == features else inputs[0]


class Multiply(LayerBase):
    """Element-wise product of two or more inputs, broadcast: an axis of size 1 stretches, and
    a (C,) input against images is a per-channel (C, 1, 1) gate (squeeze-and-excitation)."""

    type: Literal["multiply"]
    arity: ClassVar[tuple[int, int]] = (2, 64)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        rank = max(len(s) for s in inputs)
        shapes = [(*s, 1, 1) if len(s) == 1 and rank == 3 else s for s in inputs]
        out = []
        for sizes in zip(*shapes):
            wide = {d for d in sizes if d != 1}
            if len(wide) > 1 or len({len(s) for s in shapes}) > 1:
                raise ShapeError(
                    "multiply cannot broadcast "
                    + " and ".join(fmt(s) for s in inputs)
                    + ": sizes must be equal or 1 (a (C,) gate scales the channels of images)"
                )
            out.append(max(sizes))
        return tuple(out)

    def channels(self, inputs: list[str], rank: int) -> str | None:
        """The widest input's: a gate of one channel (or feature) broadcasts."""
        if len(set(inputs)) == 1:
            return inputs[0]
        if all(i.isdigit() for i in inputs):
            return str(max(int(i) for i in inputs))
        return f"max({', '.join(inputs)})"


class Scale(LayerBase):
    """A learned multiplier per channel (or feature, of a vector or of each step), every entry
    starting at `init` (ConvNeXt's layer scale)."""

    type: Literal["scale"]
    init: Annotated[float, Field(ge=-1e6, le=1e6), PARAM] = 1.0

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        return features(inputs[0]), 0


class DropPath(LayerBase):
    """Stochastic depth: in training, each sample's input is zeroed with probability `rate`
    and the rest scaled by 1 / (1 - rate); the identity at inference. Put it on a residual
    branch, before the add."""

    type: Literal["drop_path"]
    rate: Rate


def _one_value(value: Any) -> Any:
    """Say once, not once per member of the union, that a block's argument is one value."""
    if value is None:
        raise PydanticCustomError(
            "block_argument",
            "a block argument needs a value, got null (leave it out to take the default)",
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError(
            "block_argument", "NaN and infinity are not allowed, got {value}", {"value": value}
        )
    if isinstance(value, (bool, int, float, str)):
        return value
    kind = "mapping" if isinstance(value, dict) else type(value).__name__
    raise PydanticCustomError(
        "block_argument",
        "a block parameter holds one number, string or true/false, got {kind} {value}; for a "
        "pair, give the block a parameter for each value ([$height, $width] in its layer)",
        {"kind": kind, "value": repr(value)[:60]},
    )


Scalar = Annotated[int | float | bool | str, BeforeValidator(_one_value)]
"""A block's argument, or a parameter's default (`null` there: the parameter is required)."""


class BlockCall(LayerBase):
    """Use of a reusable block: its layers, with `args` bound to its parameters."""

    type: Literal["block"]
    block: Name
    args: dict[Name, Annotated[Scalar, PARAM]] = Field(default_factory=dict, max_length=64)
