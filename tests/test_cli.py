"""The `netspec` command line: exit codes, output formats, help, and what it must not import.

Exit codes are the contract with CI: 0 every spec is valid, 1 some spec is invalid (problems on
stderr, one per line), 2 a usage error (a missing path, a bad option).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest

from netspec import __version__ as netspec_version
from netspec.cli import github_escape, main
from netspec.errors import Stage

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
VALID = "netspec: 1\nname: Net\ninput: {shape: [4]}\nlayers:\n  - {type: dense, units: 2}\n"
INVALID = (
    "netspec: 1\nname: Net\ninput: {shape: [4]}\nlayers:\n  - {type: dense, unit: 2, bias: maybe}\n"
)


def netspec(
    *args: str, cwd: Path = ROOT, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m netspec ARGS` as a user would (`input`: standard input)."""
    return subprocess.run(
        [sys.executable, "-m", "netspec", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )


# ----------------------------------------------------------------------------- validate


def test_valid_specs_exit_0() -> None:
    result = netspec("validate", "specs")
    shipped = len(list((ROOT / "specs").glob("*.yaml")))
    summary = f"{shipped} of {shipped} spec(s) valid\n"
    assert (result.returncode, result.stdout, result.stderr) == (0, "", summary)


def test_an_invalid_spec_exits_1_with_one_located_line_per_problem(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(INVALID)
    (tmp_path / "good.yaml").write_text(VALID)
    result = netspec("validate", str(tmp_path / "bad.yaml"), str(tmp_path / "good.yaml"))
    bad = tmp_path / "bad.yaml"
    assert result.returncode == 1
    assert result.stderr == (
        f"{bad}:5:19: layers[0].unit: unknown key 'unit'; did you mean 'units'? "
        "(valid keys: activation, bias, inputs, name, repeat, share, units)\n"
        f"{bad}:5:34: layers[0].bias: expected true or false, got str 'maybe'\n"
        "1 of 2 spec(s) valid\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate", "no/such.yaml"], "netspec: error: no such file or folder: no/such.yaml\n"),
        (["validate"], "the following arguments are required: SPEC_OR_FOLDER"),
        (["validate", "--format", "yaml", "specs"], "invalid choice: 'yaml'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = netspec(*args)
    assert result.returncode == 2
    assert message in result.stderr


def test_a_folder_without_specs_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a spec")
    result = netspec("validate", str(tmp_path))
    assert (result.returncode, result.stderr) == (2, "netspec: error: no spec files found\n")


def test_folders_expand_to_their_yaml_files_recursively_in_sorted_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "b.yaml").write_text(INVALID)
    (tmp_path / "nested" / "deeper").mkdir(parents=True)
    (tmp_path / "nested" / "deeper" / "a.yml").write_text(INVALID)
    (tmp_path / "nested" / "c.yaml").write_text(VALID)
    (tmp_path / "README.md").write_text("# not a spec")
    assert main(["validate", str(tmp_path)]) == 1
    files = [line.split(":")[0] for line in capsys.readouterr().err.splitlines()[:-1]]
    assert files == [str(tmp_path / "b.yaml")] * 2 + [str(tmp_path / "nested/deeper/a.yml")] * 2
    assert main(["validate", "-q", str(tmp_path / "nested" / "c.yaml")]) == 0
    assert capsys.readouterr().err == ""


def test_github_format_prints_workflow_annotations(tmp_path: Path) -> None:
    spec = tmp_path / "v1,net:50%.yaml"
    spec.write_text(INVALID.replace("unit: 2", "'100%': 2"))
    result = netspec("validate", "--format", "github", "-q", str(spec))
    file = str(tmp_path).replace(":", "%3A").replace(",", "%2C") + "/v1%2Cnet%3A50%25.yaml"
    assert result.returncode == 1
    title = "title=netspec validate"
    assert result.stderr.splitlines() == [
        f"::error file={file},line=5,col=5,{title}::layers[0].units: missing required key",
        f"::error file={file},line=5,col=19,{title}::layers[0].100%25: unknown key '100%25' "
        "(valid keys: activation, bias, inputs, name, repeat, share, units)",
        f"::error file={file},line=5,col=36,{title}::layers[0].bias: expected true or false, "
        "got str 'maybe'",
    ]


@pytest.mark.parametrize(
    ("text", "message", "property_"),
    [
        ("50% done", "50%25 done", "50%25 done"),
        ("line 1\nline 2\r\n", "line 1%0Aline 2%0D%0A", "line 1%0Aline 2%0D%0A"),
        ("a:b,c", "a:b,c", "a%3Ab%2Cc"),
        ("%0A", "%250A", "%250A"),
    ],
)
def test_github_escaping_follows_the_actions_toolkit(
    text: str, message: str, property_: str
) -> None:
    assert github_escape(text) == message
    assert github_escape(text, property_=True) == property_


# ----------------------------------------------------------------------------- summary


def test_summary_says_channels_first_of_images_only() -> None:
    result = netspec("summary", "specs/text_bilstm.yaml")
    assert result.stdout.splitlines()[1] == "Input shape: (64,) (per sample)"


def test_summary_prints_the_totals_and_states_the_macs_convention() -> None:
    result = netspec("summary", "specs/vgg16_bn.yaml")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "VGG16BN (specs/vgg16_bn.yaml)",
        "Input shape: (3, 224, 224) (per sample, channels first)",
    ]
    assert "Total params:          138,365,992" in lines  # torchinfo's: parameters only
    assert "Trainable params:      138,365,992" in lines
    assert "Non-trainable params:  0" in lines
    assert (
        "Buffers:               8,448 (BatchNorm running statistics; Keras counts them as "
        "non-trainable params)" in lines
    )
    assert (
        "MACs per sample:       15,470,264,320 (15.47 GMACs = 30.94 GFLOPs; FLOPs = 2 x MACs)"
        in lines
    )


def test_summary_lists_block_uses_with_their_layers_indented() -> None:
    lines = netspec("summary", "specs/resnet18.yaml").stdout.splitlines()
    rows = [line.split()[0:3] for line in lines if line.startswith(("layer4_1", "  conv1"))]
    assert rows[-2:] == [["layer4_1", "block", "basic"], ["conv1", "conv2d", "(512,"]]


def test_summary_of_an_invalid_spec_exits_1(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(INVALID)
    result = netspec("summary", str(tmp_path / "bad.yaml"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 2


# ----------------------------------------------------------------------------- help, schema


@pytest.mark.parametrize("command", ["validate", "summary", "schema", "build", "graph"])
def test_every_command_has_help_with_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: netspec {command}")
    assert f"examples:\n  netspec {command}" in out


def test_top_level_help_and_version() -> None:
    help_ = netspec("--help")
    assert help_.returncode == 0
    for command in ["validate", "summary", "schema", "build", "graph"]:
        assert command in help_.stdout
    version = netspec("--version")
    assert (version.returncode, version.stdout) == (0, "netspec 0.1.0\n")


def test_schema_prints_json() -> None:
    result = netspec("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout)["$schema"] == "http://json-schema.org/draft-07/schema#"


# ----------------------------------------------------------------------------- imports


def test_validate_and_summary_import_no_deep_learning_framework() -> None:
    """Validating a spec in CI must not pay for (or need) torch or TensorFlow."""
    code = (
        "import sys\n"
        "from netspec.cli import main\n"
        "assert main(['validate', '-q', 'specs']) == 0\n"
        "assert main(['summary', 'specs/resnet18.yaml']) == 0\n"
        "heavy = {'torch', 'tensorflow', 'keras', 'jax', 'numpy'}\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] in heavy), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (0, "[]\n")


def test_validate_imports_no_code_generation() -> None:
    """`netspec validate` runs on every commit (the pre-commit hook): it pays for validation
    only, not for the emitters, their Jinja templates or the weight converters."""
    code = (
        "import runpy, sys\n"
        "sys.argv = ['netspec', 'validate', '-q', 'specs']\n"
        "try:\n"
        "    runpy.run_module('netspec', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "unused = ('jinja2', 'markupsafe', 'netspec.emit', 'netspec.builder', 'netspec.weights')\n"
        "print(sorted(m for m in sys.modules if m.startswith(unused)), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (0, "[]\n")


# ----------------------------------------------------------------------------- exit codes, stdin


@pytest.mark.parametrize("command", ["summary", "graph", "build"])
def test_a_missing_spec_file_is_a_usage_error_for_every_command(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ["--backend", "torch", "-o", str(tmp_path / "out")] if command == "build" else []
    missing = str(tmp_path / "missing.yaml")
    assert main([command, missing, *extra]) == 2
    assert capsys.readouterr().err == f"netspec: error: {missing}: no such file; give a spec file\n"
    assert main(["validate", missing]) == 2
    assert main([command, str(tmp_path), *extra]) == 2  # a folder
    assert not (tmp_path / "out").exists()


def test_a_spec_from_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(INVALID))
    assert main(["validate", "-q", "-"]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO(VALID))
    assert main(["validate", "-q", "-"]) == 0
    result = netspec("summary", "-", input=Path("specs/lenet5.yaml").read_text())
    assert result.returncode == 0 and "Total params:" in result.stdout


def test_a_folder_walk_leaves_out_hidden_folders_virtualenvs_and_exclusions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for folder in (".git", ".venv/lib", "env", "ci", "specs"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    for folder in (".git", ".venv/lib", "env", "ci"):
        (tmp_path / folder / "workflow.yaml").write_text("on: push\n")
    (tmp_path / "specs" / "net.yaml").write_text(VALID)
    assert main(["validate", str(tmp_path), "--exclude", "ci/*"]) == 0
    assert capsys.readouterr().err == "1 of 1 spec(s) valid\n"
    assert main(["validate", str(tmp_path)]) == 1  # ci/workflow.yaml is not a spec


def test_only_specs_leaves_out_yaml_that_is_not_a_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the pre-commit hook runs on a commit's YAML files (.pre-commit-hooks.yaml)."""
    workflow, spec = tmp_path / "ci.yaml", tmp_path / "net.yaml"
    workflow.write_text("on: push\njobs: {}\n")
    spec.write_text(INVALID)
    assert main(["validate", "--only-specs", str(workflow)]) == 0  # nothing to check
    assert main(["validate", "--only-specs", "--format", "json", str(workflow)]) == 0
    assert json.loads(capsys.readouterr().out) == {"files": 0, "valid": 0, "problems": []}
    assert main(["validate", "--only-specs", str(workflow), str(spec)]) == 1
    assert "ci.yaml" not in capsys.readouterr().err
    spec.write_text(VALID)
    assert main(["validate", "--only-specs", str(workflow), str(spec)]) == 0
    hook = (Path(__file__).parent.parent / ".pre-commit-hooks.yaml").read_text()
    assert "entry: netspec validate --only-specs" in hook


def test_json_format_is_one_document_on_stdout(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(INVALID)
    (tmp_path / "good.yaml").write_text(VALID)
    result = netspec("validate", "--format", "json", str(tmp_path))
    assert result.returncode == 1 and result.stderr == ""
    document = json.loads(result.stdout)
    assert document["files"] == 2 and document["valid"] == 1
    assert document["problems"][0] == {
        "file": str(tmp_path / "bad.yaml"),
        "line": 5,
        "column": 19,
        "message": "layers[0].unit: unknown key 'unit'; did you mean 'units'? "
        "(valid keys: activation, bias, inputs, name, repeat, share, units)",
    }


# ----------------------------------------------------------------------------- SARIF

SARIF_SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
"""The OASIS schema of SARIF 2.1.0 (tests/data/README.md says where it comes from)."""
BROKEN = {
    "yaml.yaml": VALID.replace("name: Net", "name: !!str Net"),  # a YAML tag
    "spec.yaml": INVALID,  # a misspelt key
    "network.yaml": VALID.replace("units: 2", "units: 2, inputs: [nowhere]"),
    "valid.yaml": VALID,
}


def sarif(*args: str, cwd: Path) -> tuple[int, dict[str, Any]]:
    """The exit status and the SARIF log of `netspec validate --format sarif ARGS`."""
    result = netspec("validate", "--format", "sarif", *args, cwd=cwd)
    assert result.stderr == ""
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    return result.returncode, log


def test_sarif_format_is_a_sarif_log_with_the_text_formats_problems(tmp_path: Path) -> None:
    for name, text in BROKEN.items():
        (tmp_path / name).write_text(text)
    status, log = sarif(*BROKEN, cwd=tmp_path)
    text = netspec("validate", "-q", *BROKEN, cwd=tmp_path)
    assert status == text.returncode == 1
    assert log["$schema"] == SARIF_SCHEMA["id"] and log["version"] == "2.1.0"
    (run,) = log["runs"]
    assert run["columnKind"] == "unicodeCodePoints"  # columns as the text format counts them
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("netspec", netspec_version)
    rules = [rule["id"] for rule in driver["rules"]]
    assert rules == ["yaml", "spec", "network"]  # stable: code scanning tracks alerts by rule
    assert rules == list(get_args(Stage))  # one rule per stage that refuses specs
    lines = []
    for result in run["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] == "error"
        (location,) = result["locations"]
        where = location["physicalLocation"]
        file = where["artifactLocation"]["uri"]
        line, col = where["region"]["startLine"], where["region"]["startColumn"]
        lines.append(f"{file}:{line}:{col}: {result['message']['text']}")
        assert file == f"{result['ruleId']}.yaml"  # each file breaks the rule it is named after
    assert lines == text.stderr.splitlines()
    assert {result["ruleId"] for result in run["results"]} == set(rules)


def test_sarif_format_of_valid_specs_has_no_results_and_exits_0(tmp_path: Path) -> None:
    status, log = sarif("specs", cwd=ROOT)
    assert status == 0
    assert log["runs"][0]["results"] == []
    (tmp_path / "ci.yaml").write_text("on: push\n")
    status, log = sarif("--only-specs", "ci.yaml", cwd=tmp_path)  # no spec: still a log
    assert status == 0
    assert log["runs"][0]["results"] == []


def test_sarif_format_exits_as_the_text_format_on_a_usage_error(tmp_path: Path) -> None:
    for format_ in ("text", "sarif"):
        result = netspec("validate", "--format", format_, str(tmp_path / "missing.yaml"))
        assert (result.returncode, result.stdout) == (2, "")


def test_sarif_locations_are_uri_references(tmp_path: Path) -> None:
    """Relative as given (code scanning resolves them from the checkout), percent-encoded:
    a file name is not a URI."""
    (tmp_path / "a dir").mkdir()
    (tmp_path / "a dir" / "50%#é:1.yaml").write_text(INVALID)
    _, log = sarif("a dir/50%#é:1.yaml", str(tmp_path / "a dir"), cwd=tmp_path)
    uris = [
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for result in log["runs"][0]["results"]
    ]
    absolute = (tmp_path / "a dir").as_uri() + "/50%25%23%C3%A9%3A1.yaml"
    assert uris == ["a%20dir/50%25%23%C3%A9%3A1.yaml"] * 2 + [absolute] * 2


def test_summary_memory_depth_and_json() -> None:
    """LeNet-5 for a batch of 100: inputs 100 x 1x32x32 fp32 = 0.41 MB; parameters 61,706 x 4 B
    = 0.25 MB; training adds gradients and SGD's momentum, twice the parameters again."""
    text = netspec("summary", "specs/lenet5.yaml", "--batch", "100").stdout
    assert "Input size (MB):                  0.41" in text
    assert "Params size (MB):                 0.25" in text
    document = json.loads(netspec("summary", "specs/lenet5.yaml", "--format", "json").stdout)
    assert document["params"] == document["trainable_params"] == 61_706
    assert document["buffers"] == 0 and document["batch"] == 1
    assert [row["name"] for row in document["layers"]][:2] == ["c1", "s2"]
    assert abs(document["training_mb"] - document["total_mb"] - 2 * 4 * 61_706 / 1e6) < 1e-9
    shallow = netspec("summary", "specs/resnet18.yaml", "--depth", "0").stdout
    assert "layer4_1  block basic" in shallow and "  conv1" not in shallow
