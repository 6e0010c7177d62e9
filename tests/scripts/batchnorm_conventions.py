"""BatchNorm's epsilon and momentum as each framework sees them, and the running statistics and
the outputs after one training-mode forward pass from the same weights (traps.yaml's BatchNorm of
an image): the spec's BatchNorm must mean the same in both."""

import importlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402

import netspec  # noqa: E402
from netspec import weights  # noqa: E402

KEYS = ("mean", "var")
backend, spec, package, saved = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]
sys.path.insert(0, str(package.parent))
network = netspec.load(spec)
model = importlib.import_module(f"{package.name}.model").build_model()
weights.load(model, network, saved)
x = np.random.default_rng(0).standard_normal((8, *network.input_shape)).astype("float32")
if backend == "torch":
    import torch

    bn = model.stem_bn
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(x))
    result = {"eps": bn.eps, "momentum": bn.momentum}
    stats = [bn.running_mean, bn.running_var]
    result.update(zip(KEYS, (s.tolist() for s in stats)))
else:
    bn = model.get_layer("stem_bn")
    model(x.transpose(0, 2, 3, 1), training=True)
    result = {"eps": bn.epsilon, "momentum": bn.momentum}
    stats = [np.asarray(bn.moving_mean), np.asarray(bn.moving_variance)]
    result.update(zip(KEYS, (s.tolist() for s in stats)))
print(json.dumps(result))
