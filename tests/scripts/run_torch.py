"""Run a generated torch package in its own process (see tests/frameworks.py).

Prints one JSON line: trainable parameters, buffers, and the output shape (per sample) of every
spec layer, taken from forward hooks during a real forward pass. Optionally loads weights from
an .npz, randomises BatchNorm statistics (so inference-mode parity means something), saves the
weights and writes the outputs for the inputs given.
"""

import argparse
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

import netspec
from netspec import weights

parser = argparse.ArgumentParser()
parser.add_argument("spec")
parser.add_argument("package", help="path of the generated package")
parser.add_argument("--x", help=".npz with array x (N, *spec input shape)")
parser.add_argument("--y", help="write the outputs here (.npy)")
parser.add_argument("--load", help="weights .npz to load")
parser.add_argument("--save", help="write the weights here (.npz)")
parser.add_argument(
    "--grads",
    help="write here (.npz, weight layout) the gradients of sum(outputs * r), r from --x's npz",
)
args = parser.parse_args()

package = Path(args.package)
sys.path.insert(0, str(package.parent))
module = importlib.import_module(f"{package.name}.model")
network = netspec.load(args.spec)
torch.manual_seed(0)
model = module.build_model().eval()
fresh = weights.to_arrays(model, network)
padding_rows = {  # the padding_index rows of the fresh model's embeddings: largest magnitude
    n.name: float(np.abs(fresh[n.name]["weight"][n.layer.padding_index]).max())
    for n in network.nodes
    if n.layer.type == "embedding" and n.layer.padding_index is not None and not n.shares
}
if args.load:
    weights.load(model, network, args.load)
else:
    generator = torch.Generator().manual_seed(1)
    for layer in model.modules():
        if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
            for buffer in (layer.weight, layer.bias, layer.running_mean):
                buffer.data.uniform_(-0.5, 0.5, generator=generator)
            layer.running_var.data.uniform_(0.5, 2.0, generator=generator)
if args.save:
    weights.save(model, network, args.save)

names = {n.name for n in network.nodes}
shapes: dict[str, list[int]] = {}


def record(name):
    def hook(_module, _inputs, output):
        shapes.setdefault(name, list(output.shape[1:]))

    return hook


for name, layer in model.named_modules():
    if name in names:
        layer.register_forward_hook(record(name))
data = (
    np.load(args.x) if args.x else {"x": np.random.randn(2, *module.INPUT_SHAPE).astype("float32")}
)
named = getattr(module, "INPUT_SHAPES", None)  # several inputs, by name
inputs = (
    {n: torch.from_numpy(data[n]) for n in named} if named else {"x": torch.from_numpy(data["x"])}
)


def forward() -> torch.Tensor:
    """The model's output, or its several outputs flattened and concatenated (spec order)."""
    out = model(**inputs)
    if isinstance(out, tuple):
        return torch.cat([o.reshape(len(o), -1) for o in out], dim=1)
    return out


with torch.no_grad():
    y = forward()
if args.y:
    np.save(args.y, y.numpy())
if args.grads:
    # Inference mode (dropout off, BatchNorm on its statistics), so that both backends compute
    # one function; the gradients are stored in the weights' places, so that netspec.weights
    # writes them in torch's layout (and the Keras run in Keras's, converted the same way).
    r = torch.from_numpy(np.load(args.x)["r"])
    model.zero_grad()
    (forward() * r).sum().backward()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.grad if p.grad is not None else torch.zeros_like(p))
        for b in model.buffers():
            b.zero_()
    weights.save(model, network, args.grads)
buffers = sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
print(
    json.dumps(
        {
            "params": sum(p.numel() for p in model.parameters()),
            "buffers": buffers,
            "constant": module.NUM_PARAMETERS,
            "shapes": shapes,
            "padding_rows": padding_rows,
            "output": list(y.shape[1:]),
        }
    )
)
