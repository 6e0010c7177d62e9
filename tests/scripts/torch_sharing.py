"""A shared layer is one set of weights used twice: gradients from both uses accumulate."""

import importlib
import json
import sys
from pathlib import Path

import torch

package = Path(sys.argv[1])
sys.path.insert(0, str(package.parent))
model = importlib.import_module(f"{package.name}.model").build_model()
names = [n for n, _ in model.named_parameters()]
x = torch.randn(4, 16)
target = torch.randn(4, 8)
(model(x) * target).sum().backward()
grad_both = model.enc.weight.grad.clone()

# The same gradient by hand: the encoder applied to both of its inputs.
weight = model.enc.weight.detach().clone().requires_grad_(True)
proj = torch.tanh(model.proj(x))
both = torch.relu(x @ weight.T + model.enc.bias) + torch.relu(proj @ weight.T + model.enc.bias)
(torch.log_softmax(torch.tanh(both), dim=1) * target).sum().backward()
print(
    json.dumps(
        {
            "parameters": names,
            "max_grad_diff": float((grad_both - weight.grad).abs().max()),
            "grad_norm": float(grad_both.norm()),
        }
    )
)
