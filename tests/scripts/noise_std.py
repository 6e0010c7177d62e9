"""Gaussian noise in training mode, in one framework (`torch` or `keras`): prints one JSON line
with the mean and standard deviation of what the network adds to a batch of ones."""

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
        noise = model(torch.from_numpy(x)).numpy() - x
        y_eval = model.eval()(torch.from_numpy(x)).numpy()
else:
    import keras

    keras.utils.set_random_seed(0)
    model = module.build_model()
    noise = np.asarray(model(x, training=True)) - x
    y_eval = np.asarray(model(x, training=False))
print(
    json.dumps(
        {
            "mean": float(noise.mean()),
            "std": float(noise.std()),
            "eval_equals_input": bool(np.array_equal(y_eval, x)),
        }
    )
)
