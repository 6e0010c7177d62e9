"""Run many generated torch packages in one process (tests/test_random_models.py).

    python tests/scripts/random_torch.py manifest.json
    python tests/scripts/random_torch.py < path   # the manifest's path on stdin, once ready

The manifest (JSON) names the folder holding the packages and, per network, its spec, its
torch package, the weights to load (.npz, netspec.weights' torch layout), the data (.npz: x,
float features or int64 token ids, or with `inputs:` one array per input by its name; and t,
the loss's targets, in the spec's channels-first layout), the modes to run (`eval`, and
`train` where the function is deterministic) and where to write the results (.npz):
per mode, the output `<mode>/y` (of several outputs, each: `<mode>/y/<i>`, in `outputs:`'
order), the loss `<mode>/loss` (the generated train.py's `make_loss()`, on the output the
objective names: `train.output`, or the first; a per-step loss on the (N, K, T) transpose, as
train.py's `loss_of`) and the gradient of every weight, `<mode>/grad/<layer>/<key>`, in
netspec.weights' torch layout; for a spec whose training mixes its batches, `mix<step>/loss`,
the loss (eval mode) on the data as the program mixes batches 0 to 2. Prints one JSON line:
per network, the parameter counts, the output shape of every spec layer (forward hooks), and
the error if the network failed.
"""

import importlib
import json
import sys
import traceback

import numpy as np
import torch

import netspec
from netspec import weights

torch.set_num_threads(1)
manifest = json.load(open(sys.argv[1] if sys.argv[1:] else sys.stdin.readline().strip()))
sys.path.insert(0, manifest["root"])
dtype = getattr(torch, manifest["dtype"])


def gradients(model, network):
    """Gradients by layer and key in netspec.weights' torch layout: each parameter is set to its
    gradient for `to_arrays`, then restored."""
    saved = {name: p.detach().clone() for name, p in model.named_parameters()}
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.grad if p.grad is not None else torch.zeros_like(p))
        arrays = {  # copies: the arrays share memory with the parameters, restored next
            layer: {key: np.array(value) for key, value in values.items()}
            for layer, values in weights.to_arrays(model, network).items()
        }
        for name, p in model.named_parameters():
            p.copy_(saved[name])
    return arrays


def run(entry):
    network = netspec.load(entry["spec"])
    package = entry["torch"]
    model = importlib.import_module(f"{package}.model").build_model().to(dtype)
    train = importlib.import_module(f"{package}.train")
    make_loss = train.make_loss
    weights.load(model, network, entry["weights"])
    given = {k.replace("/", ".") for k in np.load(entry["weights"]).files}
    state = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert state <= given, f"weights not loaded: {sorted(state - given)[:5]}"

    names = {n.name for n in network.nodes}
    shapes = {}
    hooks = []

    def record(name):
        def hook(_module, _inputs, output):
            shapes.setdefault(name, list(output.shape[1:]))  # returns None: output unchanged

        return hook

    for name, module in model.named_modules():
        if name in names:
            hooks.append(module.register_forward_hook(record(name)))

    data = np.load(entry["data"])

    def tensor(array):
        array = torch.from_numpy(array)
        return array if array.dtype == torch.int64 else array.to(dtype)  # token ids stay int64

    module = importlib.import_module(f"{package}.model")
    named = getattr(module, "INPUT_SHAPES", None)  # `inputs:`: by name
    inputs = {n: tensor(data[n]) for n in named} if named else {"x": tensor(data["x"])}
    t = tensor(data["t"])
    several = len(network.graph.outputs) > 1
    trained = network.graph.outputs.index(network.objective.output)
    loss_fn = make_loss()
    results = {}
    for mode in entry["modes"]:
        model.train(mode == "train")
        model.zero_grad(set_to_none=True)
        y = model(**inputs) if named else model(inputs["x"])
        for hook in hooks:
            hook.remove()
        hooks.clear()
        ys = list(y) if several else [y]
        output = ys[trained]
        if hasattr(train, "loss_of"):  # (the per-step transpose, where the loss needs it)
            loss = train.loss_of(loss_fn, output, t)
        elif network.objective.per_step:
            loss = loss_fn(output.transpose(1, 2), t)
        else:
            loss = loss_fn(output, t)
        if loss.requires_grad:  # a network without weights has no gradient
            loss.backward()
        for i, out in enumerate(ys):
            results[f"{mode}/y/{i}" if several else f"{mode}/y"] = out.detach().numpy()
        results[f"{mode}/loss"] = np.asarray(loss.item())
        for layer, arrays in gradients(model, network).items():
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
    if getattr(train, "MIXING", False):  # the loss of batches the program mixes (eval mode)
        # from the given weights again: a training-mode pass has moved the running statistics
        # of a shared BatchNorm in an order each backend schedules (docs/spec.md)
        weights.load(model, network, entry["weights"])
        model.eval()
        (name, x), *_ = inputs.items()
        for step in range(3):
            lam, box = train.batch_mix(0, step, *x.shape[2:])
            mixed_x, mixed_t = train.mixed(x, t, lam, box)
            with torch.no_grad():
                y = model(**{name: mixed_x}) if named else model(mixed_x)
                output = list(y)[trained] if several else y
                loss = loss_fn(output, mixed_t.to(dtype))
            results[f"mix{step}/loss"] = np.asarray(loss.item())
    np.savez(entry["out_torch"], **results)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "buffers": sum(
            b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")
        ),
        "shapes": shapes,
    }


report = {}
for entry in manifest["networks"]:
    try:
        report[entry["id"]] = run(entry)
    except Exception:  # one broken network must not hide the others
        report[entry["id"]] = {"error": traceback.format_exc(limit=8)}
print(json.dumps(report))
