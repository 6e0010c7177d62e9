"""Run several generated training programs of one backend in this one process (a process per
program would cost seconds each): `python train_programs.py MANIFEST`, where the manifest lists
{"package": path, "args": [...]}. Prints one JSON line: each package's exit status and the
rows of its metrics.jsonl."""

import importlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

results = {}
for case in json.loads(Path(sys.argv[1]).read_text()):
    package = Path(case["package"])
    sys.path.insert(0, str(package.parent))
    program = importlib.import_module(f"{package.name}.train")
    status = program.main(case["args"])
    run_dir = Path(case["args"][case["args"].index("--run-dir") + 1])
    metrics = run_dir / "metrics.jsonl"
    rows = (
        [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.exists() else []
    )
    results[package.name] = {"status": status, "rows": rows}
print(json.dumps(results))
