"""The Pydantic IR: frozen, strict models of a spec, with one tagged union of layer kinds.

Each layer kind is one class, in the module of its family (`activations`, `conv`, `norm`,
`core`), and knows, in one place, its fields and their validation, the shape it produces, its
parameter count and its multiply-accumulates. Adding a layer kind means: a class there (added to
`Layer` below), one template per backend and, where it takes arguments, one function in
`netspec/emit/torch_layers.py` and `keras_layers.py`, a layout in `netspec.weights` if it has
weights, and the tests (they walk `Layer` and fail for any kind a backend cannot emit, run or
copy, or that the random networks of tests/netgen.py never draw).

Fields of layers inside a block may hold `$name` references to the block's parameters
(`ParamRef`); the expand pass substitutes them and validates the concrete layer again.

Shapes are per sample and channels-first: `(C, H, W)` for images, `(F,)` for features.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from netspec.ir.activations import (  # noqa: F401  (the IR is one namespace)
    Activation,
    ActivationFn,
    Elu,
    EluLayer,
    Gelu,
    GeluLayer,
    Hardsigmoid,
    HardsigmoidLayer,
    Hardswish,
    HardswishLayer,
    LeakyRelu,
    LeakyReluLayer,
    LogSoftmax,
    LogSoftmaxLayer,
    Relu,
    Relu6,
    Relu6Layer,
    ReluLayer,
    Sigmoid,
    SigmoidLayer,
    Silu,
    SiluLayer,
    Softmax,
    SoftmaxLayer,
    Tanh,
    TanhLayer,
)
from netspec.ir.base import (  # noqa: F401  (the IR is one namespace)
    MAX_DIM,
    MAX_REPEAT,
    PARAM,
    RESERVED_NAMES,
    Bool,
    Fraction,
    IRModel,
    LayerBase,
    Name,
    NonNegFloat,
    NonNegInt,
    Padding,
    PadPair,
    Pair,
    ParamRef,
    PosFloat,
    PosInt,
    Rate,
    Shape,
    ShapeError,
    _check_identifier,
    _image,
    _param_or_value,
    _tagged_shorthand,
    fmt,
    tagged,
)
from netspec.ir.conv import (  # noqa: F401  (the IR is one namespace)
    AvgPool2d,
    Conv2d,
    ConvTranspose2d,
    GlobalAvgPool2d,
    GlobalMaxPool2d,
    MaxPool2d,
    Upsample,
)
from netspec.ir.core import (  # noqa: F401  (the IR is one namespace)
    Add,
    BlockCall,
    Concat,
    Dense,
    Dropout,
    DropPath,
    Flatten,
    GaussianNoise,
    Multiply,
    Scalar,
    Scale,
)
from netspec.ir.norm import (  # noqa: F401  (the IR is one namespace)
    BatchNorm,
    GroupNorm,
    LayerNorm,
)
from netspec.ir.train import (  # noqa: F401  (the IR is one namespace)
    Adam,
    AdamW,
    CosineSchedule,
    NoSchedule,
    Optimizer,
    Schedule,
    Sgd,
    StepSchedule,
    Train,
)

Layer = Annotated[
    Conv2d
    | ConvTranspose2d
    | MaxPool2d
    | AvgPool2d
    | GlobalAvgPool2d
    | GlobalMaxPool2d
    | Upsample
    | Flatten
    | Dense
    | Dropout
    | DropPath
    | BatchNorm
    | LayerNorm
    | GroupNorm
    | GaussianNoise
    | Scale
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
    | Multiply
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
