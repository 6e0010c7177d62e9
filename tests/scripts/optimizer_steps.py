"""Steps of the generated optimizers and schedules under one framework, for
tests/test_optimizers.py.

    optimizer_steps.py BACKEND ROOT CASES.json DATA.npz

BACKEND is `torch` (the generated torch package) or `keras-BACKEND` (the generated Keras
package on that Keras backend; on JAX through stateless_apply under jax.jit, as model.fit
runs it). For each case, the package ROOT/<torch or keras>_<id> is imported and its own
make_optimizer and schedule (make_scheduler, or learning_rate as the Keras program's callback
sets it) drive len(DATA["grads_*"]) steps of the fixed gradients in DATA on the fixed weights
in DATA, an epoch being STEPS_PER_EPOCH steps. Prints one JSON line: per case, the weights
after every step and the learning rate of the first LR_EPOCHS epochs, and which of torch and
TensorFlow the process imported.
"""

import importlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
backend, root, cases_path, data_path = sys.argv[1:5]
if backend.startswith("keras-"):
    os.environ["KERAS_BACKEND"] = backend.removeprefix("keras-")
import numpy as np  # noqa: E402

STEPS_PER_EPOCH = 2
LR_EPOCHS = 5
root = Path(root)
sys.path.insert(0, str(root))
cases = json.loads(Path(cases_path).read_text(encoding="utf-8"))
with np.load(data_path, allow_pickle=False) as data:
    names = sorted(k.removeprefix("init_") for k in data.files if k.startswith("init_"))
    init = [data[f"init_{n}"] for n in names]
    grads = [data[f"grads_{n}"] for n in names]  # (steps, *shape) each
steps = len(grads[0])


def flat(values) -> list[float]:
    return np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in values]).tolist()


def run_torch(train, case) -> dict:
    import torch

    params = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in init]
    optimizer = train.make_optimizer(params, case["lr"], None)
    scheduler = train.make_scheduler(optimizer, case["epochs"])
    trajectory = []
    for step in range(steps):
        for p, g in zip(params, grads):
            p.grad = torch.from_numpy(g[step].copy())
        train.clip_gradients(params)  # as the program's step does
        optimizer.step()
        trajectory.append(flat(p.detach().numpy() for p in params))
        if (step + 1) % STEPS_PER_EPOCH == 0:
            scheduler.step()
    optimizer = train.make_optimizer([torch.nn.Parameter(torch.zeros(1))], case["lr"], None)
    scheduler = train.make_scheduler(optimizer, LR_EPOCHS)
    lrs = []
    for _ in range(LR_EPOCHS):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return {"weights": trajectory, "lrs": lrs}


def run_keras(train, case) -> dict:
    import keras

    variables = [keras.Variable(w.copy(), name=n) for n, w in zip(names, init)]
    optimizer = train.make_optimizer(case["lr"])
    scale = 1.0
    if case.get("loss_scale"):  # as the program wraps it for mixed_float16
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        scale = float(optimizer.initial_scale)
    apply = None
    if keras.backend.backend() == "jax":  # as model.fit runs it: stateless, under jax.jit
        import jax

        optimizer.build(variables)
        apply = jax.jit(optimizer.stateless_apply)
    trajectory = []
    for step in range(steps):
        if step % STEPS_PER_EPOCH == 0:  # what keras.callbacks.LearningRateScheduler does
            epoch = step // STEPS_PER_EPOCH
            optimizer.learning_rate = train.learning_rate(epoch, case["lr"], case["epochs"])
        # a power of two: the loss-scaled gradients unscale exactly
        step_grads = [keras.ops.convert_to_tensor(g[step] * scale) for g in grads]
        if apply is None:
            optimizer.apply_gradients(zip(step_grads, variables))
        else:
            state = [v.value for v in optimizer.variables]
            new_weights, new_state = apply(state, step_grads, [v.value for v in variables])
            for v, value in zip([*variables, *optimizer.variables], [*new_weights, *new_state]):
                v.assign(value)
        trajectory.append(flat(keras.ops.convert_to_numpy(v) for v in variables))
    lrs = [train.learning_rate(epoch, case["lr"], LR_EPOCHS) for epoch in range(LR_EPOCHS)]
    config = optimizer.get_config() if not case.get("loss_scale") else {}
    if config:  # the optimizer survives serialization
        again = type(optimizer).from_config(config)
        assert again.get_config() == config, (again.get_config(), config)
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return {
        "weights": trajectory,
        "lrs": lrs,
        "class": type(inner).__name__,
        "wrapper": type(optimizer).__name__ if inner is not optimizer else None,
    }


results = {}
for case in cases:
    package = f"{'torch' if backend == 'torch' else 'keras'}_{case['id']}"
    train = importlib.import_module(f"{package}.train")
    run = run_torch if backend == "torch" else run_keras
    results[case["id"]] = run(train, case)
frameworks = sorted({"torch", "tensorflow"} & set(sys.modules))
print(json.dumps({"cases": results, "frameworks": frameworks}))
