"""The generated code's half of SECURITY.md: what netspec writes is safe by construction.

- No generated file calls a builtin that runs code, imports pickle, uses a Keras `Lambda`, or
  turns off `weights_only` / `safe_mode`; every `torch.load` and `load_model` turns them on.
- Hostile but legal spec text (docs with quotes, CR/LF, NUL, bidi controls, code) reaches the
  code only as string constants, and importing the generated package creates no file.
- A build writes only inside its `-o` folder.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

import netspec
from netspec.emit import BACKENDS, emit
from tests.regen_golden import GOLDEN, golden_files

BANNED_CALLS = {"eval", "exec", "compile", "__import__"}
"""Builtins that run code (`model.eval()` and `torch.compile(model)` are methods, not these)."""
BANNED_NAMES = {"pickle", "marshal", "dill", "Lambda", "enable_unsafe_deserialization"}
MUST_BE_TRUE = {"weights_only", "safe_mode"}
MUST_NOT_BE_TRUE = {"allow_pickle"}
GUARDED_LOADERS = {"load": "weights_only", "load_model": "safe_mode"}
"""Loader calls that must pass their guard explicitly (`torch.load`, `keras...load_model`)."""


def unsafe_constructs(source: str) -> list[str]:
    """What a generated file must never contain, found in its syntax tree."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
            name = (
                func.id if isinstance(func, ast.Name) else func.attr if owner == "builtins" else ""
            )
            if name in BANNED_CALLS:
                found.append(f"call {name}")
            keywords = {kw.arg: kw.value for kw in node.keywords}
            for key, value in keywords.items():
                is_true = isinstance(value, ast.Constant) and value.value is True
                if key in MUST_BE_TRUE and not is_true or key in MUST_NOT_BE_TRUE and is_true:
                    found.append(f"{key}={ast.unparse(value)}")
            attr = func.attr if isinstance(func, ast.Attribute) else ""
            guard = GUARDED_LOADERS.get(attr)
            if guard and owner in ("torch", "saving", "") and guard not in keywords:
                if attr == "load_model" or owner == "torch":
                    found.append(f"{attr} without {guard}")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            found += [f"import {m}" for m in modules if m.split(".")[0] in BANNED_NAMES]
        if isinstance(node, ast.Name) and node.id in BANNED_NAMES:
            found.append(f"name {node.id}")
        if isinstance(node, ast.Attribute) and node.attr in BANNED_NAMES:
            found.append(f"attribute {node.attr}")
    return found


def test_the_safety_check_catches_what_it_should():
    bad = {
        "import pickle": "import pickle",
        "eval('1')": "call eval",
        "builtins.exec('1')": "call exec",
        "keras.layers.Lambda(f)": "attribute Lambda",
        "torch.load(p, weights_only=False)": "weights_only=False",
        "torch.load(p)": "load without weights_only",
        "keras.saving.load_model(p, safe_mode=False)": "safe_mode=False",
        "keras.saving.load_model(p)": "load_model without safe_mode",
        "np.load(p, allow_pickle=True)": "allow_pickle=True",
        "keras.config.enable_unsafe_deserialization()": "attribute enable_unsafe_deserialization",
    }
    for source, finding in bad.items():
        assert finding in unsafe_constructs(source), source
    fine = "model.eval()\nm = torch.compile(model)\ntorch.load(p, weights_only=True)\n"
    assert unsafe_constructs(fine + "np.load(p, allow_pickle=False)\n") == []


@pytest.mark.parametrize(
    "path",
    sorted(p for p in golden_files() if p.suffix == ".py"),
    ids=lambda p: str(p.relative_to(GOLDEN)),
)
def test_generated_python_is_safe(path):
    assert unsafe_constructs(golden_files()[path]) == []


HOSTILE = 'x"""; import os; os.system("touch CANARY") #\r\n\'\'\' \\ \0 \u202e \x85 \u2028 end'


def _yaml_quoted(text: str) -> str:
    escaped = "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in text)
    return f'"{escaped}"'


HOSTILE_SPEC = f"""netspec: 1
name: Hostile
doc: {_yaml_quoted(HOSTILE)}
input: {{shape: [4]}}
blocks:
  body:
    doc: {_yaml_quoted(HOSTILE)}
    layers: [{{type: dense, name: fc, units: 3, activation: relu}}]
layers:
  - {{type: block, name: inner, block: body}}
  - {{type: dense, name: out, units: 2}}
"""


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_spec_text_reaches_code_only_as_string_constants(backend):
    network = netspec.load(HOSTILE_SPEC)
    assert network.spec.doc == HOSTILE
    for name, text in emit(network, backend).items():
        if not name.endswith(".py"):
            assert "\r" not in text and "\0" not in text and "\u202e" not in text
            continue
        tree = ast.parse(text)
        assert unsafe_constructs(text) == []
        assert "CANARY" not in [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]
        strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
        if name == "model.py":
            assert ast.get_docstring(tree, clean=False) == HOSTILE
            assert sum(HOSTILE in s for s in strings if isinstance(s, str)) >= 2
        calls = [n.func for n in ast.walk(tree) if isinstance(n, ast.Call)]
        assert not any(getattr(f, "attr", "") == "system" for f in calls)


def test_importing_a_hostile_package_runs_nothing(tmp_path):
    """The torch package, built from the hostile spec, imported and run: no file appears."""
    netspec.build(HOSTILE_SPEC, backend="torch", out=tmp_path / "hostile")
    before = sorted(p.name for p in tmp_path.iterdir())
    code = "import torch; from hostile.model import build_model; build_model()(torch.zeros(1, 4))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__") == before
    assert not list(tmp_path.rglob("CANARY"))


def test_a_build_writes_only_inside_its_output_folder(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    result = netspec.build(HOSTILE_SPEC, backend="keras", out=work / "pkg")
    assert all(path.parent == work / "pkg" for path in result.files)
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(
        ["work", "pkg", *(p.name for p in result.files)]
    )
    assert not any(".." in path.parts for path in result.files)
