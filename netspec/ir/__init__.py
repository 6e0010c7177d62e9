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

Shapes are per sample: `(C, H, W)` for images (channels first), `(F,)` for features, `(T, F)`
for sequences (T steps of F features), `(T,)` for token ids (an integer input).

The IR's modules do without `from __future__ import annotations`: with it, pydantic would
evaluate every field's annotation again from its text when it builds the classes, a cost that
every cold `netspec validate` pays (bench/validate.py).
"""

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator
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
    Padding1d,
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
    _sequence,
    _tagged_shorthand,
    describe,
    features,
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
from netspec.ir.sequence import (  # noqa: F401  (the IR is one namespace)
    AvgPool1d,
    ClassToken,
    Conv1d,
    Embedding,
    GlobalAvgPool1d,
    GlobalMaxPool1d,
    Gru,
    Lstm,
    MaxPool1d,
    MultiheadAttention,
    PositionEmbedding,
    Select,
    ToSequence,
)
from netspec.ir.train import (  # noqa: F401  (the IR is one namespace)
    IMAGENET,
    Adam,
    AdamW,
    CosineSchedule,
    Data,
    NoSchedule,
    Optimizer,
    RandomResizedCrop,
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
    | Embedding
    | PositionEmbedding
    | ClassToken
    | ToSequence
    | Select
    | Conv1d
    | MaxPool1d
    | AvgPool1d
    | GlobalAvgPool1d
    | GlobalMaxPool1d
    | MultiheadAttention
    | Lstm
    | Gru
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
    """One sample of the input: (F,) features, a (T, F) sequence or a (C, H, W) image as
    float32, or (T,) token ids as int64, each below `vocab`."""

    shape: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_DIM)]], Field(min_length=1, max_length=3)
    ]
    dtype: Literal["float32", "int64"] = "float32"
    vocab: Annotated[int, Field(ge=1, le=MAX_DIM)] | None = None
    """Token ids are below it (int64 inputs only)."""

    @model_validator(mode="after")
    def _tokens(self) -> "InputSpec":
        if self.dtype == "int64" and self.vocab is None:
            raise PydanticCustomError(
                "vocab", "an int64 input needs `vocab`, the bound of its token ids", {}
            )
        if self.dtype == "int64" and len(self.shape) != 1:
            raise PydanticCustomError(
                "input_rank",
                "token ids are (T,): one id per step; got {rank} dimensions",
                {"rank": len(self.shape)},
            )
        if self.dtype == "float32" and self.vocab is not None:
            raise PydanticCustomError("vocab", "`vocab` is for token inputs (dtype: int64)", {})
        return self

    @property
    def tokens(self) -> bool:
        return self.dtype == "int64"


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


SINGLE_INPUT = "input"
"""The name of the input of a spec with one `input:` (and of a block's own input)."""


class NetworkSpec(IRModel):
    """A whole spec file."""

    netspec: Annotated[Literal[1], BeforeValidator(_check_version)] = Field(
        description="format version"
    )
    name: Name = Field(description="the generated model class name")
    doc: Annotated[str, Field(max_length=2000)] | None = None
    input: InputSpec | None = None
    inputs: Annotated[dict[Name, InputSpec], Field(min_length=1, max_length=16)] | None = None
    """Several named inputs (instead of `input:`); layers name them in their `inputs:`."""
    outputs: (
        Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=1, max_length=16)]
        | None
    ) = None
    """The layers whose outputs the model returns (default: the last layer's)."""
    blocks: dict[Name, BlockDef] = Field(default_factory=dict, max_length=256)
    layers: Annotated[list[Layer], Field(min_length=1, max_length=10_000)]
    train: Train = Field(default_factory=Train)

    @model_validator(mode="after")
    def _one_way_of_input(self) -> "NetworkSpec":
        if self.input is None and self.inputs is None:
            raise PydanticCustomError("input", "input: missing required key (or inputs:)", {})
        if self.input is not None and self.inputs is not None:
            raise PydanticCustomError(
                "input",
                "give the input as `input: {shape: [...]}` or several as `inputs: {name: "
                "{shape: [...]}, ...}`, not both",
                {},
            )
        twice = sorted({o for o in self.outputs or () if self.outputs.count(o) > 1})  # type: ignore[union-attr]
        if twice:
            raise PydanticCustomError(
                "outputs", "output {name} is listed twice", {"name": ascii(twice[0])}
            )
        return self

    @model_validator(mode="after")
    def _inputs_name_their_arrays(self) -> "NetworkSpec":
        """The training programs read input `a` from the .npz array `a` (`a_val` held out)
        and the targets from `y`: an input may not take the name of another's array."""
        names = set(self.inputs or ())
        for name in sorted(names):
            if name == "y" or (name.endswith("_val") and name[: -len("_val")] in names):
                raise PydanticCustomError(
                    "inputs",
                    "input {name} would be read from the same .npz array as {other}; rename it",
                    {
                        "name": ascii(name),
                        "other": "the targets (y)"
                        if name == "y"
                        else f"input {name[: -len('_val')]}'s held-out samples",
                    },
                )
        return self

    def sources(self) -> dict[str, InputSpec]:
        """Every input by the name layers refer to it with."""
        if self.inputs is not None:
            return dict(self.inputs)
        assert self.input is not None
        return {SINGLE_INPUT: self.input}
