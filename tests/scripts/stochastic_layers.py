"""A dropout, drop-path or Gaussian-noise network in training mode, in one framework (`torch`
or `keras`): prints one JSON line about its output for a batch of ones (64 samples, or
argv[3]): the share of zeroed elements, the mean of the kept ones and whether each sample was
zeroed whole (dropout, drop_path), the mean and standard deviation of what was added (noise),
and whether eval mode is the identity."""

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
samples = int(sys.argv[3]) if len(sys.argv) > 3 else 64
x = np.ones((samples, *module.INPUT_SHAPE), dtype="float32")
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
            "samples_zeroed_whole": bool(((y == 0).all(1) | (y != 0).all(1)).all()),
            "added_mean": float(added.mean()),
            "added_std": float(added.std()),
            "eval_equals_input": bool(np.array_equal(y_eval, x)),
        }
    )
)
