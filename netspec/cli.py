"""The `netspec` command line: validate, summary, schema, build, graph.

Exit codes, the same for every command: 0 success, 1 an invalid spec (problems on stderr,
one `file:line:col: message` line each, or a valid spec that a backend cannot express), 2 a
usage error or input that cannot be read (a missing file, a folder where a file was wanted, an
existing output folder without --force). `-` reads a spec from standard input. Only `build`'s
output is written to disk, and only atomically. Nothing here imports torch or TensorFlow.
"""

from __future__ import annotations

import argparse
import fnmatch
import gc
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from netspec import __version__, sarif
from netspec.errors import Problem, SpecError, one_line
from netspec.network import DEFAULT_MAX_PARAMS, Network, load

EXAMPLES = {
    "validate": "netspec validate specs/\n  netspec validate --format github specs/*.yaml\n"
    "  netspec validate --format sarif specs/ > netspec.sarif\n"
    "  netspec validate . --exclude 'ci/*' --exclude '*.lock.yaml'\n"
    "  cat spec.yaml | netspec validate -",
    "summary": "netspec summary specs/resnet18.yaml\n"
    "  netspec summary specs/resnet18.yaml --batch 256 --depth 0\n"
    "  netspec summary specs/resnet18.yaml --format json",
    "schema": "netspec schema > netspec.schema.json",
    "build": "netspec build specs/vgg16.yaml --backend torch -o out/vgg16_torch\n"
    "  netspec build specs/vgg16.yaml --backend keras -o out/vgg16_keras --force",
    "graph": "netspec graph specs/resnet18.yaml --format mermaid\n"
    "  netspec graph specs/resnet18.yaml --format svg -o resnet18.svg",
    "completion": 'eval "$(netspec completion bash)"    # in ~/.bashrc\n'
    '  eval "$(netspec completion zsh)"     # in ~/.zshrc, after compinit',
}


class _UsageError(Exception):
    pass


STDIN = "-"
"""The spec argument that reads standard input."""
SKIPPED_FOLDERS = {"node_modules", "__pycache__", "site-packages"}
"""Folders a walk never enters, besides hidden ones (.git, .venv) and virtual environments."""


def _skipped(folder: Path) -> bool:
    return (
        folder.name.startswith(".")
        or folder.name in SKIPPED_FOLDERS
        or (folder / "pyvenv.cfg").is_file()
    )


def spec_files(paths: Sequence[str], exclude: Sequence[str] = ()) -> Iterator[Path | str]:
    """Expand folders into the *.yaml / *.yml files they hold (sorted, recursively, leaving
    out hidden folders, virtual environments and files whose path matches an `exclude`
    glob); `-` stays `-` (standard input)."""
    for raw in paths:
        path = Path(raw)
        if raw == STDIN:
            yield STDIN
        elif path.is_dir():
            found = []
            for folder, subfolders, names in os.walk(path):
                subfolders[:] = [d for d in subfolders if not _skipped(Path(folder, d))]
                found += [Path(folder, n) for n in names if n.endswith((".yaml", ".yml"))]
            yield from sorted(p for p in found if not _excluded(p, exclude))
        elif path.is_file():
            yield path
        elif path.exists():
            raise _UsageError(f"not a file or folder: {raw}")
        else:
            raise _UsageError(f"no such file or folder: {raw}")


def _excluded(path: Path, patterns: Sequence[str]) -> bool:
    text = path.as_posix()
    return any(
        fnmatch.fnmatch(text, pattern) or fnmatch.fnmatch(text, f"*/{pattern}")
        for pattern in patterns
    )


def github_escape(text: str, *, property_: bool = False) -> str:
    """Escape as the GitHub Actions toolkit does for workflow commands."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def _report(problem: Problem, fmt: str) -> str:
    if fmt == "github":  # escaped as in text form first: no raw control or bidi characters
        file = github_escape(one_line(problem.file), property_=True)
        message = github_escape(one_line(problem.message))
        where = f"file={file},line={problem.line},col={problem.col}"
        return f"::error {where},title=netspec validate::{message}"
    return str(problem)


def _load(path: str | Path, max_params: int) -> Network:
    """The network of a spec file, or of standard input for `-`; a file that cannot be read
    is a usage error (exit 2), not a located problem."""
    if path == STDIN:
        return load(sys.stdin.read(), name="<stdin>", max_params=max_params)
    file = Path(path)
    if not file.is_file():
        what = "a folder" if file.is_dir() else "no such file"
        raise _UsageError(f"{path}: {what}; give a spec file")
    try:
        file.read_bytes()
    except OSError as exc:
        raise _UsageError(f"{path}: cannot read: {exc.strerror}") from None
    return load(file, max_params=max_params)


SPEC_KEY = re.compile(rb"^netspec\s*:", re.MULTILINE)
"""A spec declares its format version at the top level: `netspec: 1`."""


def declares_netspec(path: Path | str) -> bool:
    """Whether a YAML file is a netspec spec (a top-level `netspec:` key), for
    --only-specs; unreadable files count as specs, so that validation reports them."""
    if path == STDIN:
        return True
    try:
        return SPEC_KEY.search(Path(path).read_bytes()) is not None
    except OSError:
        return True


def cmd_validate(args: argparse.Namespace) -> int:
    files = list(spec_files(args.specs, args.exclude))
    if args.only_specs:  # a pre-commit hook is handed every YAML file of a commit
        files = [path for path in files if declares_netspec(path)]
    elif not files:
        raise _UsageError("no spec files found")
    refused: list[SpecError] = []
    for path in files:
        try:
            _load(path, args.max_params)
        except SpecError as exc:
            refused.append(exc)
            if args.format in ("text", "github"):
                for problem in exc.problems:
                    print(_report(problem, args.format), file=sys.stderr)
    if args.format == "json":  # one document on stdout, for tools
        problems = [
            {"file": p.file, "line": p.line, "column": p.col, "message": p.message}
            for exc in refused
            for p in exc.problems
        ]
        document = {"files": len(files), "valid": len(files) - len(refused), "problems": problems}
        print(json.dumps(document, indent=2))
    elif args.format == "sarif":  # one SARIF log on stdout, for code scanning
        print(json.dumps(sarif.log(refused), indent=2))
    elif files and not args.quiet:
        print(f"{len(files) - len(refused)} of {len(files)} spec(s) valid", file=sys.stderr)
    return 1 if refused else 0


def cmd_summary(args: argparse.Namespace) -> int:
    from netspec.summary import as_json, render

    network = _load(args.spec, args.max_params)
    if args.format == "json":
        print(json.dumps(as_json(network, args.batch), indent=2))
    else:
        sys.stdout.write(render(network, args.batch, args.depth))
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def cmd_schema(args: argparse.Namespace) -> int:
    from netspec.schema import schema

    sys.stdout.write(json.dumps(schema(), indent=2, sort_keys=True) + "\n")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from netspec.builder import build

    network = _load(args.spec, args.max_params)
    result = build(network, backend=args.backend, out=args.out, force=args.force)
    for path in result.files:
        print(f"wrote {path}")
    print(f"{network.name}: {network.params:,} parameters ({args.backend}) in {result.out}")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from netspec.graph import render_graph

    network = _load(args.spec, args.max_params)
    render_graph(network, args.format, args.output)
    return 0


def cmd_completion(args: argparse.Namespace) -> int:
    from netspec.completion import script

    sys.stdout.write(script(parser(), args.shell))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="netspec",
        description="Compile declarative network specs (YAML) to PyTorch and Keras 3 code.",
        epilog="Exit status (every command): 0 ok, 1 an invalid spec, 2 a usage error or input "
        "that cannot be read. A SPEC of - is read from standard input. Run 'netspec COMMAND "
        "--help' for a command's options and examples.",
    )
    top.add_argument("--version", action="version", version=f"netspec {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help_,
            description=help_,
            epilog="examples:\n  " + EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name not in ("schema", "completion"):
            sub.add_argument(
                "--max-params",
                type=int,
                default=DEFAULT_MAX_PARAMS,
                metavar="N",
                help=f"refuse networks with more parameters (default {DEFAULT_MAX_PARAMS:,})",
            )
        return sub

    sub = command("validate", "Check specs; print every problem as file:line:col: message.")
    sub.add_argument("specs", nargs="+", metavar="SPEC_OR_FOLDER")
    sub.add_argument(
        "--format",
        choices=["text", "github", "json", "sarif"],
        default="text",
        help="'github' prints GitHub Actions annotations; 'json' one JSON document on stdout "
        "(files, valid, problems with file, line, column, message); 'sarif' a SARIF 2.1.0 log "
        "on stdout, for GitHub code scanning (a rule per kind of problem: yaml, spec, network)",
    )
    sub.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    sub.add_argument(
        "--only-specs",
        action="store_true",
        help="leave out YAML files without a top-level 'netspec:' key (CI workflows, "
        "configs): what the pre-commit hook passes",
    )
    sub.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="leave out files of a folder whose path matches (repeatable; hidden folders "
        "and virtual environments are always left out)",
    )
    sub.set_defaults(run=cmd_validate)

    sub = command("summary", "Print a table of layers, output shapes, parameters and MACs.")
    sub.add_argument("spec", metavar="SPEC")
    sub.add_argument(
        "--batch", type=_positive, default=1, metavar="N", help="batch of the memory estimate"
    )
    sub.add_argument(
        "--depth", type=int, default=None, metavar="D", help="hide layers nested deeper in blocks"
    )
    sub.add_argument("--format", choices=["text", "json"], default="text")
    sub.set_defaults(run=cmd_summary)

    sub = command("schema", "Print the JSON Schema (draft-07) of the spec format.")
    sub.set_defaults(run=cmd_schema)

    sub = command("build", "Generate a Python package (model, training program, README).")
    sub.add_argument("spec", metavar="SPEC")
    sub.add_argument("--backend", choices=["torch", "keras"], required=True)
    sub.add_argument(
        "-o", "--out", default=None, help="output package folder (default: ./<name>_<backend>)"
    )
    sub.add_argument("--force", action="store_true", help="replace an existing output folder")
    sub.set_defaults(run=cmd_build)

    sub = command("graph", "Draw the network: Mermaid, Graphviz DOT or SVG.")
    sub.add_argument("spec", metavar="SPEC")
    sub.add_argument("--format", choices=["mermaid", "dot", "svg"], default="mermaid")
    sub.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")
    sub.set_defaults(run=cmd_graph)

    sub = command("completion", "Print a shell completion script (bash or zsh).")
    sub.add_argument("shell", choices=["bash", "zsh"])
    sub.set_defaults(run=cmd_completion)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except SpecError as exc:
        for problem in exc.problems:
            print(_report(problem, getattr(args, "format", "text")), file=sys.stderr)
        return 1
    except (_UsageError, OSError) as exc:  # OSError: FileExistsError, a full disk, ...
        print(f"netspec: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # EmitError: a valid spec that the backend cannot express
        print(f"netspec: error: {exc}", file=sys.stderr)
        return 1


def command() -> int:
    """The `netspec` command itself (the console script, `python -m netspec`): `main` on this
    process's arguments, in a process that exits right after."""
    status = main()
    # The IR's classes and validators live until exit, and the interpreter's last garbage
    # collections would walk them all for nothing: about a tenth of a cold `netspec validate`
    # (bench/validate.py). Frozen objects are left to the operating system; streams are still
    # flushed and exit handlers still run.
    gc.freeze()
    return status


if __name__ == "__main__":
    raise SystemExit(command())
