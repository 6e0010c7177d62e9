"""A generated model against the framework's own reference model, through
`netspec.weights.from_reference`.

Usage: reference_model.py torch|keras PACKAGE REFERENCE [MISMATCHED]

REFERENCE is a torchvision model function (`resnet50`) or a keras.applications class
(`ConvNeXtTiny`), built without pretrained weights. Every weight of the reference is first
randomised (kernels with a fan-in scaled normal, scales near 1, shifts near 0, BatchNorm
statistics spread out): a fresh reference has BatchNorm statistics of 0 and 1 and ConvNeXt's
layer scale of 1e-6, under which a model that skips a whole branch would still match. The
weights are copied into the generated model by `from_reference`, and both run on the same
two images in inference mode (torch in float64). `spread`, how far apart the reference's logits
for the two images are, tells how much a difference means: under random weights some networks'
logits hardly depend on their input (EfficientNet-B0's by 6e-6 of the largest in float32).
MISMATCHED, a reference whose tensors do not line up, must be refused with nothing copied.
For torch, the training step's forward and backward graphs (as torch.compile's AOTAutograd
traces them) are counted op by op in both models: the generated model should do the
reference's work, no more. Prints one JSON line.
"""

import importlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from netspec import weights  # noqa: E402

framework, package, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
mismatched = sys.argv[4] if len(sys.argv) > 4 else None
sys.path.insert(0, str(package.parent))
module = importlib.import_module(f"{package.name}.model")
rng = np.random.default_rng(0)


REFERENCE_OPTIONS = {"googlenet": {"aux_logits": False, "init_weights": False}}
"""torchvision's options that make its model the shipped spec's (GoogLeNet without its
auxiliary heads, which a spec of the inference network leaves out)."""


def randomised(shape, key, fan_in):
    if len([d for d in shape if d != 1]) >= 2:
        return rng.normal(0, 1 / np.sqrt(fan_in), shape)
    if key.endswith(("bias", "beta", "running_mean", "moving_mean")):
        return rng.uniform(-0.1, 0.1, shape)
    return rng.uniform(0.5, 1.5, shape)  # scales, variances, layer scales


def torch_run():
    import torch
    import torchvision

    def reference_of(ref_name):
        options = REFERENCE_OPTIONS.get(ref_name, {})
        return getattr(torchvision.models, ref_name)(weights=None, **options).eval()

    reference = reference_of(name)
    with torch.no_grad():
        for key, t in reference.state_dict().items():
            if t.is_floating_point():
                fan_in = int(np.prod(t.shape[1:])) if t.dim() > 1 else 1
                t.copy_(torch.from_numpy(randomised(tuple(t.shape), key, fan_in)))
    torch.manual_seed(0)
    model = module.build_model().eval()
    mapped = weights.from_reference(model, reference)
    x = torch.from_numpy(rng.standard_normal((2, *module.INPUT_SHAPE)).astype("float32"))
    with torch.no_grad():  # in float64: a difference is another function, not rounding
        expected, got = (m.double()(x.double()).numpy() for m in (reference, model))
    reference.float(), model.float()

    def count(tensors):
        return int(sum(t.numel() for t in tensors))

    result = {
        "params": count(model.parameters()),
        "reference_params": count(reference.parameters()),
        "buffers": count(model.buffers()),
        "reference_buffers": count(reference.buffers()),
    }
    refusal = None
    if mismatched:
        before = {k: v.clone() for k, v in model.state_dict().items()}
        try:
            weights.from_reference(model, reference_of(mismatched))
        except weights.WeightMismatch as error:
            refusal = str(error)
        unchanged = all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        result["unchanged_after_refusal"] = unchanged
    result["graph_op_differences"] = graph_op_differences(model, reference, x)
    return mapped, expected, got, result, refusal


def training_graph_ops(model, x):
    """How often each ATen op occurs in `model`'s forward and backward graphs of a training
    step, as torch.compile's AOTAutograd traces them (no code is generated)."""
    from collections import Counter

    import torch
    from functorch.compile import make_boxed_func
    from torch._functorch.aot_autograd import aot_module_simplified

    counts = []

    def count(graph, _inputs):
        ops = Counter(str(n.target) for n in graph.graph.nodes if n.op == "call_function")
        counts.append(dict(ops))
        return make_boxed_func(graph.forward)

    def backend(graph, inputs):
        return aot_module_simplified(graph, inputs, fw_compiler=count, bw_compiler=count)

    torch._dynamo.reset()
    torch.compile(model.train(), backend=backend, fullgraph=True)(x).sum().backward()
    model.eval()
    return counts


def graph_op_differences(model, reference, x):
    """{graph: {op: [generated count, reference count]}} where the two differ."""
    ours, theirs = training_graph_ops(model, x), training_graph_ops(reference, x)
    assert len(ours) == len(theirs) == 2, (len(ours), len(theirs))
    return {
        graph: {
            op: [a.get(op, 0), b.get(op, 0)]
            for op in sorted(set(a) | set(b))
            if a.get(op, 0) != b.get(op, 0)
        }
        for graph, a, b in zip(("forward", "backward"), ours, theirs)
    }


def keras_run():
    import keras

    def reference_of(ref_name):
        return getattr(keras.applications, ref_name)(
            weights=None, include_preprocessing=False, classifier_activation=None
        )

    keras.utils.set_random_seed(0)
    reference = reference_of(name)
    for v in reference.weights:
        shape = tuple(v.shape)
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        v.assign(randomised(shape, v.path, fan_in).astype("float32"))
    model = module.build_model()
    mapped = weights.from_reference(model, reference)
    shape = module.INPUT_SHAPE
    x = rng.standard_normal((2, *shape[1:], shape[0])).astype("float32")
    expected = np.asarray(reference(x, training=False))
    got = np.asarray(model(x, training=False))
    result = {
        "params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "reference_params": int(sum(np.prod(w.shape) for w in reference.trainable_weights)),
    }
    refusal = None
    if mismatched:
        before = [np.asarray(w) for w in model.weights]
        try:
            weights.from_reference(model, reference_of(mismatched))
        except weights.WeightMismatch as error:
            refusal = str(error)
        after = [np.asarray(w) for w in model.weights]
        result["unchanged_after_refusal"] = all(np.array_equal(a, b) for a, b in zip(before, after))
    return mapped, expected, got, result, refusal


mapped, expected, got, result, refusal = torch_run() if framework == "torch" else keras_run()
scale = float(np.abs(expected).max())
print(
    json.dumps(
        {
            **result,
            "mapped": len(mapped),
            "first_mapped": [mapped[0].source, mapped[0].target, list(mapped[0].shape)],
            "max_abs_output": scale,
            "relative_diff": float(np.abs(got - expected).max()) / scale,
            "spread": float(np.abs(expected[0] - expected[1]).max()) / scale,
            "argmax_equal": bool((got.argmax(1) == expected.argmax(1)).all()),
            "refusal": refusal,
        }
    )
)
