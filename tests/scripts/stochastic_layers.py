"""Dropout and Gaussian noise in training mode, in one framework (`torch` or `keras`): prints
one JSON line with, per stochastic layer, the share of zeroed elements, the scale of the kept
ones, and the standard deviation of the added noise, measured on a large batch of ones."""

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
kept = y[y != 0]
print(
    json.dumps(
        {
            "zeroed": float((y == 0).mean()),
            "kept_mean": float(kept.mean()),
            "eval_equals_input": bool(np.array_equal(y_eval, x)),
        }
    )
)
