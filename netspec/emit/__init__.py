"""Emitters: one module per backend over `base`; `emit` renders every file of a package.

`model.py` is built by the backend's module (`emit_model`); the other files of the package are
plain templates of `templates/<backend>/` rendered with `package_context`.
"""

from __future__ import annotations

from typing import Any

from netspec import graph
from netspec.emit import keras, torch, training
from netspec.emit.base import environment, header, io_literals, literal, pystr, vocab_literal
from netspec.emit.usage import keras_usage, torch_usage
from netspec.network import Network

BACKENDS = {"torch": torch, "keras": keras}

PACKAGE_TEMPLATES = {
    "torch": ["__init__.py", "README.md", "export.py", "train.py"],
    "keras": ["__init__.py", "README.md", "export.py", "train.py"],
}
"""Files of the generated package besides model.py, each rendered from `<name>.jinja`."""


def literal_list(names: list[str]) -> str:
    return "[" + ", ".join(pystr(n) for n in names) + "]"


def default_package(network: Network, backend: str) -> str:
    """The package name `netspec build` uses without `-o`: `vgg16_torch`."""
    return f"{network.name.lower()}_{backend}"


def package_context(network: Network, backend: str, package: str) -> dict[str, Any]:
    """What the package templates may use (all decided here; templates only lay it out)."""
    return {
        "header": header(network),
        "package": package,
        "mermaid": graph.mermaid(network).rstrip("\n"),
        "name": network.name,
        "name_literal": literal(network.name),
        "first_layer": pystr(network.nodes[0].name),
        "backend": backend,
        "params": f"{network.params:,}",
        "input_shape": literal(network.input_shape),
        "usage": (torch_usage if backend == "torch" else keras_usage)(network, package),
        "several_inputs": network.several_inputs,
        "single_io": network.single_io,
        "onnx_outputs": literal_list(
            ["output"] if len(network.graph.outputs) == 1 else list(network.spec.outputs or [])
        ),
        "input_constant": "INPUT_SHAPES" if network.several_inputs else "INPUT_SHAPE",
        **io_literals(network),
        "example_dtype": ", dtype=torch.int64" if vocab_literal(network) else "",
        **training.view(network, backend),
    }


def emit(network: Network, backend: str, package: str | None = None) -> dict[str, str]:
    """File name -> text of the generated package for `backend`, to be imported as `package`
    (which its README and usage lines name)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    env = environment(backend)
    context = package_context(network, backend, package or default_package(network, backend))
    files = {"model.py": BACKENDS[backend].emit_model(network)}
    for name in PACKAGE_TEMPLATES[backend]:
        files[name] = env.get_template(f"{name}.jinja").render(**context)
    return files
