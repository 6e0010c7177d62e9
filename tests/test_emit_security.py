"""The generated code's half of SECURITY.md: what netspec writes is safe by construction.

- No generated file calls a builtin that runs code, imports pickle, uses a Keras `Lambda`, or
  turns off `weights_only` / `safe_mode`; every `torch.load` and `load_model` turns them on.
- Hostile but legal spec text (docs with quotes, CR/LF, NUL, bidi controls, code) reaches the
  code only as string constants, and importing the generated package creates no file.
- A build writes only inside its `-o` folder.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import netspec
from netspec import ir
from netspec.emit import BACKENDS, emit
from tests.regen_golden import GOLDEN, golden_files

ROOT = Path(__file__).resolve().parent.parent
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


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_export_writes_only_where_told(tmp_path):
    """The torch package's `export.py --onnx FILE`, run from another folder with its own home
    and temporary folder: afterwards FILE is the one new file anywhere under them, and the
    package is unchanged."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    netspec.build(ROOT / "specs" / "lenet5.yaml", backend="torch", out=tmp_path / "lenet5")
    for folder in ("work", "home", "tmp", "out"):
        (tmp_path / folder).mkdir()
    before = _tree(tmp_path)
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path / "tmp"),
        "CUDA_VISIBLE_DEVICES": "",
    }
    target = tmp_path / "out" / "model.onnx"
    done = subprocess.run(
        [sys.executable, "-m", "lenet5.export", "--onnx", str(target)],
        cwd=tmp_path / "work",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    after = _tree(tmp_path)
    assert sorted(set(after) - set(before)) == ["out/model.onnx"]
    assert {k: v for k, v in after.items() if k in before} == before


# ------------------------------------------------------------------ every string position

ATTACKS = [
    "'",
    '"',
    '"""',
    "'''",
    "\\",
    "a\nb",
    "a\r\nb",
    "{{ 7 * 7 }}",
    "{% if true %}x{% endif %}",
    "__import__('os').system('touch CANARY')",
    'x"); __import__("os").system("touch CANARY"); ("',
    "a\u2028b",
    "a\x00b",
    "a\u202eb",
    "$" + HOSTILE,
    HOSTILE,
]
"""Text that would end a string literal, a comment or a line, or be evaluated by Jinja or Python,
if it reached generated code other than as an escaped literal."""

BASE = """\
netspec: 1
name: {net_name}
doc: {net_doc}
inputs:
  {input_name}: {{shape: [4], dtype: {dtype}}}
  side: {{shape: [4]}}
blocks:
  {block_name}:
    doc: {block_doc}
    params: {{{param_name}: 4, unused: {param_default}}}
    layers:
      - {{type: dense, units: {param_ref}, activation: {activation}}}
layers:
  - {{type: dense, name: {layer_name}, inputs: [{input_ref}], units: 4}}
  - {{type: dense, name: twin, inputs: [side], units: 4, share: {share}}}
  - {{type: {layer_type}, inputs: [{layer_ref}, twin]}}
  - {{type: block, name: body, block: {block_ref}, args: {{{arg_name}: 4, unused: {arg_value}}}}}
  - {{type: dense, name: out, units: 2}}
outputs: [{output}]
train: {{loss: {loss}, optimizer: {optimizer}, schedule: {schedule}, metrics: [{metric}], \
output: {train_output}}}
"""
"""A valid spec with a slot for every string a network, its inputs, blocks and block uses, and its
training section hold (the fields of each layer kind are placed by `_layer_field_specs`)."""

BENIGN = {
    "net_name": "Net",
    "net_doc": "benign",
    "input_name": "first",
    "dtype": "float32",
    "block_name": "unit",
    "block_doc": "benign",
    "param_name": "width",
    "param_default": "benign",
    "param_ref": "$width",
    "activation": "relu",
    "layer_name": "a",
    "input_ref": "first",
    "share": "a",
    "layer_type": "add",
    "layer_ref": "a",
    "block_ref": "unit",
    "arg_name": "width",
    "arg_value": "benign",
    "output": "out",
    "loss": "cross_entropy",
    "optimizer": "adam",
    "schedule": "none",
    "metric": "accuracy",
    "train_output": "out",
}


def _layer_field_specs(text: str) -> dict[str, str]:
    """A spec for each field of each layer kind, activation, optimizer, schedule, input and
    training model, holding `text` (a YAML scalar) there and valid values elsewhere (the
    placement the numeric-bounds test of tests/test_rules.py uses)."""
    from tests.test_rules import REQUIRED, _places, _tag

    specs = {}
    for cls, (before, where) in _places().items():
        for name in cls.model_fields:
            items = [f"type: {_tag(cls)}"] if _tag(cls) and name != "type" else []
            items += [
                f"{k}: {REQUIRED.get(k, '?')}"
                for k, f in cls.model_fields.items()
                if f.is_required() and k not in ("type", name)
            ]
            line = "{" + ", ".join([*items, f"{name}: {text}"]) + "}"
            spec = "netspec: 1\nname: Net\n"
            spec += "" if cls is ir.InputSpec else "input: {shape: [3, 8, 8]}\n"
            spec += "" if where.startswith("layers") else "layers:\n  - {type: relu}\n"
            spec += before + line + ("}" if where.endswith("activation") else "") + "\n"
            specs[f"{where}:{cls.__name__}.{name}"] = spec
    return specs


def string_positions() -> dict[str, tuple[str, str]]:
    """Position -> (spec with ATTACK there, the same spec with a benign string there)."""
    benign = {k: _yaml_quoted(v) for k, v in BENIGN.items()}
    positions = {
        slot: (BASE.format(**{**benign, slot: "ATTACK"}), BASE.format(**benign)) for slot in BENIGN
    }
    plain = _layer_field_specs(_yaml_quoted("benign"))
    for where, spec in _layer_field_specs("ATTACK").items():
        positions[where] = (spec, plain[where])
    return positions


UNSAFE_RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
LOCATED = re.compile(r"^spec\.yaml:\d+:\d+: \S")


def _skeleton(source: str) -> str:
    """The syntax tree of `source` with every string constant blanked: what the code does."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
    return ast.dump(tree)


def _outcome(text: str) -> dict[str, dict[str, str]] | list[str]:
    """The files of both backends, or the problems, one printed line each."""
    try:
        network = netspec.load(text, name="spec.yaml")
    except netspec.SpecError as exc:
        return [str(p) for p in exc.problems]
    return {backend: emit(network, backend) for backend in sorted(BACKENDS)}


def test_the_skeleton_sees_code_outside_strings():
    assert _skeleton('x = "a"  # c\n') == _skeleton('x = "b\\nimport os"  # d\n')
    assert _skeleton('x = "a"\n') != _skeleton('x = "a"; import os\n')


def test_the_base_spec_is_valid_and_holds_every_slot():
    assert isinstance(
        _outcome(BASE.format(**{k: _yaml_quoted(v) for k, v in BENIGN.items()})), dict
    )


@pytest.mark.parametrize(
    ("hostile", "benign"), list(string_positions().values()), ids=list(string_positions())
)
def test_hostile_text_in_any_string_position_is_refused_or_inert(hostile, benign):
    """Each attack in this position is refused, one located line per problem with the text
    escaped, or reaches the generated code only inside string constants: every file compiles,
    and its syntax tree, strings blanked, is that of the same spec with benign text there."""
    plain = _outcome(benign)
    for attack in ATTACKS:
        outcome = _outcome(hostile.replace("ATTACK", _yaml_quoted(attack)))
        if isinstance(outcome, list):
            for line in outcome:
                assert LOCATED.match(line) and not UNSAFE_RAW.search(line), (attack, line)
            continue
        assert isinstance(plain, dict), f"{attack!r} accepted where benign text is not"
        for backend, files in outcome.items():
            for name, text in files.items():
                assert not UNSAFE_RAW.search(text), (attack, backend, name)
                if name.endswith(".py"):
                    compile(text, name, "exec")
                    assert _skeleton(text) == _skeleton(plain[backend][name]), (attack, name)
                    assert unsafe_constructs(text) == [], (attack, name)


def test_no_name_can_stand_for_an_attribute_of_torchs_module():
    """A layer becomes an attribute of the generated nn.Module (`self.<name>`): a name that
    is one of nn.Module's own attributes (`set_submodule`, `register_forward_hook`) would
    call the method instead of the layer. Every public attribute of nn.Module, of the class
    and of an instance, in the torch of the test environment, is refused as a name."""
    import torch

    attributes = {a for a in dir(torch.nn.Module) if not a.startswith("_")}
    attributes |= {a for a in vars(torch.nn.Module()) if not a.startswith("_")}
    allowed = []
    for name in sorted(attributes):
        spec = (
            "netspec: 1\nname: Probe\ninput: {shape: [4]}\n"
            f"layers:\n  - {{type: dense, name: {name}, units: 2}}\n"
        )
        try:
            netspec.load(spec, name="probe.yaml")
        except netspec.SpecError:
            continue
        allowed.append(name)
    assert allowed == [], allowed
