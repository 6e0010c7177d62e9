"""The IR's building blocks: field types (names, `$param` references, pairs, rates), the frozen
base model, shape errors, tagged unions with a bare-tag shorthand, and `LayerBase`, the fields and
methods every layer kind has. The kinds themselves live in one module per family."""

import builtins
import keyword
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
        "set_submodule",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_backward_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_state_dict_pre_hook",
        "register_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_load_state_dict_post_hook",
        "T_destination",
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
    if isinstance(value, str) and not value.startswith("$"):  # (`same` is not a pool's)
        raise PydanticCustomError(
            "pair", "expected a number or a list of two, got str {value}", {"value": ascii(value)}
        )
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, float):
        raise PydanticCustomError(
            "pair", "expected an integer or a list of two, got float {value}", {"value": value}
        )
    if isinstance(value, list) and len(value) != 2:  # (pydantic: "missing" the second)
        raise PydanticCustomError(
            "pair",
            "expected a number or a list of two, got a list of {count}",
            {"count": len(value)},
        )
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
Padding1d = Annotated[
    Annotated[Literal["valid", "same"], Tag("mode")] | Annotated[NonNegInt, Tag("size")],
    Discriminator(lambda v: "mode" if isinstance(v, str) and not v.startswith("$") else "size"),
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
    """A shape as Python writes a tuple: `(3, 32, 32)`, `(10,)`."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def describe(shape: Shape) -> str:
    """A per-sample shape in words: what kind of tensor it is, then its sizes."""
    kind = {1: "features", 2: "a sequence", 3: "an image"}.get(len(shape), "a tensor")
    return f"{kind} {fmt(shape)}"


def _image(layer: str, shape: Shape) -> Shape:
    if len(shape) != 3:
        hint = "; conv1d, maxpool1d and avgpool1d take sequences" if len(shape) == 2 else ""
        raise ShapeError(f"{layer} needs a (C, H, W) image, got {describe(shape)}{hint}")
    return shape


def _sequence(layer: str, shape: Shape) -> Shape:
    if len(shape) != 2:
        hint = "; to_sequence turns an image into one" if len(shape) == 3 else ""
        raise ShapeError(f"{layer} needs a (T, F) sequence, got {describe(shape)}{hint}")
    return shape


def _vector_or_image(layer: str, shape: Shape) -> Shape:
    """For per-channel layers (batchnorm, groupnorm): the channels are axis 0 of either."""
    if len(shape) not in (1, 3):
        raise ShapeError(f"{layer} needs (F,) features or a (C, H, W) image, got {describe(shape)}")
    return shape


def features(shape: Shape) -> int:
    """The size of the axis that per-feature weights (dense rows, layernorm, scale) act on:
    the channels of an image, the features of a vector or of each step of a sequence."""
    return shape[-1] if len(shape) == 2 else shape[0]


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
    takes_tokens: ClassVar[bool] = False
    """Whether the kind takes token ids (an int64 input) instead of float features."""

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def param_count(self, inputs: list[Shape]) -> tuple[int, int]:
        """(trainable parameters, non-trainable buffers such as BatchNorm's running stats)."""
        return 0, 0

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        """Multiply-accumulates for one sample (FLOPs = 2 x MACs)."""
        return 0

    def channels(self, inputs: list[str], rank: int) -> str | None:
        """Symbolic output channel count (Python source over block parameters and
        `in_channels`), for code that builds a block for any input; None when it depends on
        the spatial size too. `rank`: of the inputs' per-sample shapes (the channels are the
        last axis of a (T, F) sequence, axis 0 of the others)."""
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
