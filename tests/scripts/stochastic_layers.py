"""A dropout or Gaussian-noise network in training mode, in one framework (`torch` or `keras`):
prints one JSON line about its output for a large batch of ones: the share of zeroed elements
and the mean of the kept ones (dropout), the mean and standard deviation of what was added
(noise), and whether eval mode is the identity."""

import importlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

backend, package = sys.argv[1], Path(sys.argv[2])
sys.path.insert(0, str(package.parent))
module = importlib.import_module(f"{package.name}.model")
x = np.ones((64, *module.INPUT_SHAPE), dtype="float32")
if backend == "torch":
    import torch

    torch.manual_seed(0)
    model = module.build_model().train()
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy()
        y_eval = model.eval()(torch.from_numpy(x)).numpy()
else:
    import keras

    keras.utils.set_random_seed(0)
    model = module.build_model()
    y = np.asarray(model(x, training=True))
    y_eval = np.asarray(model(x, training=False))
added = y - x
print(
    json.dumps(
        {
            "zeroed": float((y == 0).mean()),
            "kept_mean": float(y[y != 0].mean()),
            "added_mean": float(added.mean()),
            "added_std": float(added.std()),
            "eval_equals_input": bool(np.array_equal(y_eval, x)),
        }
    )
)
