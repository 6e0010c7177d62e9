"""The docs tell the truth about installing netspec and about running it.

Install lines: every `pip install`, `uv pip install`, `uv add` or `pipx install` in the docs
that installs this project names its distribution, `netspec-compiler`, or a checkout's folder, or
a `netspec_compiler-*.whl` wheel; never `netspec`, which on PyPI is an unrelated project.

Commands: a ```` ```console ```` block right under the line `<!-- runnable -->` (an HTML comment,
which GitHub does not show) is run here: each `$ ` line in bash, in a fresh folder holding a copy
of specs/, with `netspec` and `python` resolving to this checkout and this interpreter. Every
command must exit 0, and the lines shown under a command (its output) must be among the lines it
printed. Mark only what runs in seconds on a CPU, without a GPU or the network.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
DIST = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
TAKEN = "netspec"  # the name on PyPI of someone else's project
DOCS = sorted([*ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md")])
INSTALL_SOURCES = [
    *DOCS,
    ROOT / ".pre-commit-hooks.yaml",
    ROOT / "Makefile",
    *sorted((ROOT / "templates").rglob("README*")),
]
# `python -m pip install`, `uv pip install` and `pip3 install` all contain `pip install` or
# `pip3 install`; the arguments run to the end of the line, a closing backtick or a comment.
INSTALL = re.compile(r"\b(?:pip3?|pipx) install\b|\buv add\b")
# pip options followed by a value that is not a requirement (a file, a URL of an index)
VALUE_OPTIONS = {
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
}
MARKER = "<!-- runnable -->"


def _normalise(name: str) -> str:
    """PEP 503: `Netspec_Compiler` and `netspec-compiler` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution(requirement: str) -> str | None:
    """The distribution a requirement installs, or None for a folder (a checkout installs
    under the name its pyproject.toml gives). A URL without `name @` is taken for the last
    component of its path, the name a reader takes it for."""
    named = re.match(r"([A-Za-z0-9][\w.-]*)\s*(?:\[[^\]]*\])?\s*@", requirement)
    if named:
        return _normalise(named[1])
    if "://" in requirement:
        last = requirement.split("#")[0].rstrip("/").rsplit("/", 1)[-1]
        return _normalise(last.split("@")[0].removesuffix(".git"))
    if requirement.endswith(".whl"):
        return _normalise(Path(requirement).name.split("-", 1)[0])
    if requirement.startswith((".", "/", "~")) or "/" in requirement:
        return None
    return _normalise(re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0])


def _requirements(arguments: str) -> list[str]:
    """The requirements among the arguments of an install command (options left out)."""
    words = shlex.split(arguments)
    found = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in VALUE_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            found.append(word)
    return found


def _install_lines() -> list[tuple[str, str, list[str]]]:
    """(file:line, command, distributions) for every install command of the docs."""
    lines = []
    for path in INSTALL_SOURCES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in INSTALL.finditer(line):
                arguments = re.split(r"`|\s#", line[match.end() :])[0]
                names = [_distribution(r) for r in _requirements(arguments)]
                where = f"{path.relative_to(ROOT)}:{number}"
                lines.append((where, match.group() + arguments, [n for n in names if n]))
    return lines


def test_the_distribution_is_not_the_taken_name() -> None:
    assert _normalise(DIST) == "netspec-compiler"


def test_install_lines_name_this_projects_distribution() -> None:
    lines = _install_lines()
    wrong = [f"{where}: {command}" for where, command, names in lines if TAKEN in names]
    assert not wrong, "installs the unrelated `netspec` from PyPI:\n" + "\n".join(wrong)
    assert any(DIST in names for _, _, names in lines), f"no install line names {DIST}"


@pytest.mark.parametrize(
    ("requirement", "distribution"),
    [
        ("netspec", "netspec"),
        ("netspec[torch]>=0.1", "netspec"),
        ("netspec-compiler", "netspec-compiler"),
        ("Netspec_Compiler[all]", "netspec-compiler"),
        ("netspec-compiler @ git+https://github.com/OWNER/netspec@v0.1.0", "netspec-compiler"),
        ("git+https://github.com/OWNER/netspec.git@v0.1.0", "netspec"),
        ("dist/netspec-0.1.0-py3-none-any.whl", "netspec"),
        ("dist/netspec_compiler-*.whl", "netspec-compiler"),
        (".[torch]", None),
        ("onnx", "onnx"),
    ],
)
def test_how_an_install_line_is_read(requirement: str, distribution: str | None) -> None:
    assert _distribution(requirement) == distribution


@dataclass(frozen=True)
class Command:
    text: str  # what follows `$ `
    output: tuple[str, ...]  # the lines the docs show under it


@dataclass(frozen=True)
class Block:
    where: str  # file:line of the marker
    fence: str
    commands: tuple[Command, ...]


def _runnable_blocks() -> list[Block]:
    blocks = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if line.strip() != MARKER:
                continue
            fence = lines[number + 1] if number + 1 < len(lines) else ""
            body = []
            for text in lines[number + 2 :]:
                if text.startswith("```"):
                    break
                body.append(text)
            commands: list[Command] = []
            for text in body:
                if text.startswith("$ "):
                    commands.append(Command(text[2:], ()))
                elif text.strip() and commands:
                    last = commands.pop()
                    commands.append(Command(last.text, (*last.output, text.rstrip())))
            blocks.append(Block(f"{path.relative_to(ROOT)}:{number + 1}", fence, tuple(commands)))
    return blocks


BLOCKS = _runnable_blocks()


def test_the_docs_mark_blocks_to_run() -> None:
    """A misspelt marker would silently run nothing."""
    files = {block.where.split(":")[0] for block in BLOCKS}
    assert {"README.md", "docs/deploy.md"} <= files


@pytest.fixture(scope="module")
def shell_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment where `netspec` is this checkout's CLI and `python` this interpreter."""
    bin_dir = tmp_path_factory.mktemp("bin")
    python = shlex.quote(sys.executable)
    for name, line in {"netspec": f"{python} -m netspec", "python": python}.items():
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec {line} "$@"\n')
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    path = os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "PATH": path,
        "PYTHONPATH": pythonpath,
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "CUDA_VISIBLE_DEVICES": "",
    }


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_runnable_block(block: Block, shell_env: dict[str, str], tmp_path: Path) -> None:
    assert block.fence == "```console", f"{block.where}: {MARKER} must precede a console block"
    assert block.commands, f"{block.where}: no `$ ` command in the block"
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    for command in block.commands:
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command.text],
            cwd=tmp_path,
            env=shell_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        printed = result.stdout + result.stderr
        assert result.returncode == 0, f"{block.where}: $ {command.text}\n{printed[-3000:]}"
        missing = [line for line in command.output if line not in printed.splitlines()]
        assert not missing, f"{block.where}: $ {command.text} did not print {missing}"
