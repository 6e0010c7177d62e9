"""The Pydantic IR: frozen, strict models of a spec, with one tagged union of layer kinds.

Each layer kind is one class here and knows, in one place, its fields and their validation, the
shape it produces, its parameter count and its multiply-accumulates. Adding a layer kind means:
a class here (added to `Layer`), one template per backend, and the tests (a test walks `Layer`
and fails for any kind a backend cannot emit).

Fields of layers inside a block may hold `$name` references to the block's parameters
(`ParamRef`); the expand pass substitutes them and validates the concrete layer again.

Shapes are per sample and channels-first: `(C, H, W)` for images, `(F,)` for features.
"""

from __future__ import annotations

import builtins
import keyword
import math
from typing import Annotated, Any, ClassVar, Literal, Union, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Tag,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError, core_schema

Shape = tuple[int, ...]

MAX_DIM = 1 << 20
MAX_REPEAT = 1000

# Names become Python identifiers in generated code (module attributes, locals, arguments), so
# they may not shadow what that code uses: Python's keywords and builtins, the names the
# generated modules import or define, and the attributes of torch's nn.Module.
RESERVED_NAMES = frozenset(
    {"self", "x", "identity", "in_channels", "name", "inputs", "outputs", "model", "input"}
    | {"module", "i", "out_channels"}
    | {"torch", "nn", "F", "Tensor", "keras", "layers", "ops", "np", "math", "annotations"}
    | {
        "training",
        "forward",
        "parameters",
        "named_parameters",
        "buffers",
        "named_buffers",
        "children",
        "named_children",
        "modules",
        "named_modules",
        "train",
        "eval",
        "to",
        "cuda",
        "cpu",
        "type",
        "float",
        "double",
        "half",
        "bfloat16",
        "apply",
        "zero_grad",
        "state_dict",
        "load_state_dict",
        "register_buffer",
        "register_parameter",
        "add_module",
        "register_module",
        "get_submodule",
        "get_parameter",
        "get_buffer",
        "requires_grad_",
        "share_memory",
        "extra_repr",
        "compile",
        "xpu",
        "ipu",
        "mtia",
        "to_empty",
        "dump_patches",
        "call_super_init",
        "set_extra_state",
        "get_extra_state",
    }
)


def _check_identifier(value: str) -> str:
    if not value.isascii() or not value.isidentifier():
        raise PydanticCustomError(
            "name", "{value} is not a plain ASCII Python identifier", {"value": ascii(value)}
        )
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        raise PydanticCustomError("name", "{value} is a Python keyword", {"value": ascii(value)})
    if value.startswith("_"):
        raise PydanticCustomError(
            "name", "{value}: names may not start with '_'", {"value": ascii(value)}
        )
    if hasattr(builtins, value) or value in RESERVED_NAMES:
        raise PydanticCustomError(
            "name",
            "{value} is reserved in generated code; choose another name",
            {"value": ascii(value)},
        )
    if len(value) > 64:
        raise PydanticCustomError("name", "names are at most 64 characters", {})
    return value


def _identifier_or_passthrough(value: Any) -> Any:
    return _check_identifier(value) if isinstance(value, str) else value


Name = Annotated[str, BeforeValidator(_identifier_or_passthrough)]
"""A name that becomes a Python identifier in generated code."""


class ParamRef(str):
    """A `$name` reference to a parameter of the enclosing block (the name, without `$`)."""


def _param_or_value(value: Any, handler: core_schema.ValidatorFunctionWrapHandler) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        name = value[1:]
        if not (name.isascii() and name.isidentifier()):
            raise PydanticCustomError(
                "param_ref", "{value} is not a valid parameter reference", {"value": ascii(value)}
            )
        return ParamRef(name)
    return handler(value)


class _Parametric:
    """Marks a field that may hold a `$param` reference inside a block."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_wrap_validator_function(_param_or_value, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> Any:
        inner = handler(schema["schema"])
        return {"anyOf": [inner, {"type": "string", "pattern": r"^\$[A-Za-z_][A-Za-z0-9_]*$"}]}


PARAM = _Parametric()
PosInt = Annotated[int, Field(ge=1, le=MAX_DIM), PARAM]
NonNegInt = Annotated[int, Field(ge=0, le=MAX_DIM), PARAM]


def _as_pair(value: Any) -> Any:
    """`3` and `$k` mean the same value for height and width; a list of two gives both."""
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return value if isinstance(value, str) and not value.startswith("$") else (value, value)
    return tuple(value) if isinstance(value, list) else value


class _OneForBoth:
    """JSON Schema of a pair that may also be written as one value for both (`kernel: 3`)."""

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> Any:
        pair = handler(schema)
        return {"anyOf": [pair["prefixItems"][0], pair]}


Pair = Annotated[tuple[PosInt, PosInt], BeforeValidator(_as_pair), _OneForBoth()]
PadPair = Annotated[tuple[NonNegInt, NonNegInt], BeforeValidator(_as_pair), _OneForBoth()]
Padding = Annotated[
    Annotated[Literal["valid", "same"], Tag("mode")] | Annotated[PadPair, Tag("pair")],
    Discriminator(lambda v: "mode" if isinstance(v, str) and not v.startswith("$") else "pair"),
]
Rate = Annotated[float, Field(ge=0.0, lt=1.0), PARAM]
PosFloat = Annotated[float, Field(gt=0.0, le=1e6), PARAM]
NonNegFloat = Annotated[float, Field(ge=0.0, le=1e6), PARAM]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0), PARAM]
Bool = Annotated[bool, PARAM]


class IRModel(BaseModel):
    """Base of every IR model: frozen, strict (no "10" for 10), no unknown keys, no NaN/inf."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class ShapeError(ValueError):
    """A layer cannot take the shapes it is given; the message names the shapes."""


def fmt(shape: Shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _image(layer: str, shape: Shape) -> Shape:
    if len(shape) != 3:
        raise ShapeError(f"{layer} needs a (C, H, W) input, got {fmt(shape)}")
    return shape


# ----------------------------------------------------------------------------- activations


class ActivationFn(IRModel):
    """An element-wise activation: fused into a layer (`activation:`) or a layer of its own."""

    type: str

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]


class Relu(ActivationFn):
    type: Literal["relu"]


class Sigmoid(ActivationFn):
    type: Literal["sigmoid"]


class Tanh(ActivationFn):
    type: Literal["tanh"]


class LeakyRelu(ActivationFn):
    type: Literal["leaky_relu"]
    alpha: Annotated[float, Field(ge=0.0, le=1e3), PARAM] = 0.01


class Elu(ActivationFn):
    type: Literal["elu"]
    alpha: PosFloat = 1.0


class Softmax(ActivationFn):
    """Softmax over the feature axis (the channel axis of an image)."""

    type: Literal["softmax"]


class Relu6(ActivationFn):
    """min(max(x, 0), 6)."""

    type: Literal["relu6"]


class Silu(ActivationFn):
    """x * sigmoid(x) (also called swish)."""

    type: Literal["silu"]


class Gelu(ActivationFn):
    """x * Phi(x), Phi the standard normal CDF; `approximate: tanh` is the tanh form
    0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) (torch's names)."""

    type: Literal["gelu"]
    approximate: Literal["none", "tanh"] = "none"


class Hardswish(ActivationFn):
    """x * relu6(x + 3) / 6."""

    type: Literal["hardswish"]


class Hardsigmoid(ActivationFn):
    """relu6(x + 3) / 6."""

    type: Literal["hardsigmoid"]


class LogSoftmax(ActivationFn):
    """log(softmax(x)) over the feature axis, computed stably: the log-probabilities that the
    `nll` and `kl_div` losses take."""

    type: Literal["log_softmax"]


def _tagged_shorthand(value: Any) -> Any:
    """A bare tag (`relu`) is the tagged model with every field at its default."""
    if isinstance(value, str) and value.startswith("$"):
        raise PydanticCustomError(
            "param_ref",
            "{value}: this field cannot take a block parameter",
            {"value": ascii(value)},
        )
    return {"type": value} if isinstance(value, str) else value


class _TagShorthand:
    """JSON Schema of a tagged union that may also be written as a bare tag (`activation: relu`):
    the tags of the members that need nothing but their `type`."""

    def __init__(self, *members: type[BaseModel]) -> None:
        self.tags = [
            get_args(cls.model_fields["type"].annotation)[0]
            for cls in members
            if [k for k, f in cls.model_fields.items() if f.is_required()] == ["type"]
        ]

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> Any:
        return {"anyOf": [{"type": "string", "enum": self.tags}, handler(schema)]}


def tagged(*members: type[BaseModel]) -> Any:
    """A union of tagged models, discriminated by `type`, that also takes a bare tag."""
    return Annotated[
        Union[members],  # type: ignore[valid-type]  # noqa: UP007 (a union of the tuple's members)
        Field(discriminator="type"),
        BeforeValidator(_tagged_shorthand),
        _TagShorthand(*members),
    ]


Activation = tagged(
    Relu,
    Sigmoid,
    Tanh,
    LeakyRelu,
    Elu,
    Softmax,
    LogSoftmax,
    Relu6,
    Silu,
    Gelu,
    Hardswish,
    Hardsigmoid,
)


# ----------------------------------------------------------------------------- layers


class LayerBase(IRModel):
    """Fields every layer has. `inputs` names earlier layers (default: the previous layer)."""

    name: Name | None = None
    inputs: (
        Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=1, max_length=64)]
        | None
    ) = None
    repeat: Annotated[int, Field(ge=1, le=MAX_REPEAT), PARAM] = 1
    share: Name | None = None

    arity: ClassVar[tuple[int, int]] = (1, 1)
    """Fewest and most inputs the kind takes."""

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        """(trainable parameters, non-trainable buffers such as BatchNorm's running stats)."""
        return 0, 0

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        """Multiply-accumulates for one sample (FLOPs = 2 x MACs)."""
        return 0

    def channels(self, inputs: list[str]) -> str | None:
        """Symbolic output channel count (Python source over block parameters and
        `in_channels`), for code that builds a block for any input; None when it depends on
        the spatial size too."""
        return inputs[0]

    @field_validator("inputs")
    @classmethod
    def _unique_inputs(cls, value: list[str] | None) -> list[str] | None:
        twice = sorted({ref for ref in value or () if value.count(ref) > 1})
        if twice:
            message = "input {ref} is listed twice"
            raise PydanticCustomError("inputs", message, {"ref": ascii(twice[0])})
        return value


def _as_expr(value: Any) -> str:
    return str(value) if isinstance(value, ParamRef) else repr(value)


class Conv2d(LayerBase):
    """2-D convolution. `padding: same` keeps ceil(size / stride), padding the end more when the
    total is odd (TensorFlow's rule, emitted as explicit padding where torch differs)."""

    type: Literal["conv2d"]
    filters: PosInt
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Padding = "valid"
    dilation: Pair = (1, 1)
    groups: PosInt = 1
    bias: Bool = True
    activation: Activation | None = None

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
        if c % self.groups or self.filters % self.groups:
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
        return (self.filters, out[0], out[1])

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
        weights = self.filters * (inputs[0][0] // self.groups) * kh * kw
        return weights + (self.filters if self.bias else 0), 0

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        kh, kw = self.kernel
        return math.prod(output) * (inputs[0][0] // self.groups) * kh * kw

    def channels(self, inputs: list[str]) -> str | None:
        return _as_expr(self.filters)


class _Pool2d(LayerBase):
    size: Pair
    stride: Pair | None = None
    padding: PadPair = (0, 0)

    def strides(self) -> tuple[int, int]:
        return self.stride if self.stride is not None else self.size

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
            out.append((size + 2 * p - k) // s + 1)
        return (c, out[0], out[1])


class MaxPool2d(_Pool2d):
    type: Literal["maxpool2d"]


class AvgPool2d(_Pool2d):
    """Average pooling; zero padding counts towards the average (torch's default)."""

    type: Literal["avgpool2d"]


class _GlobalPool2d(LayerBase):
    """A reduction over height and width: (C, H, W) -> (C,)."""

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return (_image(self.type, inputs[0])[0],)  # type: ignore[attr-defined]


class GlobalAvgPool2d(_GlobalPool2d):
    """Mean over height and width."""

    type: Literal["global_avgpool2d"]


class GlobalMaxPool2d(_GlobalPool2d):
    """Maximum over height and width."""

    type: Literal["global_maxpool2d"]


class Flatten(LayerBase):
    """(C, H, W) -> (C*H*W,) in channels-first order, whatever the backend's layout."""

    type: Literal["flatten"]

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return (math.prod(inputs[0]),)

    def channels(self, inputs: list[str]) -> str | None:
        return None


class Dense(LayerBase):
    type: Literal["dense"]
    units: PosInt
    bias: Bool = True
    activation: Activation | None = None

    def output_shape(self, inputs: list[Shape]) -> Shape:
        if len(inputs[0]) != 1:
            raise ShapeError(f"dense needs a flat (F,) input, got {fmt(inputs[0])}; add a flatten")
        return (self.units,)

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        return inputs[0][0] * self.units + (self.units if self.bias else 0), 0

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        return inputs[0][0] * self.units

    def channels(self, inputs: list[str]) -> str | None:
        return _as_expr(self.units)


class Dropout(LayerBase):
    type: Literal["dropout"]
    rate: Rate


class BatchNorm(LayerBase):
    """Batch normalization over the channel (or feature) axis.

    `momentum` follows torch: the weight of the new batch statistic (Keras's is 1 - momentum);
    `epsilon` defaults to torch's 1e-5 (Keras's default is 1e-3). Emitters translate both.
    """

    type: Literal["batchnorm"]
    momentum: Fraction = 0.1
    epsilon: Annotated[float, Field(gt=0.0, lt=1.0), PARAM] = 1e-5

    def output_shape(self, inputs: list[Shape]) -> Shape:
        if len(inputs[0]) not in (1, 3):
            raise ShapeError(f"batchnorm needs a (F,) or (C, H, W) input, got {fmt(inputs[0])}")
        return inputs[0]

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        return 2 * inputs[0][0], 2 * inputs[0][0]


class GaussianNoise(LayerBase):
    """Adds N(0, stddev^2) noise while training; the identity at inference."""

    type: Literal["gaussian_noise"]
    stddev: NonNegFloat


class ReluLayer(LayerBase, Relu):
    pass


class SigmoidLayer(LayerBase, Sigmoid):
    pass


class TanhLayer(LayerBase, Tanh):
    pass


class LeakyReluLayer(LayerBase, LeakyRelu):
    pass


class EluLayer(LayerBase, Elu):
    pass


class SoftmaxLayer(LayerBase, Softmax):
    pass


class LogSoftmaxLayer(LayerBase, LogSoftmax):
    pass


class Relu6Layer(LayerBase, Relu6):
    pass


class SiluLayer(LayerBase, Silu):
    pass


class GeluLayer(LayerBase, Gelu):
    pass


class HardswishLayer(LayerBase, Hardswish):
    pass


class HardsigmoidLayer(LayerBase, Hardsigmoid):
    pass


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

    def channels(self, inputs: list[str]) -> str | None:
        return " + ".join(inputs) if self.axis == 0 else inputs[0]


Scalar = int | float | bool | str


class BlockCall(LayerBase):
    """Use of a reusable block: its layers, with `args` bound to its parameters."""

    type: Literal["block"]
    block: Name
    args: dict[Name, Annotated[Scalar, PARAM]] = Field(default_factory=dict, max_length=64)


Layer = Annotated[
    Conv2d
    | MaxPool2d
    | AvgPool2d
    | GlobalAvgPool2d
    | GlobalMaxPool2d
    | Flatten
    | Dense
    | Dropout
    | BatchNorm
    | GaussianNoise
    | ReluLayer
    | SigmoidLayer
    | TanhLayer
    | LeakyReluLayer
    | EluLayer
    | SoftmaxLayer
    | LogSoftmaxLayer
    | Relu6Layer
    | SiluLayer
    | GeluLayer
    | HardswishLayer
    | HardsigmoidLayer
    | Add
    | Concat
    | BlockCall,
    Field(discriminator="type"),
]

LAYER_KINDS: dict[str, type[LayerBase]] = {
    cls.model_fields["type"].annotation.__args__[0]: cls  # type: ignore[union-attr]
    for cls in Layer.__origin__.__args__  # type: ignore[attr-defined]
}
"""Every layer kind by its `type` tag."""


# ----------------------------------------------------------------------------- network


class InputSpec(IRModel):
    shape: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_DIM)]], Field(min_length=1, max_length=3)
    ]

    @field_validator("shape")
    @classmethod
    def _rank(cls, value: list[int]) -> list[int]:
        if len(value) == 2:
            raise PydanticCustomError(
                "input_rank", "input shape is (F,) or (C, H, W); got 2 dimensions", {}
            )
        return value


class BlockDef(IRModel):
    """A reusable block; `params` maps each parameter to its default (null: required)."""

    doc: Annotated[str, Field(max_length=2000)] | None = None
    params: dict[Name, Scalar | None] = Field(default_factory=dict, max_length=64)
    layers: Annotated[list[Layer], Field(min_length=1, max_length=10_000)]


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
    """Cosine decay from `lr` to 0 over the run's epochs."""

    type: Literal["cosine"]


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


FORMAT_VERSION = 1


def _check_version(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value != FORMAT_VERSION:
        raise PydanticCustomError(
            "version",
            "unsupported format version {value}; this netspec reads version {version}",
            {"value": value, "version": FORMAT_VERSION},
        )
    return value


class NetworkSpec(IRModel):
    """A whole spec file."""

    netspec: Annotated[Literal[1], BeforeValidator(_check_version)] = Field(
        description="format version"
    )
    name: Name = Field(description="the generated model class name")
    doc: Annotated[str, Field(max_length=2000)] | None = None
    input: InputSpec
    blocks: dict[Name, BlockDef] = Field(default_factory=dict, max_length=256)
    layers: Annotated[list[Layer], Field(min_length=1, max_length=10_000)]
    train: Train = Field(default_factory=Train)
