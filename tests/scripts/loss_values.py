"""The loss and accuracy as a generated training program computes them, for each case of a
manifest (see tests/test_losses.py), in one framework: `torch` or `keras`.

torch: the program's `Trainer.forward` (what each training step computes). Keras: the model
compiled with the program's `make_loss`/`make_metrics` and `evaluate`d on the batch (what `fit`
computes). Weights are copied from the torch model through `netspec.weights`. Writes the
outputs (spec layout) and prints one JSON line: {case: {"loss": .., "accuracy": ..}}.
"""

import importlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import netspec  # noqa: E402
from netspec import weights  # noqa: E402

backend, manifest = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
results = {}
for case in manifest:
    package = Path(case[f"{backend}_package"])
    sys.path.insert(0, str(package.parent))
    model_module = importlib.import_module(f"{package.name}.model")
    program = importlib.import_module(f"{package.name}.train")
    network = netspec.load(case["spec"])
    data = np.load(case["data"])
    x, y = data["x"], data["y"]
    if backend == "torch":
        import torch

        torch.manual_seed(0)
        model = model_module.build_model().eval()
        weights.save(model, network, case["weights"])
        optimizer = program.make_optimizer(model.parameters(), 0.01, None)
        trainer = program.Trainer(model, optimizer, torch.device("cpu"), "off", False)
        targets = torch.from_numpy(program.check_targets(y, len(y), "y"))
        with torch.no_grad():
            loss, correct = trainer.forward((torch.from_numpy(x),), targets)
            output = model(torch.from_numpy(x)).numpy()
        accuracy = float(correct) / len(x)
    else:
        model = model_module.build_model()
        weights.load(model, network, case["weights"])
        targets = program.check_targets(y, len(y), "y")
        sparse = np.issubdtype(targets.dtype, np.integer) and program.TARGETS != "input"
        model.compile(
            optimizer="sgd", loss=program.make_loss(sparse), metrics=program.make_metrics(sparse)
        )
        inputs = program.check_samples(x, program.INPUTS["x"], False, "x")
        logs = model.evaluate(inputs, targets, batch_size=len(x), verbose=0, return_dict=True)
        loss, accuracy = logs["loss"], logs.get("accuracy", 0.0)
        output = np.asarray(model(inputs, training=False))
        if output.ndim == 4:
            output = output.transpose(0, 3, 1, 2)
    np.save(case[f"{backend}_output"], output)
    results[case["name"]] = {"loss": float(loss), "accuracy": float(accuracy)}
print(json.dumps(results))
