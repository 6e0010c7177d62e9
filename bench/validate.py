"""How fast is `netspec validate`? Run: `python bench/validate.py` (from the repository root).

Times are reported as ratios against a baseline measured in the same run, so the numbers mean
the same on a fast laptop and a loaded CI runner:

* baseline: a fresh `python -c "import pydantic, yaml"` (netspec's validation dependencies,
  imported cold; jinja2 is not one: validate never imports it);
* one model: a fresh interpreter that imports pydantic and yaml, defines one pydantic model with
  one constrained field and validates a value: the floor of any validator built on pydantic
  (the rest of pydantic's modules and its plugin lookup through `importlib.metadata`);
* cold: a fresh `python -m netspec validate -q specs/vgg16.yaml`, start to exit;
* scaling: `netspec.load` in this process on generated sequential specs of 250 to 2,000 layers.
  Time per layer should stay about flat (validation is linear in the spec's size).

The fresh interpreters run in turn, `--runs` rounds (default 15), after netspec's bytecode is
compiled (as an installed package has it). Each figure gives the fastest and the median wall
time and the fastest CPU time (user + system, which other jobs on the machine disturb less);
ratios divide fastest by fastest. The scaling figures are the fastest of `--runs`.
"""

from __future__ import annotations

import argparse
import compileall
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (250, 500, 1000, 2000)
GOAL = 2.0
"""Issue 13: a cold validate costs at most this many times the baseline."""

ONE_MODEL = """\
import pydantic, yaml
from pydantic import BaseModel, Field
class Model(BaseModel):
    size: int = Field(ge=1)
Model(size=1)
"""
COMMANDS = {
    "baseline": ("import pydantic, yaml", ["-c", "import pydantic, yaml"]),
    "jinja2": ("import pydantic, yaml, jinja2", ["-c", "import pydantic, yaml, jinja2"]),
    "one model": ("one pydantic model", ["-c", ONE_MODEL]),
    "cold": (
        "netspec validate vgg16.yaml",
        ["-m", "netspec", "validate", "-q", "specs/vgg16.yaml"],
    ),
}


def best(runs: int, action: Callable[[], object]) -> float:
    """The fastest of `runs` timings of `action`, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fresh_interpreters(runs: int) -> dict[str, tuple[list[float], list[float]]]:
    """(wall seconds, CPU seconds) of each command of COMMANDS, `runs` rounds of all in turn
    (so that a slow spell of the machine slows every command alike)."""
    times: dict[str, tuple[list[float], list[float]]] = {key: ([], []) for key in COMMANDS}
    for _ in range(runs):
        for key, (_, args) in COMMANDS.items():
            cpu, start = children_cpu(), time.perf_counter()
            subprocess.run([sys.executable, *args], cwd=ROOT, check=True, capture_output=True)
            times[key][0].append(time.perf_counter() - start)
            times[key][1].append(children_cpu() - cpu)
    return times


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
    parser.add_argument("--runs", type=int, default=15, help="runs per figure")
    runs = parser.parse_args().runs

    sys.path.insert(0, str(ROOT))
    import netspec

    compileall.compile_dir(ROOT / "netspec", quiet=1)
    times = fresh_interpreters(runs)
    base_wall, base_cpu = min(times["baseline"][0]), min(times["baseline"][1])
    print(f"fresh interpreters, {runs} runs each (wall: fastest, median; CPU: fastest):")
    for key, (label, _) in COMMANDS.items():
        walls, cpus = times[key]
        print(
            f"  {key:9} {label:30} {min(walls):6.3f} s {statistics.median(walls):6.3f} s"
            f"  {min(walls) / base_wall:5.2f} x"
            f"  CPU {min(cpus):6.3f} s {min(cpus) / base_cpu:5.2f} x"
        )
    ratio = min(times["cold"][0]) / base_wall
    verdict = "met" if ratio <= GOAL else "not met"
    print(f"  goal: cold <= {GOAL:.2f} x baseline: {verdict} ({ratio:.2f} x)")
    print()
    print("in-process netspec.load of a sequential spec:")
    per_layer = []
    for size in SIZES:
        text = sequential_spec(size)
        assert len(netspec.load(text).nodes) == size
        seconds = best(runs, lambda text=text: netspec.load(text))
        per_layer.append(seconds / size)
        print(
            f"  {size:5,} layers  {seconds:7.3f} s  {seconds / base_wall:5.2f} x baseline"
            f"  {seconds / size * 1e6:6.0f} us/layer"
        )
    print(f"  per-layer time, largest / smallest spec: {per_layer[-1] / per_layer[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
