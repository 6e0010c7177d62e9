"""Layers over images' height and width: convolutions, pooling and resampling."""

import math
from typing import Literal

from pydantic import model_validator
from pydantic_core import PydanticCustomError

from netspec.ir.activations import Activation
from netspec.ir.base import (
    Bool,
    LayerBase,
    Padding,
    PadPair,
    Pair,
    PosInt,
    Shape,
    ShapeError,
    _as_expr,
    _image,
    fmt,
)


class Conv2d(LayerBase):
    """2-D convolution. `padding: same` keeps ceil(size / stride), padding the end more when the
    total is odd (TensorFlow's rule, emitted as explicit padding where torch differs)."""

    type: Literal["conv2d"]
    filters: PosInt | None = None
    """Output channels; left out with `depthwise: true`."""
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Padding = "valid"
    dilation: Pair = (1, 1)
    groups: PosInt = 1
    depthwise: bool = False
    """One filter group per input channel (groups = channels), `multiplier` filters each."""
    multiplier: PosInt = 1
    bias: Bool = True
    activation: Activation | None = None

    @model_validator(mode="after")
    def _filters_or_depthwise(self) -> "Conv2d":
        if self.depthwise and self.filters is not None:
            raise PydanticCustomError(
                "depthwise",
                "depthwise convolutions take `multiplier`, not `filters` (filters = input "
                "channels x multiplier)",
                {},
            )
        if self.depthwise and self.groups != 1:
            raise PydanticCustomError(
                "depthwise", "depthwise sets groups to the input channels; leave out `groups`", {}
            )
        if not self.depthwise and self.filters is None:
            raise PydanticCustomError(
                "depthwise", "conv2d needs `filters` (or `depthwise: true`)", {}
            )
        if not self.depthwise and self.multiplier != 1:
            raise PydanticCustomError(
                "depthwise", "`multiplier` is for depthwise convolutions (`depthwise: true`)", {}
            )
        return self

    def out_channels(self, in_channels: int) -> int:
        return in_channels * self.multiplier if self.depthwise else self.filters  # type: ignore[operator,return-value]

    def group_count(self, in_channels: int) -> int:
        return in_channels if self.depthwise else self.groups  # type: ignore[return-value]

    def pads(self, shape: Shape) -> tuple[tuple[int, int], tuple[int, int]]:
        """((top, bottom), (left, right)) zero padding for an input of `shape`."""
        if self.padding == "valid":
            return (0, 0), (0, 0)
        if self.padding == "same":
            result = []
            for size, k, s, d in zip(shape[1:], self.kernel, self.stride, self.dilation):
                out = -(-size // s)
                total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
                result.append((total // 2, total - total // 2))
            return result[0], result[1]
        ph, pw = self.padding
        return (ph, ph), (pw, pw)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, h, w = _image("conv2d", inputs[0])
        if c % self.group_count(c) or self.out_channels(c) % self.group_count(c):
            raise ShapeError(
                f"groups={self.groups} must divide input channels {c} and filters {self.filters}"
            )
        (pt, pb), (pl, pr) = self.pads(inputs[0])
        out = []
        for size, before, after, k, s, d in zip(
            (h, w), (pt, pl), (pb, pr), self.kernel, self.stride, self.dilation
        ):
            span = d * (k - 1) + 1
            if size + before + after < span:
                kernel = self._extent(inputs[0])
                raise ShapeError(f"kernel {kernel} is larger than its input {fmt(inputs[0])}")
            out.append((size + before + after - span) // s + 1)
        return (self.out_channels(c), out[0], out[1])

    def _extent(self, shape: Shape) -> str:
        """The kernel, dilated, against the padded input: what did not fit, in the spec's words."""
        text = fmt(self.kernel)
        if self.dilation != (1, 1):
            spans = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))
            text += f" dilated by {fmt(self.dilation)} to {fmt(spans)}"
        (pt, pb), (pl, pr) = self.pads(shape)
        if pt + pb + pl + pr:
            text += f" (input padded to {shape[1] + pt + pb}x{shape[2] + pl + pr})"
        return text

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        kh, kw = self.kernel
        c = inputs[0][0]
        filters = self.out_channels(c)
        weights = filters * (c // self.group_count(c)) * kh * kw
        return weights + (filters if self.bias else 0), 0

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        kh, kw = self.kernel
        c = inputs[0][0]
        return math.prod(output) * (c // self.group_count(c)) * kh * kw

    def channels(self, inputs: list[str], rank: int) -> str | None:
        if not self.depthwise:
            return _as_expr(self.filters)
        if self.multiplier == 1:
            return inputs[0]
        if inputs[0].isdigit() and isinstance(self.multiplier, int):
            return str(int(inputs[0]) * self.multiplier)
        factor = inputs[0] if inputs[0].isidentifier() or inputs[0].isdigit() else f"({inputs[0]})"
        return f"{factor} * {_as_expr(self.multiplier)}"


class ConvTranspose2d(LayerBase):
    """2-D transposed convolution (the gradient of a convolution), torch's arguments: the
    output is (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1;
    `output_padding` (below the stride) adds rows and columns at the end only."""

    type: Literal["conv_transpose2d"]
    filters: PosInt
    kernel: Pair
    stride: Pair = (1, 1)
    padding: PadPair = (0, 0)
    output_padding: PadPair = (0, 0)
    dilation: Pair = (1, 1)
    bias: Bool = True
    activation: Activation | None = None

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, h, w = _image("conv_transpose2d", inputs[0])
        out = []
        for size, k, s, p, op, d in zip(
            (h, w), self.kernel, self.stride, self.padding, self.output_padding, self.dilation
        ):
            if op >= s:
                raise ShapeError(f"output_padding {op} must be smaller than the stride {s}")
            out.append((size - 1) * s - 2 * p + d * (k - 1) + op + 1)
        if min(out) <= 0:
            raise ShapeError(
                f"padding {fmt(self.padding)} leaves no output: {fmt(inputs[0])} -> "
                f"{fmt((self.filters, *out))}"
            )
        return (self.filters, out[0], out[1])

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        kh, kw = self.kernel
        return inputs[0][0] * self.filters * kh * kw + (self.filters if self.bias else 0), 0

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        kh, kw = self.kernel
        return math.prod(inputs[0]) * self.filters * kh * kw

    def channels(self, inputs: list[str], rank: int) -> str | None:
        return _as_expr(self.filters)


class _Pool2d(LayerBase):
    size: Pair
    stride: Pair | None = None
    padding: PadPair = (0, 0)

    def strides(self) -> tuple[int, int]:
        return self.stride if self.stride is not None else self.size

    def ceil(self) -> bool:
        """Whether a last, partial window counts (torch's ceil_mode)."""
        return False

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, h, w = _image(self.type, inputs[0])  # type: ignore[attr-defined]
        out = []
        for size, k, s, p in zip((h, w), self.size, self.strides(), self.padding):
            if 2 * p > k:
                raise ShapeError(f"padding {p} is more than half the pool size {k}")
            if size + 2 * p < k:
                raise ShapeError(
                    f"pool size {fmt(self.size)} is larger than its input {fmt(inputs[0])}"
                )
            out.append(pooled(size, k, s, p, self.ceil()))
        return (c, out[0], out[1])


def pooled(size: int, k: int, s: int, p: int, ceil: bool) -> int:
    """Windows of a pool along one axis, as torch counts them: with `ceil`, a last window
    that runs past the padded end counts too, unless it would start beyond the input and
    its left padding."""
    if not ceil:
        return (size + 2 * p - k) // s + 1
    out = -(-(size + 2 * p - k) // s) + 1
    return out - 1 if (out - 1) * s >= size + p else out


class MaxPool2d(_Pool2d):
    """Max pooling; padding never wins a maximum (torch pads with -inf). `ceil_mode`: a last
    window that runs past the end counts too (torch's ceil_mode, as GoogLeNet's and
    SqueezeNet's pools use it)."""

    type: Literal["maxpool2d"]
    ceil_mode: Bool = False

    def ceil(self) -> bool:
        return self.ceil_mode


class AvgPool2d(_Pool2d):
    """Average pooling; zero padding counts towards the average (torch's default)."""

    type: Literal["avgpool2d"]


class _GlobalPool2d(LayerBase):
    """A reduction over height and width: (C, H, W) -> (C,), or (C, 1, 1) with `keepdims`."""

    keepdims: bool = False

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c = _image(self.type, inputs[0])[0]  # type: ignore[attr-defined]
        return (c, 1, 1) if self.keepdims else (c,)


class GlobalAvgPool2d(_GlobalPool2d):
    """Mean over height and width."""

    type: Literal["global_avgpool2d"]


class GlobalMaxPool2d(_GlobalPool2d):
    """Maximum over height and width."""

    type: Literal["global_maxpool2d"]


class Upsample(LayerBase):
    """Resizes an image by an integer `scale`: `nearest` repeats pixels; `bilinear`
    interpolates with half-pixel centres (torch's align_corners=False, Keras's and TF's
    resize), edges clamped."""

    type: Literal["upsample"]
    scale: Pair
    mode: Literal["nearest", "bilinear"] = "nearest"

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, h, w = _image("upsample", inputs[0])
        return (c, h * self.scale[0], w * self.scale[1])
