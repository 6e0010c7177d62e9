"""Count the multiply-accumulates of generated torch models with forward hooks (see
tests/test_macs.py and tests/frameworks.py).

Usage: torch_macs.py FOLDER NAME... ; FOLDER/NAME is a generated torch package. Prints one JSON
line: for each NAME, the MACs per sample counted by hooks on every leaf module during one forward
pass of a batch of 1 (eval mode), the same run's count by torch's own FlopCounterMode (aten's
convolution and matrix products; FLOPs = 2 x MACs), the hook count per module, and the leaf
module types the hooks have no rule for.

The model is built and run on torch's "meta" device: every operator computes its output's shape
and no values, which is all a MAC count reads (the values are tested elsewhere: test_models.py),
and it halves this script's time (no initialisation of VGG's 138M weights, no 60 GMACs run).

The rule is per torch module type, from the module's attributes and the tensors of the call,
not from netspec:

- `nn.Conv2d`: output elements x in_channels / groups x kh x kw;
- `nn.ConvTranspose2d`: input elements x out_channels / groups x kh x kw;
- `nn.Linear`: in_features x out_features for each row of the input;
- the generated `TiedLinear` (a dense layer tied to an embedding, given its (out, in) table):
  in x out for each row of the input;
- `nn.Conv1d` (the generated `SequenceConv1d` on (N, T, F)): output elements x in_channels /
  groups x k;
- `nn.MultiheadAttention` (counted as one module, its output projection included: torch calls
  its weights, not the submodule): the query, key, value and output projections (T query
  steps, S context steps, width E: 2 T E^2 + 2 S E^2) and the two products of attention
  (2 T S E);
- `nn.LSTM`, `nn.GRU`: per layer and direction, each step's input and recurrent products
  (gates x hidden x (input + hidden), gates 4 or 3);
- the types of ZERO (activations, norms, pools, dropout, resampling, element-wise merges, the
  generated helper modules): 0.

Per sample: each count is divided by the batch size. A module called twice (a shared layer)
counts twice. A leaf module of any other type is reported, so that a new layer kind gets a rule
here before this test can pass.
"""

import importlib
import json
import sys
from collections import defaultdict
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

ZERO_TORCH = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Softmax,
    nn.LogSoftmax,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.Flatten,
    nn.Dropout,
    nn.Upsample,
    nn.Identity,
    nn.ZeroPad2d,
    nn.ConstantPad2d,
    nn.Embedding,
    nn.MaxPool1d,
    nn.AvgPool1d,
)
ZERO_GENERATED = {"Add", "Concat", "Multiply", "Scale", "DropPath", "GaussianNoise"}
ZERO_GENERATED |= {"PositionEmbedding", "ClassToken", "ToSequence", "Select"}
ZERO_GENERATED |= {"GlobalAvgPool1d", "GlobalMaxPool1d"}
"""Helper modules the generated model.py defines (element-wise, concatenation, noise)."""


def rule(module: nn.Module):
    """The MAC count of one call, or None for a type without a rule."""
    if type(module) is nn.Conv2d:
        kh, kw = module.kernel_size
        per = module.in_channels // module.groups * kh * kw
        return lambda inputs, output: output.numel() * per
    if type(module) is nn.ConvTranspose2d:
        kh, kw = module.kernel_size
        per = module.out_channels // module.groups * kh * kw
        return lambda inputs, output: inputs[0].numel() * per
    if type(module) is nn.Linear:
        return lambda inputs, output: inputs[0].numel() * module.out_features
    if type(module).__name__ == "TiedLinear":  # given the (out, in) weight of an embedding
        return lambda inputs, output: inputs[0].numel() * inputs[1].shape[0]
    if isinstance(module, nn.Conv1d):
        per = module.in_channels // module.groups * module.kernel_size[0]
        return lambda inputs, output: output.numel() * per
    if isinstance(module, nn.MultiheadAttention):
        width = module.embed_dim

        def attention(inputs, output):
            query = inputs[0]
            context = inputs[1] if len(inputs) > 1 and inputs[1] is not None else query
            steps, length = query.shape[1], context.shape[1]
            per = 2 * steps * width**2 + 2 * length * width**2 + 2 * steps * length * width
            return query.shape[0] * per

        return attention
    if isinstance(module, (nn.LSTM, nn.GRU)):
        gates = 4 if isinstance(module, nn.LSTM) else 3
        hidden, directions = module.hidden_size, 2 if module.bidirectional else 1
        widths = [module.input_size] + [hidden * directions] * (module.num_layers - 1)
        per_step = directions * sum(gates * hidden * (w + hidden) for w in widths)
        return lambda inputs, output: inputs[0].shape[0] * inputs[0].shape[1] * per_step
    if isinstance(module, ZERO_TORCH) or type(module).__name__ in ZERO_GENERATED:
        return lambda inputs, output: 0
    return None


def count(package: Path) -> dict:
    sys.path.insert(0, str(package.parent))
    model_module = importlib.import_module(f"{package.name}.model")
    with torch.device("meta"):
        model = model_module.build_model().eval()
    per_module: dict[str, int] = defaultdict(int)
    unknown = set()

    def hook(name, counter):
        def record(_module, inputs, output):
            per_module[name] += counter(inputs, output) // inputs[0].shape[0]

        return record

    inside = set()  # modules of an attention, counted with it
    for name, module in model.named_modules():
        if isinstance(module, nn.MultiheadAttention):
            inside.update(id(m) for m in module.modules() if m is not module)
        elif id(module) in inside or next(module.children(), None) is not None:
            continue  # a container: its leaves are counted
        counter = rule(module)
        if counter is None:
            unknown.add(f"{type(module).__module__}.{type(module).__qualname__}")
        else:
            module.register_forward_hook(hook(name, counter))
    shapes = getattr(model_module, "INPUT_SHAPES", None) or {"x": model_module.INPUT_SHAPE}
    dtypes = getattr(model_module, "INPUT_DTYPES", None) or {
        "x": getattr(model_module, "INPUT_DTYPE", "float32")
    }
    inputs = {
        name: torch.zeros(1, *shape, device="meta", dtype=getattr(torch, dtypes[name]))
        for name, shape in shapes.items()
    }
    flops = FlopCounterMode(display=False)
    with torch.no_grad(), flops:
        model(**inputs)
    return {
        "hooks": sum(per_module.values()),
        "flop_counter": flops.get_total_flops() // 2,
        "modules": {name: macs for name, macs in per_module.items() if macs},
        "unknown": sorted(unknown),
    }


def main() -> None:
    folder, names = Path(sys.argv[1]), sys.argv[2:]
    print(json.dumps({name: count(folder / name) for name in names}))


if __name__ == "__main__":
    main()
