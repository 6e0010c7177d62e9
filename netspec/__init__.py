"""netspec: declarative network specs (YAML) compiled to PyTorch and Keras 3 code.

The pipeline, one module per stage: `spec` (safe YAML + source map) -> `parse` (Pydantic IR in
`ir`) -> `passes` (expand, shapes, counts) -> `emit` (per-backend Jinja emitters) -> files.
"""

from netspec.errors import Problem, SpecError
from netspec.network import Network, load

__version__ = "0.1.0"
__all__ = ["Network", "Problem", "SpecError", "__version__", "build", "load"]


def build(spec, *, backend: str, out, force: bool = False):  # noqa: ANN001, ANN201
    """Generate the `backend` package for `spec` (a path, YAML text or `Network`) into `out`."""
    from netspec.builder import build as _build

    return _build(spec, backend=backend, out=out, force=force)
