"""The synthetic targets of generated training programs, in one framework: for each package
given, prints what its synthetic data set pairs with the inputs (the share of 1s for binary
labels, whether the target is the input for an autoencoder, the target shape)."""

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

backend, packages = sys.argv[1], sys.argv[2:]
results = {}
for package in map(Path, packages):
    sys.path.insert(0, str(package.parent))
    program = importlib.import_module(f"{package.name}.train")
    if backend == "torch":
        data = program.Synthetic(400, 0)
        pairs = [data[i] for i in range(len(data))]
        x = np.stack([np.asarray(p[0][0], dtype="float32") for p in pairs])  # the one input
        y = np.stack([np.asarray(p[1], dtype="float32") for p in pairs])
    else:
        args = argparse.Namespace(seed=0, global_batch=400)  # its one batch
        xs, y = program.synthetic(args)
        x, y = np.asarray(xs["x"], dtype="float32"), np.asarray(y, dtype="float32")
    results[package.name] = {
        "shape": list(y.shape[1:]),
        "ones": float((y == 1).mean()),
        "binary": bool(np.isin(y, (0, 1)).all()),
        "is_input": bool(y.shape == x.shape and np.array_equal(x, y)),
    }
print(json.dumps(results))
