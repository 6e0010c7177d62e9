"""Run a generated Keras package in its own process (see tests/frameworks.py).

Prints one JSON line: the Keras backend it ran on (KERAS_BACKEND: tensorflow or jax),
trainable and non-trainable parameter counts, and the output shape of every spec layer in the
spec's channels-first order (the model itself is channels-last). Inputs and outputs on disk are
in the spec's layout and transposed here; outputs are NumPy arrays whatever the backend.
"""

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import netspec  # noqa: E402
from netspec import weights  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("spec")
parser.add_argument("package")
parser.add_argument("--x")
parser.add_argument("--y")
parser.add_argument("--load")
parser.add_argument("--save")
parser.add_argument("--grads", help="as run_torch.py's --grads")
args = parser.parse_args()

package = Path(args.package)
sys.path.insert(0, str(package.parent))
module = importlib.import_module(f"{package.name}.model")
network = netspec.load(args.spec)
keras.utils.set_random_seed(0)
model = module.build_model()
fresh = weights.to_arrays(model, network)
padding_rows = {  # the padding_index rows of the fresh model's embeddings: largest magnitude
    n.name: float(np.abs(fresh[n.name]["weight"][n.layer.padding_index]).max())
    for n in network.nodes
    if n.layer.type == "embedding" and n.layer.padding_index is not None and not n.shares
}
if args.load:
    weights.load(model, network, args.load)
if args.save:
    weights.save(model, network, args.save)


def spec_order(shape):
    """(H, W, C) -> (C, H, W); flat shapes unchanged."""
    shape = [int(d) for d in shape]
    return [shape[-1], *shape[:-1]] if len(shape) == 3 else shape


def keras_order(array):
    return array.transpose(0, 2, 3, 1) if array.ndim == 4 else array


shared = {n.shares for n in network.nodes if n.shares} | {n.name for n in network.nodes if n.shares}
probe = [n.name for n in network.nodes if n.name not in shared]
data = np.load(args.x) if args.x else {"x": np.random.rand(2, *module.INPUT_SHAPE)}


def prepared(array):
    return keras_order(array if array.dtype.kind == "i" else array.astype("float32"))


named = getattr(module, "INPUT_SHAPES", None)  # several inputs, by name
x = {n: prepared(data[n]) for n in named} if named else prepared(data["x"])
names = {layer.name for layer in model.layers}


def last_step(name):
    """A node's output is its last layer's: its activation, its crop, or the layer itself."""
    return next(n for n in (f"{name}.act", f"{name}.crop", name) if n in names)


probed = [model.get_layer(last_step(n)).output for n in probe]
outputs = keras.Model(model.input, probed)(x, training=False)
outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]  # one probed layer
shapes = {n: spec_order(np.shape(o)[1:]) for n, o in zip(probe, outputs)}


def spec_layout(out):
    """An output in the spec's layout; several flattened and concatenated (as run_torch.py)."""
    if isinstance(out, (list, tuple)):
        return np.concatenate([spec_layout(o).reshape(len(o), -1) for o in out], axis=1)
    out = np.asarray(out)
    return out.transpose(0, 3, 1, 2) if out.ndim == 4 else out


y = spec_layout(model(x, training=False))
if args.y:
    np.save(args.y, y)
if args.grads:
    r = np.load(args.x)["r"]  # in the spec's layout, as spec_ops makes the outputs

    def spec_ops(out):
        """spec_layout in keras.ops, so that gradients flow through it."""
        if isinstance(out, (list, tuple)):
            flat = [keras.ops.reshape(spec_ops(o), (keras.ops.shape(o)[0], -1)) for o in out]
            return keras.ops.concatenate(flat, axis=1)
        return keras.ops.transpose(out, (0, 3, 1, 2)) if len(out.shape) == 4 else out

    trainable = model.trainable_variables
    if keras.backend.backend() == "jax":
        import jax

        frozen = [v.value for v in model.non_trainable_variables]

        def objective(values):
            out, _ = model.stateless_call(values, frozen, x, training=False)
            return keras.ops.sum(spec_ops(out) * r)

        grads = jax.grad(objective)([v.value for v in trainable])
    else:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            objective = keras.ops.sum(spec_ops(model(x, training=False)) * r)
        grads = tape.gradient(objective, trainable)
        grads = [
            None if g is None else tf.convert_to_tensor(g) for g in grads
        ]  # embeddings' are sparse
    for variable, grad in zip(trainable, grads):
        variable.assign(np.zeros(variable.shape) if grad is None else np.asarray(grad))
    for variable in model.non_trainable_variables:
        variable.assign(np.zeros(variable.shape, variable.dtype))
    weights.save(model, network, args.grads)
count = lambda ws: int(sum(np.prod(w.shape) for w in ws))  # noqa: E731
print(
    json.dumps(
        {
            "backend": keras.backend.backend(),
            "params": count(model.trainable_weights),
            "buffers": count(model.non_trainable_weights),
            "constant": module.NUM_PARAMETERS,
            "shapes": shapes,
            "padding_rows": padding_rows,
            "output": [int(d) for d in y.shape[1:]],  # y is in the spec's layout already
        }
    )
)
