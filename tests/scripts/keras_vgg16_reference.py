"""The generated Keras VGG-16 computes what keras.applications.VGG16 computes.

Copies the reference's weights into the generated model by layer order (the layers that have
weights), runs both on the same images and prints the largest difference as JSON. The
reference ends in a softmax; the spec's last layer gives logits, so softmax is applied here.
"""

import importlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

package = Path(sys.argv[1])
sys.path.insert(0, str(package.parent))
module = importlib.import_module(f"{package.name}.model")
keras.utils.set_random_seed(0)
reference = keras.applications.VGG16(weights=None)
model = module.build_model()
ours = [layer for layer in model.layers if layer.weights]
theirs = [layer for layer in reference.layers if layer.weights]
assert len(ours) == len(theirs), (len(ours), len(theirs))
for mine, ref in zip(ours, theirs):
    mine.set_weights(ref.get_weights())
x = np.random.default_rng(0).uniform(0, 1, (2, 224, 224, 3)).astype("float32")
expected = np.asarray(reference(x, training=False))
got = np.asarray(keras.ops.softmax(model(x, training=False)))
print(
    json.dumps(
        {
            "params": model.count_params(),
            "reference_params": reference.count_params(),
            "max_abs_diff": float(np.abs(got - expected).max()),
            "argmax_equal": bool((got.argmax(1) == expected.argmax(1)).all()),
        }
    )
)
