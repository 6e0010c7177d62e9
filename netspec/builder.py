"""`netspec build`: render a backend's package and write it atomically.

The files are rendered in memory first (any error leaves the disk untouched), written into a
temporary folder beside the target, then moved into place with one rename; an existing output
is only replaced with `force`, and then swapped out only after the new one is complete.
"""

from __future__ import annotations

import keyword
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from netspec.emit import default_package, emit
from netspec.network import Network, load


@dataclass(frozen=True)
class BuildResult:
    out: Path
    files: tuple[Path, ...]


def build(
    spec: str | Path | Network, *, backend: str, out: str | Path | None = None, force: bool = False
) -> BuildResult:
    """Generate the `backend` ("torch" or "keras") package for `spec` into the folder `out`."""
    network = spec if isinstance(spec, Network) else load(spec)
    target = Path(out) if out is not None else Path(default_package(network, backend))
    if not (target.name.isascii() and target.name.isidentifier()) or keyword.iskeyword(target.name):
        raise ValueError(f"output folder name {target.name!r} is not a valid Python package name")
    files = emit(network, backend, target.name)
    target = target.absolute()
    if target.is_symlink():
        raise FileExistsError(f"{target} is a symbolic link; refusing to write through it")
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; use --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes 0700; the package should look like any folder
    try:
        for name, text in sorted(files.items()):
            assert "/" not in name and not name.startswith("."), name
            path = staging / name
            with open(path, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        _replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BuildResult(target, tuple(target / name for name in sorted(files)))


def _replace(staging: Path, target: Path) -> None:
    """Move `staging` to `target`; an old `target` is moved aside first and removed after."""
    if not target.exists():
        os.replace(staging, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    os.rmdir(old)
    os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
