"""Layers over sequences: per-sample `(T, F)` tensors, T steps of F features each (the layout of
transformers and Keras; the torch code runs with `batch_first`). Token ids are a `(T,)` integer
input that only an `embedding` takes."""

import math
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from netspec.ir.activations import Activation
from netspec.ir.base import (
    MAX_DIM,
    PARAM,
    Bool,
    LayerBase,
    NonNegInt,
    Padding1d,
    PosInt,
    Rate,
    Shape,
    ShapeError,
    _as_expr,
    _image,
    _sequence,
    fmt,
)


class Embedding(LayerBase):
    """Token ids (T,) -> (T, dim): row `id` of a learned (vocab, dim) table. The row of
    `padding_index` starts at zero; padding tokens read it but never train it (torch's
    `padding_idx`: only a dense layer tied to the table trains it)."""

    type: Literal["embedding"]
    vocab: PosInt
    dim: PosInt
    padding_index: NonNegInt | None = None
    takes_tokens: ClassVar[bool] = True

    @model_validator(mode="after")
    def _padding_in_vocab(self) -> "Embedding":
        pad, vocab = self.padding_index, self.vocab
        if isinstance(pad, int) and isinstance(vocab, int) and pad >= vocab:
            raise PydanticCustomError(
                "padding_index",
                "padding_index {pad} is outside the vocab of {vocab}",
                {"pad": pad, "vocab": vocab},
            )
        return self

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return (inputs[0][0], self.dim)  # type: ignore[return-value]  # ids are (T,)

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        return self.vocab * self.dim, 0  # type: ignore[operator]

    def channels(self, inputs: list[str], rank: int) -> str | None:
        return _as_expr(self.dim)


class PositionEmbedding(LayerBase):
    """Adds a learned vector per position: step t of the input gets row t of a
    (max_length, F) table (`max_length` defaults to the input's length)."""

    type: Literal["position_embedding"]
    max_length: PosInt | None = None

    def length(self, shape: Shape) -> int:
        return self.max_length if self.max_length is not None else shape[0]  # type: ignore[return-value]

    def output_shape(self, inputs: list[Shape]) -> Shape:
        steps, _ = _sequence("position_embedding", inputs[0])
        if self.length(inputs[0]) < steps:
            raise ShapeError(f"max_length {self.max_length} is shorter than the {steps} steps")
        return inputs[0]

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        return self.length(inputs[0]) * inputs[0][1], 0


class ClassToken(LayerBase):
    """Prepends one learned step (ViT's class token): (T, F) -> (T + 1, F)."""

    type: Literal["class_token"]

    def output_shape(self, inputs: list[Shape]) -> Shape:
        steps, width = _sequence("class_token", inputs[0])
        return (steps + 1, width)

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        return inputs[0][1], 0


class ToSequence(LayerBase):
    """An image's positions as a sequence, row by row: (C, H, W) -> (H * W, C) (ViT's patches
    after the patch convolution)."""

    type: Literal["to_sequence"]

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, h, w = _image("to_sequence", inputs[0])
        return (h * w, c)


class Select(LayerBase):
    """One step of a sequence: (T, F) -> (F,). `index` counts from 0 (the class token), or
    back from the end when negative (-1: the last step)."""

    type: Literal["select"]
    index: Annotated[int, Field(ge=-MAX_DIM, le=MAX_DIM)]

    def output_shape(self, inputs: list[Shape]) -> Shape:
        steps, width = _sequence("select", inputs[0])
        if not -steps <= self.index < steps:
            raise ShapeError(f"index {self.index} is outside the {steps} steps")
        return (width,)


class Conv1d(LayerBase):
    """1-D convolution over the steps of a sequence, the features as channels. `padding: same`
    keeps ceil(T / stride) steps, padding the end more when the total is odd (as conv2d)."""

    type: Literal["conv1d"]
    filters: PosInt
    kernel: PosInt
    stride: PosInt = 1
    padding: Padding1d = "valid"
    dilation: PosInt = 1
    bias: Bool = True
    activation: Activation | None = None

    def pads(self, shape: Shape) -> tuple[int, int]:
        """(before, after) zero padding for an input of `shape`."""
        if self.padding == "valid":
            return 0, 0
        if self.padding == "same":
            out = -(-shape[0] // self.stride)  # type: ignore[operator]
            span = self.dilation * (self.kernel - 1) + 1  # type: ignore[operator]
            total = max((out - 1) * self.stride + span - shape[0], 0)  # type: ignore[operator]
            return total // 2, total - total // 2
        return self.padding, self.padding  # type: ignore[return-value]

    def output_shape(self, inputs: list[Shape]) -> Shape:
        steps, _ = _sequence("conv1d", inputs[0])
        before, after = self.pads(inputs[0])
        span = self.dilation * (self.kernel - 1) + 1  # type: ignore[operator]
        if steps + before + after < span:
            raise ShapeError(f"kernel {self.kernel} is longer than its input {fmt(inputs[0])}")
        return ((steps + before + after - span) // self.stride + 1, self.filters)  # type: ignore[operator,return-value]

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        weights = self.filters * inputs[0][1] * self.kernel  # type: ignore[operator]
        return weights + (self.filters if self.bias else 0), 0  # type: ignore[return-value]

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        return math.prod(output) * inputs[0][1] * self.kernel  # type: ignore[operator]

    def channels(self, inputs: list[str], rank: int) -> str | None:
        return _as_expr(self.filters)


class _Pool1d(LayerBase):
    size: PosInt
    stride: PosInt | None = None

    def strides(self) -> int:
        return self.stride if self.stride is not None else self.size  # type: ignore[return-value]

    def output_shape(self, inputs: list[Shape]) -> Shape:
        steps, width = _sequence(self.type, inputs[0])  # type: ignore[attr-defined]
        if steps < self.size:  # type: ignore[operator]
            raise ShapeError(f"pool size {self.size} is longer than its input {fmt(inputs[0])}")
        return ((steps - self.size) // self.strides() + 1, width)  # type: ignore[operator]


class MaxPool1d(_Pool1d):
    type: Literal["maxpool1d"]


class AvgPool1d(_Pool1d):
    type: Literal["avgpool1d"]


class _GlobalPool1d(LayerBase):
    """A reduction over the steps: (T, F) -> (F,)."""

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return (_sequence(self.type, inputs[0])[1],)  # type: ignore[attr-defined]


class GlobalAvgPool1d(_GlobalPool1d):
    """Mean over the steps."""

    type: Literal["global_avgpool1d"]


class GlobalMaxPool1d(_GlobalPool1d):
    """Maximum over the steps."""

    type: Literal["global_maxpool1d"]


class MultiheadAttention(LayerBase):
    """Scaled dot-product attention with `heads` heads of F / heads features each, as torch's
    `nn.MultiheadAttention` and Keras's `MultiHeadAttention`: query, key and value projections,
    softmax(Q K^T / sqrt(F / heads)) V per head, an output projection back to F. One input:
    self-attention. Two (`inputs: [query, context]`): the query attends to the context, whose
    steps may differ in number but not in features. `causal: true` lets step t see steps up to
    t only (self-attention). `dropout` drops attention weights while training."""

    type: Literal["multihead_attention"]
    heads: PosInt
    dropout: Rate = 0.0
    causal: bool = False
    """Not a block parameter: Keras takes it per call, where a block has no parameters."""
    bias: Bool = True
    arity: ClassVar[tuple[int, int]] = (1, 2)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        steps, width = _sequence("multihead_attention", inputs[0])
        if width % self.heads:  # type: ignore[operator]
            raise ShapeError(f"heads={self.heads} must divide the {width} features")
        if len(inputs) == 2:
            if self.causal:
                raise ShapeError(
                    "a causal attention attends to its own earlier steps; it takes no context"
                )
            context = _sequence("multihead_attention's context", inputs[1])
            if context[1] != width:
                raise ShapeError(
                    f"the context's {context[1]} features must equal the query's {width}"
                )
        return inputs[0]

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        width = inputs[0][1]
        return 4 * width * width + (4 * width if self.bias else 0), 0

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        """Projections of the query (T steps), key and value (S steps) and output, then the
        scores (T x S per feature) and the weighted sum of values."""
        steps, width = inputs[0]
        context = inputs[-1][0]
        return 2 * steps * width * width + 2 * context * width * width + 2 * steps * context * width


class _Recurrent(LayerBase):
    """A recurrent layer over the steps: `layers` stacked, each reading the one below (both
    directions' outputs, concatenated, when `bidirectional`). `returns: sequence` gives every
    step's output (T, units * directions); `returns: last` the final hidden state of the top
    layer (units * directions,), both directions concatenated."""

    units: PosInt
    layers: Annotated[int, Field(ge=1, le=64), PARAM] = 1
    bidirectional: bool = False
    returns: Literal["sequence", "last"] = "sequence"
    gates: ClassVar[int]

    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def output_shape(self, inputs: list[Shape]) -> Shape:
        steps, _ = _sequence(self.type, inputs[0])  # type: ignore[attr-defined]
        width = self.units * self.directions()  # type: ignore[operator]
        return (steps, width) if self.returns == "sequence" else (width,)

    def _widths(self, shape: Shape) -> list[int]:
        """Input features of each stacked layer."""
        return [shape[1]] + [self.units * self.directions()] * (self.layers - 1)  # type: ignore[list-item,operator]

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        """torch's count: per layer and direction, input and recurrent kernels and two biases."""
        units = self.units
        per = [self.gates * units * (w + units + 2) for w in self._widths(inputs[0])]  # type: ignore[operator]
        return self.directions() * sum(per), 0

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        units = self.units
        per = [self.gates * units * (w + units) for w in self._widths(inputs[0])]  # type: ignore[operator]
        return inputs[0][0] * self.directions() * sum(per)

    def channels(self, inputs: list[str], rank: int) -> str | None:
        units = _as_expr(self.units)
        if not self.bidirectional:
            return units
        return str(2 * self.units) if isinstance(self.units, int) else f"2 * {units}"  # type: ignore[operator]


class Lstm(_Recurrent):
    """Long short-term memory, torch's gates (input, forget, cell, output) and two biases (the
    Keras layer is generated with both, so counts and training steps are equal)."""

    type: Literal["lstm"]
    gates: ClassVar[int] = 4


class Gru(_Recurrent):
    """Gated recurrent unit as torch computes it: the reset gate applied after the recurrent
    product (Keras's `reset_after=True`), two biases."""

    type: Literal["gru"]
    gates: ClassVar[int] = 3
