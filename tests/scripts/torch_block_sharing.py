"""A block use that shares another is the same tensors: gradients of both uses add up.

Arguments: the generated package, the owning use and the sharing use. The gradient of each
owner weight in the model is compared with the sum of the two gradients that the same weights
get when the second use is given a copy of its own (an untied twin of the model).
"""

import copy
import importlib
import json
import sys
from pathlib import Path

import torch

package, owner, sharer = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
sys.path.insert(0, str(package.parent))
module = importlib.import_module(f"{package.name}.model")
torch.manual_seed(0)
tied = module.build_model().eval()  # BatchNorm in inference mode: one function, no statistics
x = torch.randn(3, *module.INPUT_SHAPE)


class Untied(torch.nn.Module):
    """The owner's block for its first call, a copy of it for the second."""

    def __init__(self, block: torch.nn.Module) -> None:
        super().__init__()
        self.uses = torch.nn.ModuleList([block, copy.deepcopy(block)])
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.uses[self.calls - 1](x)


untied = copy.deepcopy(tied)
setattr(untied, owner, Untied(getattr(untied, owner)))
for model in (tied, untied):
    y = model(x)
    (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()

first, second = getattr(untied, owner).uses
grads = {}
for name, weight in getattr(tied, owner).named_parameters():
    parts = [dict(use.named_parameters())[name].grad for use in (first, second)]
    grads[name] = {
        "max_diff": float((weight.grad - parts[0] - parts[1]).abs().max()),
        "norms": [float(p.norm()) for p in parts],
    }
print(
    json.dumps(
        {
            "parameters": [n for n, _ in tied.named_parameters()],
            "count": sum(p.numel() for p in tied.parameters()),
            "sharer_modules": [n for n, _ in tied.named_modules() if n.split(".")[0] == sharer],
            "grads": grads,
        }
    )
)
