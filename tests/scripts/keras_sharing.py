"""The layers and weights of a generated Keras model, to check what sharing makes of them.

Prints one JSON line: trainable parameters, the layer names, and the path of every weight.
"""

import importlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

package = Path(sys.argv[1])
sys.path.insert(0, str(package.parent))
model = importlib.import_module(f"{package.name}.model").build_model()
print(
    json.dumps(
        {
            "params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
            "layers": [layer.name for layer in model.layers],
            "weights": [w.path for w in model.weights],
        }
    )
)
