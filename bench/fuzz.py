"""A long fuzzing campaign over netspec's front end. Run from the repository root:

    python bench/fuzz.py --seconds 180            # mutation fuzzer (plain Python, `random`)
    python bench/fuzz.py --seconds 180 --jobs 4   # the same on 4 processes
    python bench/fuzz.py --engine atheris --seconds 180   # coverage-guided, if atheris is installed

Every input (bytes) goes through `load_bytes` and `analyse`, the path `netspec validate` takes,
and must keep the properties tests/test_hostile.py checks on a small scale:

* it is valid, or it raises `netspec.SpecError`: never another exception;
* it finishes within `--timeout` seconds (a hang is a finding), and a slow one (over `--slow`
  seconds of CPU time, which a loaded machine changes less than wall-clock time) is reported;
* each problem is located (line and column at least 1, the line inside the file) and prints as
  exactly one line free of control and bidi characters, and there are at most
  `MAX_PROBLEMS` + 1 of them;
* loading the same bytes twice gives the same problems (checked on a sample).

The mutation engine starts from specs/*.yaml and tests/hostile/*, and mutates at the text level
(lines deleted, duplicated, swapped; characters swapped; hostile tokens and Unicode inserted;
scalars replaced by boundary values; deep nesting, anchors and tags spliced in) and at the byte
level. It keeps a mutant in its corpus when it produces an outcome not seen before (the messages
with numbers and quoted text blanked), a cheap stand-in for coverage feedback.

Findings are written to `--out` (default: a fresh temporary folder), one file per distinct
failure, with the input that caused it; the summary line gives executions, rate and findings.
Exit status: 0 without findings, 1 with.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import random
import re
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SpecError: type[Exception] = Exception
analyse: Callable = print
load_bytes: Callable = print
MAX_PROBLEMS = 0


def import_netspec() -> None:
    """Import netspec here, not at the top: atheris must instrument it as it is imported."""
    global SpecError, analyse, load_bytes, MAX_PROBLEMS
    from netspec import SpecError
    from netspec.errors import MAX_PROBLEMS
    from netspec.network import analyse
    from netspec.spec import load_bytes


SEEDS = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests" / "specs").glob("*.yaml"))
HOSTILE = sorted(p for p in (ROOT / "tests" / "hostile").glob("*") if p.suffix in (".yaml", ".bin"))

LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # YAML's line breaks
UNSAFE_OUTPUT = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]"
)

TOKENS = [
    # numbers at and past the limits
    "0",
    "-1",
    "1",
    "2",
    "1000",
    "1001",
    "1048576",
    "1048577",
    "99999999999999999999",
    "1" + "0" * 400,
    "0x7fffffffffffffff",
    "0o777",
    "0b101",
    "1e-3",
    "1e309",
    "-1e-309",
    "1_000",
    ".nan",
    ".NaN",
    ".inf",
    "-.inf",
    "+.inf",
    "0.5",
    "1.0",
    "-0.0",
    "3.",
    ".5e5",
    # YAML 1.1 booleans and nulls, which are strings in the core schema
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "True",
    "FALSE",
    "~",
    "null",
    "Null",
    "''",
    '""',
    # collections and YAML syntax
    "[]",
    "{}",
    "[1, 2]",
    "[1, 2, 3]",
    "{type: relu}",
    "[[[[[[[[[[]]]]]]]]]]",
    "*a",
    "&a x",
    "&a [1, *a]",
    "<<: {units: 2}",
    "? x",
    "- x",
    "!!python/object/apply:os.system ['touch CANARY']",
    "!!binary aGVsbG8=",
    "!custom x",
    "!!str 1",
    "!<tag:yaml.org,2002:int> 3",
    "%TAG ! tag:x,1:",
    "---",
    "...",
    "|\n  text",
    ">-\n  text",
    "'a''b'",
    '"\\u202e"',
    '"\\0"',
    '"\\x85"',
    '"\\ud800"',
    # names and references
    "$units",
    "$",
    "$1",
    "$__class__",
    "self",
    "x",
    "input",
    "print",
    "__import__",
    "class",
    "match",
    "_",
    "a" * 65,
    "n\u0430me",
    "a\u202eb",
    "a;b",
    "a'b",
    'a"b',
    "a\\nb",
    "\"__import__('os').system('touch CANARY')\"",
    "'); import os; #",
    '"""',
    "'''",
    # keys that exist somewhere in the format
    "type",
    "name",
    "inputs",
    "repeat",
    "share",
    "block",
    "args",
    "params",
    "blocks",
    "layers",
    "activation",
    "units",
    "filters",
    "kernel",
    "stride",
    "padding",
    "dilation",
    "groups",
    "rate",
    "train",
    "optimizer",
    "schedule",
    "doc",
    "netspec",
    "shape",
    "same",
    "valid",
    "relu",
    "block",
]

UNICODE = [
    "\x00",
    "\x07",
    "\t",
    "\r",
    "\x1b",
    "\x7f",
    "\x85",
    "\xa0",
    "\u00e9",
    "\u0430",
    "\u0301",
    "\u200b",
    "\u200e",
    "\u202e",
    "\u2066",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ufffd",
    "\uffff",
    "\U0001f600",
    "\U0010ffff",
    "\ud800",
    "\udfff",
    "\n",
    " ",
    ":",
    "-",
    "#",
    "&",
    "*",
    "!",
    "|",
    ">",
    "'",
    '"',
    "%",
    "@",
    "`",
    "[",
    "]",
    "{",
    "}",
    ",",
    "?",
    "\\",
]


class Timeout(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Timeout


def blank(message: str) -> str:
    """A message with its particulars (numbers, quoted text) blanked: its template."""
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message)
    return re.sub(r"\d[\d,_.]*", "N", message)


def check(raw: bytes, timeout: float | None, slow: float, recheck: bool) -> tuple[str, str | None]:
    """Run one input; returns (outcome signature, failure description or None). With a
    `timeout`, SIGALRM interrupts a hang (the caller installs the handler)."""
    if timeout:
        signal.setitimer(signal.ITIMER_REAL, timeout)
    start = time.process_time()
    try:
        try:
            network = analyse(load_bytes(raw, "fuzz.yaml"))
        finally:
            if timeout:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except SpecError as exc:
        elapsed = time.process_time() - start
        failure = _check_problems(exc, raw)
        if failure is None and recheck:
            failure = _check_again(raw, exc)
        if failure is None and elapsed > slow:
            failure = f"slow: {elapsed:.1f} s of CPU time"
        templates = sorted({blank(p.message) for p in exc.problems})
        return "error:" + "|".join(templates), failure
    except Timeout:
        return "timeout", f"hang: no answer within {timeout} s"
    except RecursionError:
        return "crash", "crash: RecursionError\n" + _where()
    except Exception as exc:  # noqa: BLE001 - that is what a fuzzer is for
        return "crash", f"crash: {type(exc).__name__}: {exc}"[:500] + "\n" + _where()
    elapsed = time.process_time() - start
    if elapsed > slow:
        return "valid", f"slow: {elapsed:.1f} s of CPU time (valid spec)"
    return f"valid:{len(network.nodes)}", None


def _where() -> str:
    frames = traceback.extract_tb(sys.exc_info()[2])
    ours = [f for f in frames if "netspec" in f.filename] or frames
    return "".join(traceback.format_list(ours[-3:]))


def _check_problems(exc: Any, raw: bytes) -> str | None:
    lines = len(LINE_BREAK.findall(raw.decode("utf-8", "replace"))) + 1
    if not 1 <= len(exc.problems) <= MAX_PROBLEMS + 1:
        return f"bad problem count: {len(exc.problems)}"
    for problem in exc.problems:
        text = str(problem)
        if UNSAFE_OUTPUT.search(text):
            return f"unsafe character in output: {text!r}"
        if problem.line < 1 or problem.col < 1 or problem.line > lines + 1:
            return f"bad location {problem.line}:{problem.col} (file has {lines} lines): {text!r}"
        if not text.startswith("fuzz.yaml:"):
            return f"problem not labelled with the file: {text!r}"
    return None


def _check_again(raw: bytes, first: Any) -> str | None:
    try:
        analyse(load_bytes(raw, "fuzz.yaml"))
    except SpecError as again:
        if again.problems != first.problems:
            return "nondeterministic problems"
        return None
    return "nondeterministic: valid on the second load"


# ----------------------------------------------------------------------------- mutations


def _lines(text: str) -> list[str]:
    return text.split("\n")


def m_delete_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def m_duplicate_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines[i:i] = [lines[i]] * rng.choice([1, 1, 2, 50])
    return "\n".join(lines)


def m_swap_lines(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def m_swap_chars(rng: random.Random, text: str) -> str:
    if len(text) < 2:
        return text
    i = rng.randrange(len(text) - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def m_delete_chars(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text) + 1)
    return text[:i] + text[i + rng.randint(1, 8) :]


def m_insert_unicode(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text) + 1)
    char = rng.choice(UNICODE) if rng.random() < 0.7 else chr(rng.randrange(0x110000))
    return text[:i] + char * rng.choice([1, 1, 3]) + text[i:]


def m_replace_scalar(rng: random.Random, text: str) -> str:
    spots = list(re.finditer(r"(?<=[:\[,{] )[^,\]\}\n#]+|(?<=- )[^\n#]+", text))
    if not spots:
        return text
    spot = rng.choice(spots)
    return text[: spot.start()] + rng.choice(TOKENS) + text[spot.end() :]


def m_insert_token(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text) + 1)
    return text[:i] + rng.choice(TOKENS) + rng.choice(["", " ", ": ", ", ", "\n"]) + text[i:]


def m_insert_key(rng: random.Random, text: str) -> str:
    spots = [m.end() for m in re.finditer(r"\{", text)]
    if not spots:
        return text
    i = rng.choice(spots)
    return text[:i] + f"{rng.choice(TOKENS)}: {rng.choice(TOKENS)}, " + text[i:]


def m_indent(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines[i] = (" " * rng.choice([1, 2, 4]) + lines[i]) if rng.random() < 0.5 else lines[i].lstrip()
    return "\n".join(lines)


def m_nest(rng: random.Random, text: str) -> str:
    depth = rng.choice([5, 60, 63, 64, 65, 200, 3000])
    i = rng.randrange(len(text) + 1)
    inner = rng.choice(
        ["[" * depth + "]" * depth, "{a: " * depth + "1" + "}" * depth, "- " * depth + "x"]
    )
    return text[:i] + inner + text[i:]


def m_repeat_all(rng: random.Random, text: str) -> str:
    def repeat(match: re.Match[str]) -> str:
        return "{repeat: 1000, type:" if rng.random() < 0.5 else match[0]

    return re.sub(r"\{type:", repeat, text)


def m_splice(rng: random.Random, text: str, corpus: list[bytes]) -> str:
    other = rng.choice(corpus).decode("utf-8", "replace")
    a, b = _lines(text), _lines(other)
    i, j = rng.randrange(len(a) + 1), rng.randrange(len(b) + 1)
    return "\n".join(a[:i] + b[j : j + rng.randint(1, 10)] + a[i:])


TEXT_MUTATORS: list[Callable[[random.Random, str], str]] = [
    m_delete_line,
    m_duplicate_line,
    m_swap_lines,
    m_swap_chars,
    m_delete_chars,
    m_insert_unicode,
    m_replace_scalar,
    m_replace_scalar,
    m_replace_scalar,
    m_insert_token,
    m_insert_key,
    m_indent,
    m_nest,
    m_repeat_all,
]


def mutate(rng: random.Random, raw: bytes, corpus: list[bytes]) -> bytes:
    roll = rng.random()
    if roll < 0.03:
        return os.urandom(rng.randrange(0, 400))
    if roll < 0.10:  # byte level
        data = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    text = raw.decode("utf-8", "surrogateescape")
    for _ in range(rng.choice([1, 1, 2, 3, 5])):
        if rng.random() < 0.1:
            text = m_splice(rng, text, corpus)
        else:
            text = rng.choice(TEXT_MUTATORS)(rng, text)
    return text.encode("utf-8", "surrogatepass")


# ----------------------------------------------------------------------------- campaign


def campaign(
    seed: int, seconds: float, args: argparse.Namespace, out: Path
) -> tuple[int, dict[str, str]]:
    """Fuzz for `seconds`; returns executions and findings (description by file name)."""
    import_netspec()
    signal.signal(signal.SIGALRM, _alarm)
    rng = random.Random(seed)
    corpus = [p.read_bytes() for p in SEEDS + HOSTILE if p.stat().st_size <= 64_000]
    seen: set[str] = set()
    findings: dict[str, str] = {}
    executions = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        raw = mutate(rng, rng.choice(corpus), corpus)
        signature, failure = check(raw, args.timeout, args.slow, recheck=rng.random() < 0.05)
        executions += 1
        if signature not in seen and len(corpus) < 5000 and len(raw) <= 64_000:
            seen.add(signature)
            corpus.append(raw)
        if failure is not None:
            key = blank(failure.splitlines()[0]) + failure.partition("\n")[2]
            name = hashlib.sha256(key.encode()).hexdigest()[:12]
            if name not in findings:
                findings[name] = failure
                (out / f"{name}.yaml").write_bytes(raw)
                (out / f"{name}.txt").write_text(failure + "\n")
    return executions, findings


def _worker(job: tuple[int, float, argparse.Namespace, Path]) -> tuple[int, dict[str, str]]:
    return campaign(*job)


def run_atheris(args: argparse.Namespace, out: Path) -> int:
    import atheris  # type: ignore[import-not-found]

    def one_input(data: bytes) -> None:
        signature, failure = check(data, None, float("inf"), recheck=False)  # libFuzzer times out
        if failure is not None:
            raise AssertionError(failure)

    with atheris.instrument_imports(include=["netspec", "yaml"]):
        import_netspec()
    seeds = out / "seeds"
    seeds.mkdir(exist_ok=True)
    for path in SEEDS + HOSTILE:
        (seeds / path.name).write_bytes(path.read_bytes())
    argv = [
        sys.argv[0],
        f"-max_total_time={int(args.seconds)}",
        f"-artifact_prefix={out}/",
        f"-timeout={int(args.timeout)}",
        "-max_len=65536",
        "-print_final_stats=1",
        str(seeds),
    ]
    atheris.Setup(argv, one_input)
    atheris.Fuzz()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="campaign length (default 60)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--jobs", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--engine", choices=["random", "atheris"], default="random")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds before a hang (default 10; 60 with atheris, whose "
        "instrumented Python runs some 10 times slower)",
    )
    parser.add_argument(
        "--slow",
        type=float,
        default=3.0,
        help="CPU seconds before an input is reported as slow (default 3, SECURITY.md's bound)",
    )
    parser.add_argument("--out", type=Path, default=None, help="findings folder")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="netspec-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    if args.timeout is None:
        args.timeout = 60.0 if args.engine == "atheris" else 10.0
    if args.engine == "atheris":
        return run_atheris(args, out)

    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    start = time.monotonic()
    jobs = [(seed + i, args.seconds, args, out) for i in range(args.jobs)]
    if args.jobs == 1:
        results = [_worker(jobs[0])]
    else:
        with multiprocessing.Pool(args.jobs) as pool:
            results = pool.map(_worker, jobs)
    elapsed = time.monotonic() - start
    executions = sum(r[0] for r in results)
    findings: dict[str, str] = {}
    for _, found in results:
        findings.update(found)
    for name, failure in sorted(findings.items()):
        print(f"--- {out / name}.yaml\n{failure}")
    print(
        f"seed {seed}: {executions:,} executions in {elapsed:.0f} s "
        f"({executions / elapsed:,.0f}/s, {args.jobs} job(s)), {len(findings)} finding(s) in {out}"
    )
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
