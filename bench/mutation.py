"""A small mutation run: do the tests notice when the compiler, the emitters or the training
templates are wrong? Run from the repository root:

    .venv/bin/python bench/mutation.py --list                 # every candidate mutation
    .venv/bin/python bench/mutation.py --max 25 --list        # the ones a run of 25 would try
    .venv/bin/python bench/mutation.py --max 25               # the five named ones + 25 sampled
    .venv/bin/python bench/mutation.py --files 'netspec/ir/*.py' --max 5 --timeout 120

A mutation is a one-line change of an operator or a constant in one of the target files
(`TARGETS`): `+`/`-`, `*`/`/`, `<`/`<=`, `==`/`!=`, `and`/`or`, `True`/`False`, `min`/`max`, an
integer n -> n + 1, a float x -> 1.5 x and -> 0.0, a unary minus dropped (`-1` -> `1`, axes),
a `raise`/`problems.append`/`self.fail` made unreachable (its `if` condition -> `False`), a
string literal swapped (`"mean"`/`"sum"`, `"valid"`/`"same"`, ...) and a few API swaps
(`nn.MSELoss` -> `nn.L1Loss`). Five mutations named in the issue are always run (`NAMED`).

Each mutation is applied in a private copy of the repository (the tracked and untracked files
of the working tree as they are when the run starts, `.git` and `.venv` left out), then the
tests that concern the mutated file (`TESTS`) run there with `pytest -x`; the mutation is
"caught" when a test fails (the first failing test is reported), "survived" when they all pass.
The golden-file comparison (tests/test_emit.py::test_golden_files_match) never runs: it fails
for any change of the generated text, so it would catch every emitter mutation without telling
whether the change matters; nor do tests/test_models.py's VGG-16 and ResNet-18 cases (minutes
each on a small CPU; see `KEYWORDS`). The working tree may hold tests that fail already: the
test that catches a mutation is run once on the unmutated copy, and if it fails there too it
is deselected from then on and the mutation runs again (`--baseline` runs every test file
unmutated first instead). Hypothesis runs with a fixed seed, so a property test is the same
test in every run.

The copy imports its own netspec: pytest runs with the copy as working directory and first on
PYTHONPATH (the venv's editable install points at the main checkout, but the copy's path comes
first). The editable install also maps `netspec.templates` to the main checkout's templates/,
which the copy would fall back to: the copy gets `netspec/templates`, a symlink to its own
templates/, which the normal path search finds first. Both are checked before the run (and a
probe line added to a template must appear in the generated code).

Output: one line per mutation (file:line, the change, caught/survived/timeout, the test, the
seconds), then the score, caught / (caught + survived): a timeout (the tests ran past
`--timeout`, slow tests on a loaded machine or a mutant that hangs) is listed, not scored.
The same goes to `--json` (default runs/mutation/results.json, an ignored folder).
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tokenize
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TARGETS = [
    "netspec/ir/*.py",
    "netspec/passes/*.py",
    "netspec/objective.py",
    "netspec/emit/torch*.py",
    "netspec/emit/keras*.py",
    "netspec/emit/losses.py",
    "netspec/emit/training.py",
    "netspec/weights.py",
    "templates/torch/train.py.jinja",
    "templates/keras/train.py.jinja",
    "templates/*/losses/*.jinja",
    "templates/keras/optimizers/*.jinja",
]
"""The files mutated (patterns relative to the repository root)."""

_FRONT = ["tests/test_rules.py", "tests/test_frontend.py", "tests/test_properties.py"]
_MODELS = [
    "tests/test_emit.py",
    "tests/test_stochastic.py",
    "tests/test_models.py",
    "tests/test_sharing.py",
    "tests/test_random_models.py",
]
TESTS: list[tuple[str, list[str]]] = [
    ("netspec/ir/*", _FRONT),
    ("netspec/passes/*", [*_FRONT, "tests/test_sharing.py"]),
    ("netspec/objective.py", ["tests/test_rules.py", "tests/test_losses.py", *_FRONT[1:]]),
    ("netspec/emit/torch*", _MODELS),
    ("netspec/emit/keras*", _MODELS),
    ("netspec/emit/losses.py", ["tests/test_losses.py", "tests/test_train_objectives.py"]),
    (
        "netspec/emit/training.py",
        ["tests/test_optimizers.py", "tests/test_losses.py", "tests/test_train_objectives.py"],
    ),
    ("netspec/weights.py", ["tests/test_models.py", "tests/test_random_models.py"]),
    ("templates/*/losses/*", ["tests/test_losses.py", "tests/test_train_objectives.py"]),
    (
        "templates/keras/optimizers/*",
        ["tests/test_optimizers.py", "tests/test_train_objectives.py"],
    ),
    (
        "templates/torch/train.py.jinja",
        ["tests/test_losses.py", "tests/test_train_objectives.py", "tests/test_train_torch.py"],
    ),
    (
        "templates/keras/train.py.jinja",
        ["tests/test_losses.py", "tests/test_train_objectives.py", "tests/test_train_keras.py"],
    ),
]
"""The tests run for a mutation of a file: the first pattern that matches; cheap and targeted
files first (`-x` stops at the first failure). Files missing from the tree are skipped."""

KEYWORDS = "not test_golden_files_match and not (test_models and (vgg16 or resnet18))"
"""`-k` expression: every test but the golden-file comparison, and tests/test_models.py without
its VGG-16 and ResNet-18 cases (each takes minutes on this CPU; the smaller specs there, the
random networks and the sharing tests run the same code paths)."""


@dataclass
class Mutation:
    file: str
    line: int
    """1-based."""
    before: str
    after: str
    """The whole line, before and after."""
    change: str
    """What changed, in short (`'<' -> '<='`)."""
    name: str = ""
    """The issue's name for the five named mutations ("" for the others)."""
    outcome: str = ""
    """caught, survived, timeout, or error (the test run itself failed to start)."""
    test: str = ""
    seconds: float = 0.0
    tests: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.file, self.line, self.after)


# ----------------------------------------------------------------------------- the mutations

NAMED = [
    # (name, file, the line's text (stripped) before, after, the change in short)
    (
        "torch MSE loss -> L1",
        "netspec/emit/losses.py",
        '"mse": "nn.MSELoss()",',
        '"mse": "nn.L1Loss()",',
        "nn.MSELoss -> nn.L1Loss",
    ),
    (
        "Keras concat axis swapped",
        "netspec/emit/keras_layers.py",
        "axis = -1 if rank == 1 or item.layer.axis == 0 else item.layer.axis  # type: ignore[attr-defined]",  # noqa: E501 (the line verbatim)
        "axis = 1 if rank == 1 or item.layer.axis == 0 else item.layer.axis  # type: ignore[attr-defined]",  # noqa: E501
        "channel concat axis -1 -> 1",
    ),
    (
        "conv groups-divide-input-channels check removed",
        "netspec/ir/conv.py",
        "if c % self.group_count(c) or self.out_channels(c) % self.group_count(c):",
        "if self.out_channels(c) % self.group_count(c):",
        "'c % groups or' dropped",
    ),
    (
        "Keras KL loss sign flipped",
        "templates/keras/losses/kl_div.py.jinja",
        "return keras.ops.sum(y_true * (log_t - log_probs), axis=-1)",
        "return -keras.ops.sum(y_true * (log_t - log_probs), axis=-1)",
        "sum -> -sum",
    ),
    (
        "torch dropout rate emitted as 0.0",
        "netspec/emit/torch_layers.py",
        'return {"args": expr(item.layer.rate)}  # type: ignore[attr-defined]',
        'return {"args": "0.0"}  # type: ignore[attr-defined]',
        "nn.Dropout(rate) -> nn.Dropout(0.0)",
    ),
]

OPERATORS = {
    "+": "-",
    "-": "+",
    "*": "/",
    "/": "*",
    "//": "*",
    "%": "*",
    "<": "<=",
    "<=": "<",
    ">": ">=",
    ">=": ">",
    "==": "!=",
    "!=": "==",
    "+=": "-=",
    "-=": "+=",
}
NAMES = {"and": "or", "or": "and", "True": "False", "False": "True", "min": "max", "max": "min"}
STRINGS = {
    "mean": "sum",
    "sum": "mean",
    "batchmean": "sum",
    "sum_over_batch_size": "sum",
    "valid": "same",
    "same": "valid",
    "1d": "2d",
    "2d": "1d",
    "-1": "1",
    "binary": "categorical",
    "categorical": "binary",
    "classes": "indices",
    "indices": "classes",
    "probabilities": "values",
    "int32": "float32",
    "int": "categorical",
}
"""String literals swapped (the text between the quotes)."""
IN_STRINGS = [
    ("nn.MSELoss", "nn.L1Loss"),
    ("nn.NLLLoss", "nn.CrossEntropyLoss"),
    ("BCEWithLogitsLoss", "BCELoss"),
    ('reduction="batchmean"', 'reduction="sum"'),
    ("from_logits=True", "from_logits=False"),
    ("dim=1", "dim=-1"),
]
"""Substitutions inside string literals (code that generated code is made of)."""
UNREACHABLE = re.compile(r"^(\s*)(if|elif) (.+):(\s*#.*)?$")
GUARDED = ("raise ", "problems.append(", "self.fail(", "expander.fail(")
OPENERS = {"(", "[", "{", ",", "=", ":", "return", "if", "else", "in", "and", "or", "not", "**"}
"""Tokens after which `-` and `*` are unary (or star-args), not arithmetic."""


def target_files(root: Path, only: list[str] | None) -> list[str]:
    found: list[str] = []
    for pattern in TARGETS:
        for path in sorted(root.glob(pattern)):
            rel = path.relative_to(root).as_posix()
            if rel not in found and (not only or any(fnmatch.fnmatch(rel, o) for o in only)):
                found.append(rel)
    return found


def tests_for(rel: str, root: Path) -> list[str]:
    for pattern, tests in TESTS:
        if fnmatch.fnmatch(rel, pattern):
            return [t for t in tests if (root / t).exists()]
    raise KeyError(f"no tests mapped for {rel}")


def _valid(rel: str, text: str) -> bool:
    """A mutant must still parse: a syntax error is caught by anything and says nothing."""
    if rel.endswith(".py"):
        try:
            compile(text, rel, "exec")
        except SyntaxError:
            return False
        return True
    import jinja2

    try:
        jinja2.Environment().parse(text)
    except jinja2.TemplateSyntaxError:
        return False
    return True


def _number(text: str) -> list[tuple[str, str]]:
    """(new text, change) for a numeric literal."""
    value = eval(text, {"__builtins__": {}})  # a literal from tokenize, nothing else
    if isinstance(value, bool) or isinstance(value, complex):
        return []
    if isinstance(value, int):
        return [(str(value + 1), f"{text} -> {value + 1}")]
    if value == 0.0:
        return [("1.0", f"{text} -> 1.0")]
    return [(repr(value * 1.5), f"{text} -> {value * 1.5!r}"), ("0.0", f"{text} -> 0.0")]


def _string(text: str) -> list[tuple[str, str]]:
    match = re.fullmatch(r"([rbuRBU]?)(['\"])(.*)\2", text, re.S)
    if not match:
        return []
    prefix, quote, body = match.groups()
    result = []
    if body in STRINGS:
        new = f"{prefix}{quote}{STRINGS[body]}{quote}"
        result.append((new, f"{text} -> {new}"))
    for old, new in IN_STRINGS:
        if old in body:
            result.append((text.replace(old, new, 1), f"{old} -> {new}"))
    return result


def candidates(root: Path, rel: str) -> list[Mutation]:
    """Every one-line mutation of `rel` that still parses."""
    source = (root / rel).read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    found: dict[tuple[int, str], Mutation] = {}

    def add(row: int, col: int, end: int, new: str, change: str) -> None:
        line = lines[row - 1]
        if "{{" in line or "{%" in line:  # Jinja, not the program's code
            return
        mutated = line[:col] + new + line[end:]
        if mutated == line or (row, mutated) in found:
            return
        text = "".join(lines[: row - 1]) + mutated + "".join(lines[row:])
        if _valid(rel, text):
            found[row, mutated] = Mutation(
                rel, row, line.rstrip("\n"), mutated.rstrip("\n"), change
            )

    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        tokens = []
    previous = None
    for tok in tokens:
        (row, col), (end_row, end) = tok.start, tok.end
        if tok.type in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT):
            if tok.type == tokenize.NEWLINE:
                previous = None
            continue
        if row != end_row:
            previous = tok
            continue
        unary = previous is None or previous.string in OPENERS
        if tok.type == tokenize.OP and tok.string in OPERATORS:
            if tok.string in ("-", "*") and unary:
                if tok.string == "-":
                    add(row, col, end, "", "unary '-' dropped")
            else:
                new = OPERATORS[tok.string]
                add(row, col, end, new, f"'{tok.string}' -> '{new}'")
        elif tok.type == tokenize.NAME and tok.string in NAMES:
            new = NAMES[tok.string]
            add(row, col, end, new, f"{tok.string} -> {new}")
        elif tok.type == tokenize.NUMBER:
            for new, change in _number(tok.string):
                add(row, col, end, new, change)
        elif tok.type == tokenize.STRING:
            for new, change in _string(tok.string):
                add(row, col, end, new, change)
        previous = tok
    for index, line in enumerate(lines):
        match = UNREACHABLE.match(line.rstrip("\n"))
        following = next((x.strip() for x in lines[index + 1 :] if x.strip()), "")
        if match and following.startswith(GUARDED):
            indent, keyword, condition, comment = match.groups()
            if "{{" in condition or "{%" in condition:
                continue
            start = len(indent) + len(keyword) + 1
            end = start + len(condition)
            add(
                index + 1,
                start,
                end,
                "False",
                f"{following.split('(')[0].split()[0]} made unreachable",
            )
    return sorted(found.values(), key=lambda m: (m.line, m.after))


def named(root: Path) -> list[Mutation]:
    result = []
    for name, rel, before, after, change in NAMED:
        lines = (root / rel).read_text(encoding="utf-8").splitlines()
        rows = [i for i, line in enumerate(lines) if line.strip() == before]
        if len(rows) != 1:
            raise SystemExit(f"named mutation {name!r}: {len(rows)} lines of {rel} read {before!r}")
        line = lines[rows[0]]
        indent = line[: len(line) - len(line.lstrip())]
        result.append(Mutation(rel, rows[0] + 1, line, indent + after, change, name))
    return result


def select(root: Path, files: list[str], limit: int | None, seed: int) -> list[Mutation]:
    """The named mutations (of the selected files), then `limit` others: each file's
    candidates shuffled by `seed`, taken a file at a time in turn (so every file gets some)."""
    chosen = [m for m in named(root) if m.file in files]
    taken = {m.key for m in chosen}
    pools = []
    for rel in files:
        pool = [m for m in candidates(root, rel) if m.key not in taken]
        random.Random(f"{seed}:{rel}").shuffle(pool)
        pools.append(pool)
    others: list[Mutation] = []
    while any(pools) and (limit is None or len(others) < limit):
        for pool in pools:
            if pool and (limit is None or len(others) < limit):
                others.append(pool.pop(0))
    return chosen + others


# ----------------------------------------------------------------------------- the copy


def snapshot(dest: Path) -> None:
    """The working tree's tracked and untracked (not ignored) files, as they are now."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in sorted(set(filter(None, listing.split("\0")))):
        src = ROOT / rel
        if not src.is_file() or rel.startswith((".venv/", ".git/")):
            continue  # deleted in the working tree, or not ours
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    link = dest / "netspec" / "templates"
    if not link.exists():
        link.symlink_to(Path("..") / "templates", target_is_directory=True)


def environment(copy: Path) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": str(copy) + (os.pathsep + path if path else ""),
        "PYTHONDONTWRITEBYTECODE": "1",  # a same-size mutant in the same second: no stale .pyc
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }


PROBE = """
import json, sys
from importlib.resources import files
import netspec
from netspec.emit import emit
print(json.dumps({
    "netspec": netspec.__file__,
    "templates": str(files("netspec.templates")),
    "train": emit(netspec.load("specs/lenet5.yaml"), "torch")["train.py"],
}))
"""


def check_copy(copy: Path) -> None:
    """netspec and its templates come from the copy: a line added to a template shows."""
    template = copy / "templates" / "torch" / "train.py.jinja"
    original = template.read_text(encoding="utf-8")
    marker = "# mutation-probe-7f3a"
    template.write_text(original + marker + "\n", encoding="utf-8")
    try:
        done = subprocess.run(
            [sys.executable, "-c", PROBE],
            cwd=copy,
            env=environment(copy),
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        template.write_text(original, encoding="utf-8")
    if done.returncode != 0:
        raise SystemExit(f"probe failed in the copy:\n{done.stderr[-3000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    real = copy.resolve()
    for key in ("netspec", "templates"):
        if not Path(found[key]).resolve().is_relative_to(real):
            raise SystemExit(f"{key} resolves to {found[key]}, outside the copy {copy}")
    if marker not in found["train"]:
        raise SystemExit("a template changed in the copy did not change the generated code")
    print(f"copy {copy}: netspec and templates resolve there; template edits reach the output")


# ----------------------------------------------------------------------------- running tests


def pytest(
    copy: Path, tests: list[str], deselect: list[str], timeout: float, stop_first: bool
) -> tuple[int | None, str, float]:
    """(exit status, None on timeout; output; seconds) of pytest in the copy."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE"]
    command += ["-x"] if stop_first else []
    command += ["--hypothesis-seed=0", "-k", KEYWORDS, *tests]
    command += [f"--deselect={d}" for d in deselect]
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=copy,
        env=environment(copy),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the frameworks' subprocesses are killed with it
    )
    try:
        output, _ = process.communicate(timeout=timeout)
        status: int | None = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        status = None
    return status, output, time.perf_counter() - start


FAILED = re.compile(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", re.M)


def failures(output: str) -> list[str]:
    """Node ids of the failed tests (from pytest's short summary)."""
    return list(dict.fromkeys(m.group(1) for m in FAILED.finditer(output)))


def baseline(copy: Path, selections: list[list[str]], timeout: float) -> list[str]:
    """`--baseline`: every test file of the run, unmutated; the tests that fail there."""
    broken: list[str] = []
    for test in sorted({t for tests in selections for t in tests}):
        status, output, took = pytest(copy, [test], [], timeout, stop_first=False)
        failed = failures(output)
        if status not in (0, 1) or (status == 1 and not failed):
            raise SystemExit(f"baseline: pytest {test} exited {status}:\n{output[-3000:]}")
        broken += failed
        print(f"baseline {test}: {took:.1f} s, {len(failed)} failing", flush=True)
    return broken


class Runner:
    """Runs mutations in the copy. A test that catches a mutation is run once unmutated (when
    no test has been checked so: cheaper than a baseline of every file, since survivors need
    none); if it fails there too, it is deselected from then on and the mutation runs again."""

    def __init__(self, copy: Path, timeout: float, broken: list[str]) -> None:
        self.copy = copy
        self.timeout = timeout
        self.broken = list(broken)
        """Tests that fail unmutated (deselected)."""
        self.good: set[str] = set()
        self.collects: dict[tuple[str, ...], bool] = {}
        self.checking = 0.0
        """Seconds spent running tests unmutated."""

    def passes_unmutated(self, test: str) -> bool:
        if test not in self.good and test not in self.broken:
            status, output, took = pytest(self.copy, [test], [], self.timeout, stop_first=False)
            self.checking += took
            if status == 1 and test in failures(output):
                self.broken.append(test)
                print(f"        (fails unmutated too, deselected from now on: {test})")
            else:  # passed, or could not be run alone (an id pytest cannot select): trusted
                self.good.add(test)
        return test in self.good

    def collects_unmutated(self, tests: list[str]) -> bool:
        key = tuple(tests)
        if key not in self.collects:
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            done = subprocess.run(
                [*command, "--collect-only", *tests],
                cwd=self.copy,
                env=environment(self.copy),
                capture_output=True,
                timeout=self.timeout,
            )
            self.collects[key] = done.returncode == 0
        return self.collects[key]

    def run(self, mutation: Mutation) -> None:
        mutation.seconds = 0.0
        while True:
            self._once(mutation)
            if mutation.outcome != "caught":
                return
            if mutation.test == "(collection error)":
                if not self.collects_unmutated(mutation.tests):
                    mutation.outcome = "error"
                    mutation.test = "(the tests do not collect unmutated)"
                return
            if self.passes_unmutated(mutation.test):
                return

    def _once(self, mutation: Mutation) -> None:
        path = self.copy / mutation.file
        original = path.read_text(encoding="utf-8")
        lines = original.splitlines(keepends=True)
        assert lines[mutation.line - 1].rstrip("\n") == mutation.before, mutation
        ending = lines[mutation.line - 1][len(mutation.before) :]
        lines[mutation.line - 1] = mutation.after + ending
        path.write_text("".join(lines), encoding="utf-8")
        try:
            status, output, took = pytest(
                self.copy, mutation.tests, self.broken, self.timeout, stop_first=True
            )
        finally:
            path.write_text(original, encoding="utf-8")
        mutation.seconds = round(mutation.seconds + took, 1)
        failed = failures(output)
        mutation.test = ""
        if status is None:
            mutation.outcome, mutation.test = "timeout", f"(over {self.timeout:.0f} s)"
        elif status == 0:
            mutation.outcome = "survived"
        elif status in (1, 2) and failed:
            mutation.outcome, mutation.test = "caught", failed[0]
        elif status == 2:  # interrupted at collection: an import-time error
            mutation.outcome, mutation.test = "caught", "(collection error)"
        else:
            mutation.outcome, mutation.test = "error", f"(pytest exit {status})"
            print(output[-2000:])


def show(index: int, total: int, m: Mutation) -> str:
    label = f" [{m.name}]" if m.name else ""
    head = f"[{index:2}/{total}] {m.where}  {m.change}{label}"
    if not m.outcome:
        return f"{head}\n        - {m.before.strip()}\n        + {m.after.strip()}"
    return f"{head}\n        {m.outcome.upper():8} {m.test or '-'}  {m.seconds:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="+", help="only these targets (glob patterns)")
    parser.add_argument("--max", type=int, help="sample this many besides the named five")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (0)")
    parser.add_argument("--list", action="store_true", help="print the mutations, run nothing")
    parser.add_argument("--timeout", type=float, default=420, help="seconds per test run (420)")
    parser.add_argument(
        "--baseline", action="store_true", help="first run every test file unmutated"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=ROOT / "runs" / "mutation" / "results.json",
        help="where the results go (runs/mutation/results.json)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the copy (its path is printed)")
    args = parser.parse_args()

    if args.list:
        files = target_files(ROOT, args.files)
        mutations = select(ROOT, files, args.max, args.seed)
        for index, m in enumerate(mutations, 1):
            print(show(index, len(mutations), m))
        counts = {rel: len(candidates(ROOT, rel)) for rel in files}
        print(f"\n{len(mutations)} selected; candidates per file:")
        for rel, n in counts.items():
            print(f"  {n:4}  {rel}")
        return 0

    started, date = time.perf_counter(), dt.datetime.now().isoformat(timespec="seconds")
    copy = Path(tempfile.mkdtemp(prefix="netspec-mutation-"))
    try:
        snapshot(copy)  # the working tree changes under us: mutate and test one fixed state
        files = target_files(copy, args.files)
        if not files:
            parser.error("no target file matches --files")
        mutations = select(copy, files, args.max, args.seed)
        for m in mutations:
            m.tests = tests_for(m.file, copy)
        check_copy(copy)
        broken = (
            [] if not args.baseline else baseline(copy, [m.tests for m in mutations], args.timeout)
        )
        runner = Runner(copy, args.timeout, broken)
        for index, m in enumerate(mutations, 1):
            runner.run(m)
            print(show(index, len(mutations), m), flush=True)
    finally:
        if args.keep:
            print(f"copy kept: {copy}")
        else:
            shutil.rmtree(copy, ignore_errors=True)

    caught = [m for m in mutations if m.outcome == "caught"]
    judged = [m for m in mutations if m.outcome in ("caught", "survived")]
    score = len(caught) / max(len(judged), 1)
    total = time.perf_counter() - started
    print(f"\nmutation score: {len(caught)}/{len(judged)} = {score:.0%} ({total / 60:.1f} min)")
    for m in mutations:
        if m.name:
            print(f"  named: {m.name}: {m.outcome} ({m.test or '-'})")
    undecided = [m for m in mutations if m.outcome not in ("caught", "survived")]
    for m in undecided:
        print(f"  not scored ({m.outcome}): {m.where}  {m.change}  {m.test}")
    survivors = [m for m in mutations if m.outcome == "survived"]
    if survivors:
        print("survivors:")
        for m in survivors:
            print(f"  {m.where}  {m.change}\n      - {m.before.strip()}\n      + {m.after.strip()}")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "date": date,
                "command": " ".join(sys.argv),
                "commit": head,
                "working_tree_changes": bool(dirty),
                "seed": args.seed,
                "score": score,
                "caught": len(caught),
                "judged": len(judged),
                "seconds": round(total, 1),
                "failing_unmutated_deselected": runner.broken,
                "seconds_checking_unmutated": round(runner.checking, 1),
                "mutations": [asdict(m) for m in mutations],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"results: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
