"""How fast is `netspec validate`? Run: `python bench/validate.py` (from the repository root).

Times are reported as ratios against a baseline measured in the same run, so the numbers mean the
same on a fast laptop and a loaded CI runner:

* baseline: a fresh `python -c "import pydantic, yaml, jinja2"` (the floor: netspec's own
  dependencies, imported cold);
* cold: a fresh `python -m netspec validate specs/vgg16.yaml`, start to exit;
* scaling: `netspec.load` in this process on generated sequential specs of 250 to 2,000 layers.
  Time per layer should stay about flat (validation is linear in the spec's size).

Each figure is the best of 5 runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (250, 500, 1000, 2000)


def best(runs: int, action: Callable[[], object]) -> float:
    """The fastest of `runs` timings of `action`, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def python(*args: str) -> Callable[[], object]:
    command = [sys.executable, *args]
    return lambda: subprocess.run(command, cwd=ROOT, check=True, capture_output=True)


def sequential_spec(layers: int) -> str:
    """A spec of `layers` layers: (conv2d, batchnorm, relu) repeated, then a classifier."""
    lines = ["netspec: 1", "name: Deep", "input: {shape: [3, 32, 32]}", "layers:"]
    cycle = [
        "{{type: conv2d, name: conv{i}, filters: 16, kernel: 3, padding: same, bias: false}}",
        "{{type: batchnorm, name: bn{i}}}",
        "{{type: relu, name: relu{i}}}",
    ]
    body = layers - 2
    lines += [f"  - {cycle[i % 3].format(i=i)}" for i in range(body)]
    lines += ["  - {type: global_avgpool2d, name: pool}", "  - {type: dense, name: fc, units: 10}"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (best is kept)")
    runs = parser.parse_args().runs

    sys.path.insert(0, str(ROOT))
    import netspec

    baseline = best(runs, python("-c", "import pydantic, yaml, jinja2"))
    cold = best(runs, python("-m", "netspec", "validate", "-q", "specs/vgg16.yaml"))
    print(f"baseline  import pydantic, yaml, jinja2    {baseline:7.3f} s   1.00 x")
    print(f"cold      netspec validate vgg16.yaml      {cold:7.3f} s  {cold / baseline:5.2f} x")
    print()
    print("in-process netspec.load of a sequential spec:")
    per_layer = []
    for size in SIZES:
        text = sequential_spec(size)
        assert len(netspec.load(text).nodes) == size
        seconds = best(runs, lambda text=text: netspec.load(text))
        per_layer.append(seconds / size)
        print(
            f"  {size:5,} layers  {seconds:7.3f} s  {seconds / baseline:5.2f} x baseline"
            f"  {seconds / size * 1e6:6.0f} us/layer"
        )
    print(f"  per-layer time, largest / smallest spec: {per_layer[-1] / per_layer[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
