"""Regenerate the golden files: `python -m tests.regen_golden` (or `make golden`).

tests/golden/<spec>_<backend>/<file> holds what `netspec build` writes for every spec in
specs/ and tests/specs/. Review the diff before committing it: it is the generated code.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import netspec
from netspec.emit import BACKENDS, emit

ROOT = Path(__file__).parent.parent
GOLDEN = ROOT / "tests" / "golden"
SPECS = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests" / "specs").glob("*.yaml"))


@functools.cache
def golden_files() -> dict[Path, str]:
    """Golden path -> expected text, for every spec x backend."""
    files = {}
    for spec in SPECS:
        network = netspec.load(spec.relative_to(ROOT).as_posix())
        for backend in BACKENDS:
            for name, text in emit(network, backend).items():
                files[GOLDEN / f"{spec.stem}_{backend}" / name] = text
    return files


def main() -> None:
    shutil.rmtree(GOLDEN, ignore_errors=True)
    for path, text in golden_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(golden_files())} golden files under {GOLDEN.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
