"""The generated Keras VGG-16 computes what keras.applications.VGG16 computes.

Copies the reference's weights into the generated model by layer order (the layers that have
weights), runs both on the same images and prints, as JSON, the largest difference of their
logits relative to the largest logit (the reference is built with `classifier_activation=None`:
the softmax of a random network is 1/1000 +- 1e-6 whatever the input, so comparing
probabilities would pass for a model that reads its input upside down). To show that the
comparison would catch such a model, it also prints the same relative difference for the
generated model given the images flipped, transposed (height for width) and with the colour
channels reversed, each against the reference on the images as they are.
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
reference = keras.applications.VGG16(weights=None, classifier_activation=None)
model = module.build_model()
ours = [layer for layer in model.layers if layer.weights]
theirs = [layer for layer in reference.layers if layer.weights]
assert len(ours) == len(theirs), (len(ours), len(theirs))
for mine, ref in zip(ours, theirs):
    mine.set_weights(ref.get_weights())
x = np.random.default_rng(0).uniform(0, 1, (2, 224, 224, 3)).astype("float32")
expected = np.asarray(reference(x, training=False))
one = x[:1]  # the wrong inputs: one image is enough to show the difference
broken = {
    "flipped": one[:, ::-1],
    "transposed": one.transpose(0, 2, 1, 3),
    "channels_reversed": one[..., ::-1],
}
outputs = np.asarray(model(np.concatenate([x, *broken.values()]), training=False))
got, wrong = outputs[: len(x)], outputs[len(x) :]
scale = float(np.abs(expected).max())


def relative(y, reference):
    return float(np.abs(y - reference).max()) / scale


print(
    json.dumps(
        {
            "params": model.count_params(),
            "reference_params": reference.count_params(),
            "max_abs_logit": scale,
            "relative_diff": relative(got, expected),
            "broken_relative_diff": {k: relative(y, expected[0]) for k, y in zip(broken, wrong)},
            "argmax_equal": bool((got.argmax(1) == expected.argmax(1)).all()),
        }
    )
)
