"""The `netspec-validate` pre-commit hook, run by the real `pre-commit` in a project of its own.

pre-commit installs a hook's repository from git at a revision, so the hook repository here is
a snapshot of this checkout's working tree (what a wheel is built from, and
`.pre-commit-hooks.yaml`) committed into a temporary git repository: uncommitted edits are
tested too. pre-commit builds the hook's environment from it with pip, netspec's core
dependencies coming from the package index, once for the module (`PRE_COMMIT_HOME`).

The project holds a valid spec, a broken one, and YAML that is not a spec (a CI workflow and
`.pre-commit-config.yaml` itself), and keeps the hook's default `files` pattern, so the hook is
handed all of them: only the broken spec may be reported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pre_commit", reason="the `pre-commit` package is not installed")

ROOT = Path(__file__).resolve().parent.parent
HOOK_FILES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "netspec", "templates")
"""What pre-commit needs of this repository: the hook manifest and what pip installs."""
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "netspec tests",
    "GIT_AUTHOR_EMAIL": "tests@netspec.invalid",
    "GIT_COMMITTER_NAME": "netspec tests",
    "GIT_COMMITTER_EMAIL": "tests@netspec.invalid",
}
BROKEN = """\
netspec: 1
name: Broken
input: {shape: [4]}
layers:
  - {type: dense, unit: 2}
"""
WORKFLOW = """\
name: ci
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
"""


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def _git(cwd: Path, env: dict[str, str], *args: str) -> str:
    result = _run(["git", *args], cwd, env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """pre-commit's environment: its own store, and no PYTHONPATH, so that the hook imports
    the netspec pre-commit installed, not this checkout."""
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {
        **environ,
        **GIT_IDENTITY,
        "PRE_COMMIT_HOME": str(tmp_path_factory.mktemp("pre-commit-home")),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "PIP_PROGRESS_BAR": "off",
    }


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> tuple[Path, str]:
    """A git repository holding this checkout's hook, as it is on disk, in one commit; and
    that commit."""
    repo = tmp_path_factory.mktemp("hook-repo")
    for name in HOOK_FILES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(ROOT / name, repo / name, ignore=ignore)
        else:
            shutil.copy(ROOT / name, repo / name)
    _git(repo, env, "init", "--quiet")
    _git(repo, env, "add", ".")
    _git(repo, env, "-c", "commit.gpgsign=false", "commit", "--quiet", "-m", "snapshot")
    return repo, _git(repo, env, "rev-parse", "HEAD")


@pytest.fixture
def project(tmp_path: Path, hook_repo: tuple[Path, str], env: dict[str, str]) -> Path:
    """A project using the hook: a valid spec, a broken spec, a workflow, all staged."""
    repo, rev = hook_repo
    config = f"""\
repos:
  - repo: {repo}
    rev: {rev}
    hooks:
      - id: netspec-validate
"""
    (tmp_path / ".pre-commit-config.yaml").write_text(config)
    (tmp_path / "specs").mkdir()
    shutil.copy(ROOT / "specs" / "lenet5.yaml", tmp_path / "specs" / "lenet5.yaml")
    (tmp_path / "specs" / "broken.yaml").write_text(BROKEN)
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    _git(tmp_path, env, "init", "--quiet")
    _git(tmp_path, env, "add", ".")
    return tmp_path


def pre_commit(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`pre-commit run --all-files`, as CI runs the hooks."""
    return _run([sys.executable, "-m", "pre_commit", "run", "--all-files"], project, env)


def test_the_hook_reports_the_broken_spec_only(project: Path, env: dict[str, str]) -> None:
    result = pre_commit(project, env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "netspec validate" in output and "Failed" in output
    assert "specs/broken.yaml:5:19: layers[0].unit: unknown key 'unit'" in output
    assert "lenet5.yaml:" not in output
    assert "ci.yml" not in output and ".pre-commit-config.yaml" not in output


def test_the_hook_passes_once_the_broken_spec_is_gone(project: Path, env: dict[str, str]) -> None:
    _git(project, env, "rm", "--quiet", "-f", "specs/broken.yaml")
    result = pre_commit(project, env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "netspec validate" in output and "Passed" in output
