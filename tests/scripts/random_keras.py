"""Run many generated Keras packages in one process (tests/test_random_models.py).

    python tests/scripts/random_keras.py manifest.json
    python tests/scripts/random_keras.py < path   # the manifest's path on stdin, once ready

The Keras twin of random_torch.py (see there for the manifest): the same weights, data, modes
and results, converted at the edges so that the results compare directly with torch's.

- Inputs and outputs: with `inputs:` the model takes a dict of the inputs by name; with
  several outputs it returns a list, each output compared (`<mode>/y/<i>`), the loss on the
  one the objective names (`train.output`, or the first).
- Layout: the model takes channels-last images, so images (and image-shaped mse targets) are
  transposed in, and image outputs transposed back; sequences and token ids are alike.
- Flatten order: nothing is converted. The Keras code flattens images in the spec's order
  where an output shows it (`netspec.emit.orders`), so outputs and targets are compared and
  used as they are, as a user's own targets would be.
- Gradients: every trainable variable is set to its gradient and read with
  `netspec.weights.to_arrays`, which converts kernels and permutes dense rows to torch's layout.
"""

import importlib
import json
import os
import sys
import traceback
from inspect import signature

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import netspec  # noqa: E402
from netspec import weights  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
manifest = json.load(open(sys.argv[1] if sys.argv[1:] else sys.stdin.readline().strip()))
sys.path.insert(0, manifest["root"])
keras.config.set_floatx(manifest["dtype"])


def spec_order(shape):
    """(H, W, C) -> (C, H, W); flat shapes unchanged."""
    shape = list(shape)
    return [shape[-1], *shape[:-1]] if len(shape) == 3 else shape


def gradients(model, network, grads):
    """Gradients by layer and key in torch's layout: each trainable variable is set to its
    gradient for `to_arrays`, then restored."""
    variables = model.trainable_variables
    saved = [np.array(v.numpy()) for v in variables]
    for v, g in zip(variables, grads):  # (an embedding's is sparse: IndexedSlices)
        v.assign(np.zeros(v.shape, v.dtype) if g is None else tf.convert_to_tensor(g))
    arrays = {
        layer: {key: np.array(value) for key, value in values.items()}
        for layer, values in weights.to_arrays(model, network).items()
    }
    for v, s in zip(variables, saved):
        v.assign(s)
    return arrays


def run(entry):
    keras.backend.clear_session(free_memory=False)  # its gc.collect costs 0.4 s
    network = netspec.load(entry["spec"])
    package = entry["keras"]
    model = importlib.import_module(f"{package}.model").build_model()
    make_loss = importlib.import_module(f"{package}.train").make_loss
    weights.load(model, network, entry["weights"])

    shared = {n.shares for n in network.nodes if n.shares} | {
        n.name for n in network.nodes if n.shares
    }
    names = {layer.name for layer in model.layers}
    # a node's output is its last layer's: its crop (a transposed conv's padding), its
    # activation layer, or the layer itself (as in run_keras.py)
    last = {
        n.name: next(k for k in (f"{n.name}.act", f"{n.name}.crop", n.name) if k in names)
        for n in network.nodes
        if n.name not in shared
    }
    shapes = {name: spec_order(model.get_layer(k).output.shape[1:]) for name, k in last.items()}

    outputs = network.graph.outputs
    several = len(outputs) > 1
    trained = outputs.index(network.objective.output)
    data = np.load(entry["data"])

    def keras_layout(array):
        return array.transpose(0, 2, 3, 1) if array.ndim == 4 else array

    module = importlib.import_module(f"{package}.model")
    named = getattr(module, "INPUT_SHAPES", None)  # `inputs:`: a dict by name
    x = {n: keras_layout(data[n]) for n in named} if named else keras_layout(data["x"])
    t = keras_layout(data["t"])
    sparse = t.ndim == len(network.shapes[network.objective.output])  # class indices
    loss_fn = (
        make_loss(sparse=sparse) if "sparse" in signature(make_loss).parameters else make_loss()
    )
    results = {}
    for mode in entry["modes"]:
        with tf.GradientTape() as tape:
            y = model(x, training=mode == "train")
            ys = list(y) if several else [y]
            loss = loss_fn(t, ys[trained])
        grads = tape.gradient(loss, model.trainable_variables)
        for i, out in enumerate(ys):
            out = np.asarray(out)
            if out.ndim == 4:
                out = out.transpose(0, 3, 1, 2)
            results[f"{mode}/y/{i}" if several else f"{mode}/y"] = out
        results[f"{mode}/loss"] = np.asarray(float(loss))
        for layer, arrays in gradients(model, network, grads).items():
            for key, value in arrays.items():
                if not key.startswith("running_"):
                    results[f"{mode}/grad/{layer}/{key}"] = value
        # BatchNorm's running statistics, after a training-mode pass has updated them; not
        # of a shared BatchNorm, whose uses update them in an order each backend schedules
        shared = {n.shares for n in network.nodes if n.shares}
        for layer, arrays in weights.to_arrays(model, network).items():
            for key, value in arrays.items():
                if key.startswith("running_") and layer not in shared:
                    results[f"{mode}/stats/{layer}/{key}"] = np.array(value)
    train = importlib.import_module(f"{package}.train")
    if getattr(train, "MIXING", False):  # as random_torch.py: the loss of mixed batches
        weights.load(model, network, entry["weights"])  # (the running statistics moved)
        images = next(iter(x.values())) if named else x
        classes = network.shapes[network.objective.output][0]
        rows = t if t.ndim == 2 else np.eye(classes)[t]
        mixed_loss = make_loss(sparse=False)
        for step in range(3):
            mixed_x, mixed_t = train.np_mixed(0, step, images, rows)
            y = model({next(iter(x)): mixed_x} if named else mixed_x, training=False)
            output = list(y)[trained] if several else y
            results[f"mix{step}/loss"] = np.asarray(float(mixed_loss(mixed_t, output)))
    np.savez(entry["out_keras"], **results)
    count = lambda ws: int(sum(np.prod(w.shape) for w in ws))  # noqa: E731
    return {
        "params": count(model.trainable_weights),
        "buffers": count(model.non_trainable_weights),
        "shapes": shapes,
    }


report = {}
for entry in manifest["networks"]:
    if entry["keras"] is None:
        continue
    try:
        report[entry["id"]] = run(entry)
    except Exception:  # one broken network must not hide the others
        report[entry["id"]] = {"error": traceback.format_exc(limit=8)}
print(json.dumps(report))
