"""The wheel works anywhere: it carries the templates, and a fresh virtual environment with
netspec's core only (pydantic, PyYAML, Jinja2; no torch, no TensorFlow) validates specs and
builds packages from it. Also: the pre-commit hook names a real command, and the extras are
what the README promises.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
import tomllib
import yaml

from netspec import __version__
from netspec.cli import EXAMPLES, parser

ROOT = Path(__file__).resolve().parent.parent
CORE = {"pydantic", "pyyaml", "jinja2"}


def _run(args: list[str | Path], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from a copy of the sources (the checkout gets no build/ folder)."""
    pytest.importorskip("setuptools")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in ("netspec", "templates"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        + ["--disable-pip-version-check", "-w", out, src],
        cwd=src,
    )
    (found,) = out.glob("netspec_compiler-*.whl")
    return found


def test_wheel_contains_every_template(wheel: Path) -> None:
    """setuptools (84) ships data files only of the packages pyproject.toml lists: every
    folder of templates/ must be listed there, or its templates are silently left out."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    templates = {
        "netspec/templates/" + p.relative_to(ROOT / "templates").as_posix()
        for p in (ROOT / "templates").rglob("*.jinja")
    }
    assert templates and templates <= names, sorted(templates - names)
    assert {"netspec/templates/torch/export.py.jinja", "netspec/graph.py"} <= names
    assert not [n for n in names if n.startswith(("tests/", "specs/", "bench/"))]


def test_fresh_venv_with_core_only(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, "--no-deps", wheel], cwd=tmp_path)
    deps = subprocess.run(
        [str(a) for a in pip] + ["pydantic>=2.7,<3", "PyYAML>=6", "Jinja2>=3.1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if deps.returncode != 0:
        pytest.skip(f"cannot install netspec's core dependencies here: {deps.stderr[-500:]}")
    work = tmp_path / "work"  # outside the checkout: only the installed wheel is importable
    shutil.copytree(ROOT / "specs", work / "specs")
    netspec = env_dir / "bin" / "netspec"

    version = _run([netspec, "--version"], cwd=work)
    assert version.stdout.strip() == f"netspec {__version__}"
    frameworks = _run(
        [
            python,
            "-c",
            "import importlib.util as u; print([m for m in ('torch', 'tensorflow',"
            " 'keras') if u.find_spec(m)])",
        ],
        cwd=work,
    )
    assert frameworks.stdout.strip() == "[]"
    where = _run([python, "-c", "import netspec.templates as t; print(t.__file__)"], cwd=work)
    assert str(env_dir) in where.stdout

    validated = _run([netspec, "validate", "specs/"], cwd=work)
    shipped = len(list((work / "specs").glob("*.yaml")))
    assert f"{shipped} of {shipped} spec(s) valid" in validated.stderr
    for backend in ("torch", "keras"):
        out = work / f"lenet5_{backend}"
        _run([netspec, "build", "specs/lenet5.yaml", "--backend", backend, "-o", out], cwd=work)
        assert {"model.py", "export.py", "__init__.py"} <= {p.name for p in out.iterdir()}
        compile((out / "model.py").read_text(), str(out / "model.py"), "exec")
    graph = _run([netspec, "graph", "specs/resnet18.yaml"], cwd=work)
    assert graph.stdout.startswith("flowchart TD")


def test_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~\[ ;]", d)[0].lower() for d in project["dependencies"]}
    assert names == CORE
    extras = project["optional-dependencies"]
    assert {"torch", "keras", "all", "dev"} <= set(extras)
    assert any(d.startswith("torch") for d in extras["torch"])
    assert any(d.startswith("tensorflow") for d in extras["keras"])
    assert any(d.startswith("keras>=3") for d in extras["keras"])
    assert extras["all"] == ["netspec-compiler[torch,keras]"]  # itself, by its own name
    assert project["scripts"] == {"netspec": "netspec.cli:command"}


def test_pre_commit_hook_names_a_real_command() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = [h for h in hooks if h["id"] == "netspec-validate"]
    assert hook["language"] == "python"
    program, command, *options = hook["entry"].split()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert program in scripts
    assert options == ["--only-specs"]  # other YAML of a commit is left out
    assert command in EXAMPLES  # a subcommand of the CLI
    files = re.compile(hook["files"])
    assert files.search("specs/resnet18.yaml") and files.search("a/b.yml")
    assert not files.search("netspec.schema.json") and not files.search("x.yaml.bak")
    # what pre-commit runs: the entry followed by the matching staged files
    staged = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").glob("*.yaml"))
    result = subprocess.run(
        [sys.executable, "-m", "netspec", command, *options, *staged, ".pre-commit-hooks.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


BASH_PROBE = r"""
source /dev/stdin
probe() { COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); _netspec;
          echo "${COMPREPLY[*]}"; }
probe netspec bu
probe netspec build --backend ""
probe netspec graph --format ""
probe netspec validate --f
probe netspec completion ""
probe netspec summary specs/resnet1
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completion() -> None:
    script = subprocess.run(
        [sys.executable, "-m", "netspec", "completion", "bash"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    result = subprocess.run(
        ["bash", "-c", BASH_PROBE],
        input=script,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "build",
        "torch keras",
        "mermaid dot svg",
        "--format",
        "bash zsh",
        "specs/resnet18.yaml",
    ]


def test_zsh_completion_lists_every_command() -> None:
    from netspec.completion import script

    text = script(parser(), "zsh")
    assert text.startswith("#compdef netspec\n")
    for name in EXAMPLES:
        assert f"'{name}:" in text and f"{name}) _arguments" in text
    assert "'--backend[]:value:(torch keras)'" in text
    assert "'--batch[batch of the memory estimate]:value: '" in text  # a number: no files
    assert "'--exclude[" in text and ":value:_files" in text  # a path: files
    if shutil.which("zsh"):
        check = subprocess.run(["zsh", "-n"], input=text, text=True, capture_output=True)
        assert check.returncode == 0, check.stderr
