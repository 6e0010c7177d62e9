"""Normalisation layers."""

from typing import Annotated, Literal

from pydantic import Field

from netspec.ir.base import (
    PARAM,
    Fraction,
    LayerBase,
    PosInt,
    Shape,
    ShapeError,
    _vector_or_image,
    features,
)


class BatchNorm(LayerBase):
    """Batch normalization over the channel (or feature) axis.

    `momentum` follows torch: the weight of the new batch statistic (Keras's is 1 - momentum);
    `epsilon` defaults to torch's 1e-5 (Keras's default is 1e-3). Emitters translate both.
    """

    type: Literal["batchnorm"]
    momentum: Fraction = 0.1
    epsilon: Annotated[float, Field(gt=0.0, lt=1.0), PARAM] = 1e-5

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return _vector_or_image("batchnorm", inputs[0])

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        return 2 * inputs[0][0], 2 * inputs[0][0]


class LayerNorm(LayerBase):
    """Layer normalization over the channels or features: of each position of a (C, H, W)
    image (as ConvNeXt uses it; torchvision's LayerNorm2d), of a (F,) vector, or of each step
    of a (T, F) sequence (as transformers use it); a learned scale and shift per channel.
    `epsilon` defaults to torch's 1e-5."""

    type: Literal["layernorm"]
    epsilon: Annotated[float, Field(gt=0.0, lt=1.0), PARAM] = 1e-5

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        return 2 * features(inputs[0]), 0


class GroupNorm(LayerBase):
    """Group normalization: the channels split into `groups`, each normalised over its channels
    and positions; a learned scale and shift per channel."""

    type: Literal["groupnorm"]
    groups: PosInt
    epsilon: Annotated[float, Field(gt=0.0, lt=1.0), PARAM] = 1e-5

    def output_shape(self, inputs: list[Shape]) -> Shape:
        _vector_or_image("groupnorm", inputs[0])
        if inputs[0][0] % self.groups:
            raise ShapeError(f"groups={self.groups} must divide the {inputs[0][0]} channels")
        return inputs[0]

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        return 2 * inputs[0][0], 0
