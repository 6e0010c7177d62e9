"""Element-wise activations: each is an `activation:` value (fused into a layer) and, with
`LayerBase`, a layer kind of its own."""

from typing import Annotated, Literal

from pydantic import Field

from netspec.ir.base import PARAM, IRModel, LayerBase, PosFloat, Shape, tagged


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
