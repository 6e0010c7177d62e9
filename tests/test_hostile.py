"""Hostile specs: the compiler half of netspec's security suite (see SECURITY.md).

Every file in tests/hostile/ (and every case `GENERATED` below writes, too big to keep in git) is
run through `python -m netspec validate -q [ARGS] FILE` in a fresh, empty working folder, and
must give exactly the output recorded in tests/hostile_expected.txt, with

* the recorded exit status: 0 for the legal-but-odd specs named `*_ok`/`*_legal`, 1 for all others,
* every line of stderr a located `file:line:col: message` (or, with `--format github`, one
  `::error file=…,line=…,col=…,title=…::` annotation), and nothing on stdout,
* no "Traceback", within `TIME_LIMIT` (the 3 seconds of CPU time SECURITY.md promises,
  interpreter start included), under a 1 GiB address-space limit,
* nothing created in the working folder (the specs try `touch CANARY`), and no machine-learning
  framework imported (the parameter budget is enforced before torch or TensorFlow would be).

A case's first comment lines say what it attacks; a `# args: …` line gives extra arguments.
tests/hostile/XFAIL.txt lists cases known to fail, as strict expected failures: a listed case that
starts passing fails the run until it is taken off the list.

Regenerate the expected output after an intended change of messages (it keeps the entries of
XFAIL cases, which record what should happen, not what does):

    python tests/test_hostile.py --update

The Hypothesis tests at the end feed random bytes, random text and randomly mutated copies of
specs/*.yaml to the front end in-process: each must load or raise `SpecError`, nothing else, with
every problem located and printed on one line.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netspec
from netspec.errors import MAX_PROBLEMS, SpecError
from netspec.network import analyse
from netspec.spec import load_bytes

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "tests" / "hostile"
EXPECTED = ROOT / "tests" / "hostile_expected.txt"
XFAIL = HOSTILE / "XFAIL.txt"
TIME_LIMIT = 3.0
"""CPU seconds per case, as SECURITY.md states (the slowest takes about 1 s on 2 CI cores)."""
HANG = 60.0
MEMORY_LIMIT = 1 << 30
FRAMEWORKS = ("torch", "tensorflow", "keras", "jax")
VALID_SUFFIXES = ("_ok", "_legal")
"""Cases named so are legal specs (exit 0); every other case must be refused (exit 1), so
regenerating the expected output cannot quietly accept a hostile spec."""


def _nested_block_mapping(depth: int) -> str:
    return "".join(" " * i + "k:\n" for i in range(depth)) + " " * depth + "v\n"


GENERATED: dict[str, Callable[[], bytes]] = {
    # 2 MB, twice the size limit: refused before it is decoded or parsed.
    "gen_huge_2mb.yaml": lambda: b"netspec: 1\ndoc: " + b"x" * (2 << 20) + b"\n",
    # 1,200 levels of indented block mappings (720 kB): refused at the depth limit.
    "gen_deep_block_mapping.yaml": lambda: ("doc:\n" + _nested_block_mapping(1200)).encode(),
    # 120,000 list items: refused at the YAML node limit, which bounds the parsing time.
    "gen_many_nodes.yaml": lambda: (
        "netspec: 1\nname: Net\ninput: {shape: [4]}\nlayers: [" + ", ".join(["0"] * 120_000) + "]\n"
    ).encode(),
    # 300 unknown keys: the first 100 problems and a note that there are more.
    "gen_many_problems.yaml": lambda: "".join(f"key{i}: {i}\n" for i in range(300)).encode(),
    # A 900 kB single-line doc string: refused by its length, located, quickly.
    "gen_long_line.yaml": lambda: (
        "netspec: 1\nname: Net\ndoc: " + "a" * 900_000 + "\ninput: {shape: [4]}\n"
        "layers:\n  - {type: dense, units: 2}\n"
    ).encode(),
}

# Runs `python -m netspec` under a memory limit, then reports any framework it imported and
# writes its CPU time to the file named by its last argument (which netspec never sees).
BOOT = f"""
import resource, runpy, sys, time
try:
    resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))
except (ValueError, OSError):
    pass
cpu_file = sys.argv.pop()
try:
    runpy.run_module("netspec", run_name="__main__", alter_sys=True)
finally:
    imported = [m for m in {FRAMEWORKS!r} if m in sys.modules]
    if imported:
        print("FRAMEWORK IMPORTED: " + ", ".join(imported), file=sys.stderr)
    with open(cpu_file, "w") as cpu:
        cpu.write(repr(time.process_time()))
"""

LOCATED = re.compile(r"^\S.*:\d+:\d+: \S")
ANNOTATION = re.compile(r"^::error file=[^\n]*,line=\d+,col=\d+,title=netspec validate::\S")


def case_names() -> list[str]:
    files = [p.name for p in HOSTILE.iterdir() if p.suffix in (".yaml", ".bin")]
    return sorted(files + list(GENERATED))


def case_bytes(name: str) -> bytes:
    return GENERATED[name]() if name in GENERATED else (HOSTILE / name).read_bytes()


def case_args(data: bytes) -> list[str]:
    """Extra command-line arguments from a `# args: …` line among the leading comments."""
    for line in data.split(b"\n"):
        if not line.startswith(b"#"):
            break
        if line.startswith(b"# args:"):
            return line[len(b"# args:") :].decode().split()
    return []


def read_xfail() -> dict[str, str]:
    """Case name -> reason, from XFAIL.txt (`name  # reason` lines; blank lines and comments)."""
    entries = {}
    for line in XFAIL.read_text(encoding="utf-8").splitlines():
        name, _, reason = line.partition("#")
        if name.strip():
            entries[name.strip()] = reason.strip() or "known failure"
    return entries


def read_expected() -> dict[str, tuple[int, list[str]]]:
    """Case name -> (exit status, stderr lines), from the snapshot file."""
    expected: dict[str, tuple[int, list[str]]] = {}
    current: list[str] = []
    for line in EXPECTED.read_text(encoding="utf-8").split("\n"):
        header = re.fullmatch(r"== (\S+) \(exit (\d+)\)", line)
        if header:
            current = []
            expected[header[1]] = (int(header[2]), current)
        elif line and not line.startswith("#"):
            current.append(line)
    return expected


def write_expected(results: dict[str, Result], keep: dict[str, tuple[int, list[str]]]) -> None:
    lines = [
        "# Expected output of `netspec validate -q [ARGS] CASE` for each case of tests/hostile/.",
        "# Regenerate: python tests/test_hostile.py --update (XFAIL cases keep their entries).",
    ]
    for name in case_names():
        code, errors = keep[name] if name in keep else (results[name].code, results[name].stderr)
        lines += ["", f"== {name} (exit {code})", *errors]
    EXPECTED.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: list[str]
    cpu: float
    """CPU seconds the command used: the time limit applies to this, which a loaded machine
    changes little (wall-clock time only catches hangs)."""
    created: list[str]


def run_case(name: str) -> Result:
    data = case_bytes(name)
    with (
        tempfile.TemporaryDirectory(prefix="netspec-hostile-") as work,
        tempfile.TemporaryDirectory(prefix="netspec-cpu-") as stats,
    ):
        (Path(work) / name).write_bytes(data)
        cpu_file = Path(stats) / "cpu"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
        args = [*case_args(data), name, str(cpu_file)]
        command = [sys.executable, "-c", BOOT, "validate", "-q", *args]
        try:
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, timeout=HANG)
        except subprocess.TimeoutExpired:
            return Result(-1, "", [f"(no answer within {HANG} s)"], HANG, [])
        cpu = float(cpu_file.read_text()) if cpu_file.exists() else 0.0
        created = sorted(p.name for p in Path(work).iterdir() if p.name != name)
    stderr = done.stderr.decode("utf-8", "backslashreplace").splitlines()
    return Result(done.returncode, done.stdout.decode("utf-8", "replace"), stderr, cpu, created)


def run_all(names: list[str]) -> dict[str, Result]:
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return dict(zip(names, pool.map(run_case, names)))


def failures(name: str, result: Result, expected: tuple[int, list[str]] | None) -> list[str]:
    """Every way `result` breaks the rules for a hostile case (empty: it passes)."""
    found = []
    text = "\n".join(result.stderr)
    if expected is None:
        found.append("no expected output recorded (python tests/test_hostile.py --update)")
    else:
        code, lines = expected
        if result.code != code:
            found.append(f"exit status {result.code}, expected {code}")
        if result.stderr != lines:
            found.append(
                "stderr differs:\n  got:\n    "
                + "\n    ".join(result.stderr)
                + "\n  expected:\n    "
                + "\n    ".join(lines)
            )
    valid = Path(name).stem.endswith(VALID_SUFFIXES)
    if expected is not None and expected[0] != (0 if valid else 1):
        found.append(
            f"recorded exit status {expected[0]} contradicts the name: only cases named "
            f"*{'/*'.join(VALID_SUFFIXES)} are valid specs"
        )
    if result.code not in (0, 1):
        found.append(f"exit status {result.code} is neither 0 (valid) nor 1 (invalid)")
    if "Traceback" in text:
        found.append("a traceback on stderr")
    if result.stdout:
        found.append(f"output on stdout: {result.stdout[:200]!r}")
    pattern = ANNOTATION if "--format" in case_args(case_bytes(name)) else LOCATED
    unlocated = [line for line in result.stderr if not pattern.match(line)]
    if unlocated:
        found.append(f"lines that are not one located problem each: {unlocated[:3]}")
    if result.cpu > TIME_LIMIT:
        found.append(f"took {result.cpu:.1f} s of CPU time (limit {TIME_LIMIT} s)")
    if result.created:
        found.append(f"created files in the working folder: {result.created}")
    if (ROOT / "CANARY").exists():
        found.append("a CANARY file appeared in the repository")
    return found


def judge(name: str, problems: list[str], xfail: dict[str, str]) -> None:
    """Pass, fail, or (for a case listed in XFAIL.txt) expect failure strictly."""
    if name in xfail:
        if not problems:
            pytest.fail(f"{name} is in tests/hostile/XFAIL.txt but passes: take it off the list")
        pytest.xfail(f"{xfail[name]}: {problems[0].splitlines()[0]}")
    if problems:
        pytest.fail(f"{name}:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def results() -> dict[str, Result]:
    return run_all(case_names())


@pytest.mark.parametrize("name", case_names())
def test_hostile_case(name: str, results: dict[str, Result]) -> None:
    judge(name, failures(name, results[name], read_expected().get(name)), read_xfail())


def test_snapshot_and_xfail_lists_are_current() -> None:
    names = set(case_names())
    assert set(read_expected()) == names, "run: python tests/test_hostile.py --update"
    stale = set(read_xfail()) - names
    assert not stale, f"XFAIL.txt names cases that do not exist: {sorted(stale)}"
    overlap = set(GENERATED) & {p.name for p in HOSTILE.iterdir()}
    assert not overlap, f"generated cases shadow files: {overlap}"


def test_xfail_is_strict() -> None:
    """The XFAIL mechanism itself: a listed case that fails is an expected failure, a listed case
    that passes fails the run, and an unlisted one passes or fails on its own merits."""
    listed = {"case.yaml": "known"}
    with pytest.raises(pytest.xfail.Exception):
        judge("case.yaml", ["stderr differs"], listed)
    with pytest.raises(pytest.fail.Exception, match="take it off the list"):
        judge("case.yaml", [], listed)
    with pytest.raises(pytest.fail.Exception, match="stderr differs"):
        judge("case.yaml", ["stderr differs"], {})
    judge("case.yaml", [], {})


def test_rules_catch_a_broken_case() -> None:
    """`failures` notices each way a run can go wrong (so a green suite means something)."""
    good = Result(1, "", ["x.yaml:1:1: spec is empty"], 0.5, [])
    assert failures("empty.yaml", good, (1, good.stderr)) == []
    bad = Result(2, "out", ["Traceback (most recent call last):", "x.yaml:1:1: a"], 9.0, ["CANARY"])
    found = "\n".join(failures("empty.yaml", bad, (1, ["x.yaml:1:1: a"])))
    for words in ("exit status 2", "traceback", "stdout", "not one located", "took", "CANARY"):
        assert words in found


# ----------------------------------------------------------------------------- properties

LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # YAML's line breaks
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


class _Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail instead of hanging (POSIX main thread; elsewhere, no limit)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def alarm(signum: int, frame: object) -> None:
        raise _Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_outcome(load: Callable[[], object], text: str) -> None:
    """`load()` returns a network or raises SpecError whose problems are located, one line each."""
    try:
        with time_limit(10):
            load()
    except SpecError as exc:
        lines = len(LINE_BREAK.findall(text)) + 1
        assert 1 <= len(exc.problems) <= MAX_PROBLEMS + 1
        for problem in exc.problems:
            shown = str(problem)
            assert not UNSAFE.search(shown), shown
            assert 1 <= problem.line <= lines + 1 and problem.col >= 1, shown


PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)

YAMLISH = st.sampled_from(
    [
        " ",
        "  ",
        "\n",
        "- ",
        ": ",
        ", ",
        "[",
        "]",
        "{",
        "}",
        "&a ",
        "*a",
        "!x ",
        "? ",
        "'",
        '"',
        "!!python/name:os.system ",
        "#",
        "|",
        ">",
        "---",
        "...",
        "%YAML 1.2",
        "<<",
        "\\",
        "\t",
        "\r",
        "netspec",
        "1",
        "name",
        "Net",
        "layers",
        "type",
        "dense",
        "units",
        "input",
        "shape",
        "block",
        "blocks",
        "$x",
        ".nan",
        "1e-3",
        "no",
        "~",
        "\u202e",
        "\x00",
        "\x85",
        "\ufeff",
        "\ud800",
        "9" * 30,
    ]
)


@PROPERTY_SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes_raise_only_spec_error(raw: bytes) -> None:
    check_outcome(lambda: analyse(load_bytes(raw, "fuzz.yaml")), raw.decode("utf-8", "replace"))


@PROPERTY_SETTINGS
@given(st.one_of(st.text(max_size=500), st.lists(YAMLISH, max_size=80).map("".join)))
def test_random_text_raises_only_spec_error(text: str) -> None:
    check_outcome(lambda: netspec.load(text, name="fuzz.yaml"), text)


SPEC_TEXTS = {p.name: p.read_text("utf-8") for p in sorted((ROOT / "specs").glob("*.yaml"))}

MUTATION = st.one_of(
    st.tuples(st.just("delete_line"), st.integers(0, 10_000)),
    st.tuples(st.just("duplicate_line"), st.integers(0, 10_000)),
    st.tuples(st.just("swap_chars"), st.integers(0, 100_000)),
    st.tuples(st.just("insert"), st.integers(0, 100_000), st.one_of(st.characters(), YAMLISH)),
)


def mutate(text: str, mutation: tuple) -> str:
    kind, where = mutation[0], mutation[1]
    lines = text.split("\n")
    if kind == "delete_line":
        del lines[where % len(lines)]
        return "\n".join(lines)
    if kind == "duplicate_line":
        i = where % len(lines)
        return "\n".join(lines[: i + 1] + lines[i:])
    i = where % (len(text) + 1)
    if kind == "swap_chars":
        return text[:i] + text[i + 1 : i + 2] + text[i : i + 1] + text[i + 2 :]
    return text[:i] + mutation[2] + text[i:]


@PROPERTY_SETTINGS
@given(st.sampled_from(sorted(SPEC_TEXTS)), st.lists(MUTATION, min_size=1, max_size=4))
def test_mutated_specs_load_or_raise_spec_error(name: str, mutations: list[tuple]) -> None:
    text = SPEC_TEXTS[name]
    for mutation in mutations:
        text = mutate(text, mutation)
    check_outcome(lambda: netspec.load(text, name=name), text)


def test_the_specs_themselves_are_valid() -> None:
    """The mutation seeds are valid, so a mutant's problems come from its mutations."""
    for name, text in SPEC_TEXTS.items():
        netspec.load(text, name=name)


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_hostile.py --update")
    xfail = read_xfail()
    old = read_expected() if EXPECTED.exists() else {}
    write_expected(run_all(case_names()), {k: v for k, v in old.items() if k in xfail})
    print(f"wrote {EXPECTED.relative_to(ROOT)}")
