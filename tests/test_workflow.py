"""`mararch workflow`: torch-workflow-archiver 0.2.15's archive, without its staging copy and
its tracebacks; `inspect`, `verify` and `extract` on .war archives."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import tree
from helpers_workflow import (
    MANIFEST,
    SPEC,
    WorkflowInputs,
    make_war,
    make_workflow,
    reference,
    run,
    war_members,
)

CREATED_ON = re.compile(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}")
VOLATILE = {"createdOn", "archiverVersion"}


@pytest.fixture
def inputs(tmp_path: Path) -> WorkflowInputs:
    return make_workflow(tmp_path / "src")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "work").mkdir()
    return tmp_path / "work"


def workflow_args(inputs: WorkflowInputs, name: str = "wf") -> list[str]:
    return [
        "--workflow-name",
        name,
        "--spec-file",
        str(inputs.spec),
        "--handler",
        str(inputs.handler),
    ]


# -- parity ------------------------------------------------------------------------------------

PARITY_CASES = {
    "spec-and-handler": [],
    "extra-files": ["--extra-files", "{root}/labels.json,{root}/notes.txt"],
    "relative-paths": ["--extra-files", "labels.json"],
}


@pytest.mark.parametrize("case", sorted(PARITY_CASES))
def test_same_archive_as_reference(case: str, inputs: WorkflowInputs, tmp_path: Path) -> None:
    args = ["--workflow-name", "wf"]
    if case == "relative-paths":
        args += ["--spec-file", "workflow.yaml", "--handler", "wf_handler.py"]
    else:
        args += ["--spec-file", str(inputs.spec), "--handler", str(inputs.handler)]
    args += [a.format(root=inputs.root) for a in PARITY_CASES[case]]
    (tmp_path / "ref").mkdir()
    staging = tmp_path / "staging"
    staging.mkdir()
    ref = reference([*args, "--export-path", str(tmp_path / "ref")], inputs.root, staging)
    assert ref.returncode == 0, ref.stderr
    ours = run(inputs.root, "workflow", *args, "--export-path", tmp_path / "ours")
    assert ours.exit_code == 0, ours.output

    ref_members, ref_methods = war_members(tmp_path / "ref" / "wf.war")
    our_members, our_methods = war_members(tmp_path / "ours" / "wf.war")
    ref_manifest = json.loads(ref_members.pop("WAR-INF/MANIFEST.json"))
    our_manifest = json.loads(our_members.pop("WAR-INF/MANIFEST.json"))
    assert our_members == ref_members
    assert our_methods == ref_methods
    assert list(our_manifest) == list(ref_manifest)
    assert {k: v for k, v in our_manifest.items() if k not in VOLATILE} == {
        k: v for k, v in ref_manifest.items() if k not in VOLATILE
    }
    assert CREATED_ON.fullmatch(our_manifest["createdOn"])
    # No false alarm on the reference's archive.
    verified = run(tmp_path, "verify", tmp_path / "ref" / "wf.war", "--strict")
    assert verified.exit_code == 0, verified.output
    # The reference stages a copy in $TMPDIR/wf and leaves it there; mararch stages nothing.
    assert sorted(p.name for p in staging.iterdir()) == ["wf"]
    assert sorted(p.name for p in (tmp_path / "ours").iterdir()) == ["wf.war"]


def test_reproducible_with_source_date_epoch(inputs: WorkflowInputs, work: Path) -> None:
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    outputs = []
    for out in ("a", "b"):
        result = run(work, "workflow", *workflow_args(inputs), "--export-path", out, env=env)
        assert result.exit_code == 0, result.output
        outputs.append((work / out / "wf.war").read_bytes())
        os.utime(inputs.spec, (1_800_000_000, 1_800_000_000))
    assert outputs[0] == outputs[1]
    manifest = json.loads(war_members(work / "a" / "wf.war")[0]["WAR-INF/MANIFEST.json"])
    assert manifest["createdOn"] == "14/11/2023 22:13:20"


# -- the reference's crashes, and ours ---------------------------------------------------------

CRASHES = {
    # case: (extra args, reference's exception, our message, our exit code)
    "no-handler": (
        ["--handler", None],
        "AttributeError",
        "missing option --handler",
        2,
    ),
    "folder-in-extra-files": (
        ["--extra-files", "{root}/assets"],
        "IsADirectoryError",
        "--extra-files '{root}/assets' is a folder: a workflow archive holds files only",
        1,
    ),
    "missing-spec": (
        ["--spec-file", "{root}/nope.yaml"],
        "FileNotFoundError",
        "--spec-file '{root}/nope.yaml' does not exist",
        1,
    ),
    "missing-extra-file": (
        ["--extra-files", "{root}/labels.json,{root}/gone.txt"],
        "FileNotFoundError",
        "--extra-files '{root}/gone.txt' does not exist",
        1,
    ),
    "spec-is-a-folder": (
        ["--spec-file", "{root}/assets"],
        "IsADirectoryError",
        "--spec-file '{root}/assets' is a folder",
        1,
    ),
}


def with_overrides(base: list[str], overrides: list[str | None]) -> list[str]:
    args = list(base)
    for flag, value in zip(overrides[::2], overrides[1::2]):
        assert flag is not None
        if flag in args:
            i = args.index(flag)
            del args[i : i + 2]
        if value is not None:
            args += [flag, value]
    return args


@pytest.mark.parametrize("case", sorted(CRASHES))
def test_reference_crashes_mararch_explains(
    case: str, inputs: WorkflowInputs, tmp_path: Path
) -> None:
    (inputs.root / "assets").mkdir()
    overrides, exception, message, code = CRASHES[case]
    fill = [o.format(root=inputs.root) if o else o for o in overrides]
    args = with_overrides(workflow_args(inputs), fill)
    staging = tmp_path / "staging"
    staging.mkdir()
    (tmp_path / "ref").mkdir()
    ref = reference([*args, "--export-path", str(tmp_path / "ref")], inputs.root, staging)
    assert ref.returncode == 1
    assert "Traceback" in ref.stderr
    assert exception in ref.stderr

    ours = run(inputs.root, "workflow", *args, "--export-path", tmp_path / "ours")
    assert ours.exit_code == code
    assert message.format(root=inputs.root) in ours.stderr
    assert "Traceback" not in ours.output
    assert not (tmp_path / "ours").exists()


def test_trailing_comma_in_extra_files(inputs: WorkflowInputs, tmp_path: Path) -> None:
    """The reference copies '' (FileNotFoundError); an empty item is nothing to add."""
    args = [*workflow_args(inputs), "--extra-files", f"{inputs.labels},"]
    (tmp_path / "ref").mkdir()
    ref = reference([*args, "--export-path", str(tmp_path / "ref")], inputs.root, tmp_path)
    assert ref.returncode == 1
    assert "FileNotFoundError" in ref.stderr
    ours = run(inputs.root, "workflow", *args, "--export-path", tmp_path / "ours")
    assert ours.exit_code == 0, ours.output
    assert "labels.json" in war_members(tmp_path / "ours" / "wf.war")[0]


def test_same_base_name_twice_is_refused_not_overwritten(
    inputs: WorkflowInputs, tmp_path: Path, work: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "labels.json").write_text("a different file\n")
    extras = f"{inputs.labels},{other / 'labels.json'}"
    result = run(work, "workflow", *workflow_args(inputs), "--extra-files", extras)
    assert result.exit_code == 1
    assert (
        f"two inputs would both be packaged as 'labels.json': '{inputs.labels}' and "
        f"'{other / 'labels.json'}'" in result.stderr
    )
    assert not list(work.iterdir())


def test_existing_archive_needs_force_and_stays_untouched(
    inputs: WorkflowInputs, work: Path
) -> None:
    (work / "wf.war").write_bytes(b"previous")
    refused = run(work, "workflow", *workflow_args(inputs))
    assert refused.exit_code == 1
    assert f"'{work / 'wf.war'}' already exists" in refused.stderr
    assert (work / "wf.war").read_bytes() == b"previous"
    forced = run(work, "workflow", *workflow_args(inputs), "-f")
    assert forced.exit_code == 0, forced.output
    assert zipfile.is_zipfile(work / "wf.war")
    assert sorted(p.name for p in work.iterdir()) == ["wf.war"]


def test_invalid_workflow_name(inputs: WorkflowInputs, work: Path) -> None:
    args = with_overrides(workflow_args(inputs), ["--workflow-name", "-x"])
    result = run(work, "workflow", *args)
    assert result.exit_code == 2
    assert "invalid workflow name '-x'" in result.stderr


def test_dag_errors_stop_the_build_unless_no_verify(tmp_path: Path, work: Path) -> None:
    inputs = make_workflow(tmp_path / "src", spec=SPEC.replace("second: [post]", "post: [pre]"))
    refused = run(work, "workflow", *workflow_args(inputs))
    assert refused.exit_code == 1
    assert "nothing was written" in refused.stderr
    assert "[dag-start]" in refused.stderr
    assert not list(work.iterdir())
    written = run(work, "workflow", *workflow_args(inputs), "--no-verify")
    assert written.exit_code == 0, written.output
    assert "(written anyway: --no-verify)" in written.stderr
    assert (work / "wf.war").is_file()


def test_dry_run_and_json(inputs: WorkflowInputs, work: Path) -> None:
    dry = run(work, "workflow", *workflow_args(inputs), "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert plan["dry_run"] is True
    assert [m["name"] for m in plan["members"]] == [
        "WAR-INF/MANIFEST.json",
        "wf_handler.py",
        "workflow.yaml",
    ]
    assert plan["manifest"]["workflow"] == MANIFEST["workflow"]
    assert not list(work.iterdir())
    shown = run(work, "workflow", *workflow_args(inputs), "--dry-run")
    assert "WAR-INF/MANIFEST.json:" in shown.stdout
    built = run(work, "workflow", *workflow_args(inputs), "--json")
    assert built.exit_code == 0, built.output
    report = json.loads(built.stdout)
    assert report["path"] == str(work / "wf.war")
    assert report["sha256"] is not None
    assert {m["method"] for m in report["members"]} == {"deflated"}


# -- build specs -------------------------------------------------------------------------------


def test_build_spec_workflow_tables(inputs: WorkflowInputs, tmp_path: Path) -> None:
    (inputs.root / "mararch.toml").write_text(
        '[workflow.first]\nspec-file = "workflow.yaml"\nhandler = "wf_handler.py"\n'
        'extra-files = ["labels.json"]\nexport-path = "store"\n\n'
        '[workflow.second]\nworkflow-name = "renamed"\nspec_file = "workflow.yaml"\n'
        'handler = "wf_handler.py"\nexport-path = "store"\n'
    )
    several = run(inputs.root, "workflow")
    assert several.exit_code == 2
    assert "declares 2 workflows (first, second): say which one to build" in several.stderr
    built = run(inputs.root, "workflow", "--all")
    assert built.exit_code == 0, built.output
    store = inputs.root / "store"
    assert sorted(p.name for p in store.iterdir()) == ["first.war", "renamed.war"]
    assert "labels.json" in war_members(store / "first.war")[0]
    # A flag overrides the table; `create` leaves workflow tables alone.
    again = run(inputs.root, "workflow", "first", "--export-path", tmp_path / "elsewhere")
    assert again.exit_code == 0, again.output
    assert (tmp_path / "elsewhere" / "first.war").is_file()
    create = run(inputs.root, "create")
    assert create.exit_code == 2
    assert "([workflow.NAME] tables are built by `mararch workflow`)" in create.stderr


def test_pyproject_with_archives_and_workflows(inputs: WorkflowInputs) -> None:
    (inputs.root / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.mararch.archive.m]\nmodel-name = "m"\n'
        'version = "1.0"\nhandler = "image_classifier"\nexport-path = "store"\n\n'
        '[tool.mararch.workflow.wf]\nspec-file = "workflow.yaml"\nhandler = "wf_handler.py"\n'
        'export-path = "store"\n'
    )
    model = run(inputs.root, "create")
    assert model.exit_code == 0, model.output
    workflow = run(inputs.root, "workflow")
    assert workflow.exit_code == 0, workflow.output
    assert sorted(p.name for p in (inputs.root / "store").iterdir()) == ["m.mar", "wf.war"]


def test_build_spec_problems_are_listed_together(inputs: WorkflowInputs) -> None:
    (inputs.root / "mararch.toml").write_text(
        '[workflow.wf]\nspec-fil = "workflow.yaml"\nforce = "yes"\n'
    )
    result = run(inputs.root, "workflow")
    assert result.exit_code == 2
    assert "unknown key 'spec-fil' (did you mean 'spec-file'?)" in result.stderr
    assert "'force' must be true or false" in result.stderr
    assert "missing required key 'handler'" in result.stderr


def test_build_spec_problems_name_their_own_workflow(inputs: WorkflowInputs) -> None:
    (inputs.root / "mararch.toml").write_text(
        '[workflow.good]\nspec-file = "workflow.yaml"\nhandler = "wf_handler.py"\n\n'
        '[workflow.nohandler]\nspec-file = "workflow.yaml"\nhandler = "missing.py"\n\n'
        '[workflow.nospec]\nspec-file = "missing.yaml"\nhandler = "wf_handler.py"\n'
    )
    result = run(inputs.root, "workflow", "--all")
    assert result.exit_code == 1
    missing = inputs.root / "missing"
    assert result.stderr == (
        "error: 2 problems:\n"
        f"  - workflow 'nohandler': --handler '{missing}.py' does not exist\n"
        f"  - workflow 'nospec': --spec-file '{missing}.yaml' does not exist\n"
        "  hint: Nothing was written.\n"
    )
    assert not (inputs.root / "good.war").exists()


def test_no_spec_and_no_name_is_a_usage_error(work: Path) -> None:
    result = run(work, "workflow")
    assert result.exit_code == 2
    assert "missing option --workflow-name" in result.stderr


# -- inspect / extract -------------------------------------------------------------------------


def test_inspect_war(tmp_path: Path, work: Path) -> None:
    war = make_war(tmp_path / "wf.war")
    shown = run(work, "inspect", war)
    assert shown.exit_code == 0, shown.output
    for line in ("workflow    wf", "model first    first.mar", "functions      pre, post"):
        assert re.sub(r"\s+", " ", line) in re.sub(r"\s+", " ", shown.stdout)
    as_json = json.loads(run(work, "inspect", war, "--json").stdout)
    assert as_json["kind"] == "workflow"
    assert as_json["models"] == {"first": "first.mar", "second": "second.mar"}
    assert as_json["functions"] == ["pre", "post"]
    assert as_json["dag"]["pre"] == ["first", "second"]
    assert as_json["problems"] == []


def test_inspect_war_without_manifest_fails(tmp_path: Path, work: Path) -> None:
    war = make_war(tmp_path / "wf.war", manifest=None)
    result = run(work, "inspect", war)
    assert result.exit_code == 1
    assert "no WAR-INF/MANIFEST.json" in result.stderr
    assert "rebuild it (mararch workflow)" in result.stderr


def test_extract_war_to_its_name(tmp_path: Path, work: Path) -> None:
    war = make_war(tmp_path / "wf.war")
    result = run(work, "extract", war)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (work / "wf").iterdir()) == [
        "WAR-INF",
        "wf_handler.py",
        "workflow.yaml",
    ]


# -- atomic output -----------------------------------------------------------------------------


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("exc", [KeyboardInterrupt, Interrupt])
def test_interrupted_build_keeps_previous_archive(
    exc: type[BaseException], inputs: WorkflowInputs, tmp_path: Path
) -> None:
    import mararch

    out = tmp_path / "out"
    args = {"workflow_name": "wf", "spec_file": inputs.spec, "handler": inputs.handler}
    first = mararch.create_workflow(**args, export_path=out)
    before = first.read_bytes()

    def interrupt(done: int, total: int) -> None:
        raise exc

    with pytest.raises(exc):
        mararch.create_workflow(
            **args, extra_files=[inputs.notes], export_path=out, force=True, progress=interrupt
        )
    assert sorted(p.name for p in out.iterdir()) == ["wf.war"]
    assert first.read_bytes() == before


# -- round trip --------------------------------------------------------------------------------

_names = st.text(alphabet="abcxyz019-_é.", min_size=1, max_size=10).filter(
    lambda n: n not in (".", "..") and n != "WAR-INF"
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=st.dictionaries(_names, st.binary(max_size=3000), min_size=2, max_size=5))
def test_round_trip_workflow_extract(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes]
) -> None:
    import mararch

    base = tmp_path_factory.mktemp("rt")
    src = base / "src"
    src.mkdir()
    for name, data in files.items():
        (src / name).write_bytes(data)
    spec, handler, *extra = sorted(files)
    made = mararch.create_workflow(
        workflow_name="rt",
        spec_file=src / spec,
        handler=src / handler,
        extra_files=[src / e for e in extra],
        export_path=base / "out",
        verify=False,
    )
    extracted = mararch.extract(made, base / "x").destination
    got = tree(extracted)
    manifest = json.loads(got.pop("WAR-INF/MANIFEST.json"))
    assert got == files
    assert manifest["workflow"] == {"workflowName": "rt", "specFile": spec, "handler": handler}
    # The extracted folder is read as the workflow it was.
    report = mararch.verify(extracted)
    assert "container-name" in report.codes()


def test_spec_without_workflow_tables(inputs: WorkflowInputs) -> None:
    (inputs.root / "mararch.toml").write_text(
        '[archive.m]\nmodel-name = "m"\nversion = "1.0"\nhandler = "image_classifier"\n'
    )
    result = run(inputs.root, "workflow")
    assert result.exit_code == 2
    assert "mararch.toml declares no [workflow.NAME] table" in result.stderr
    assert 'spec-file = "workflow.yaml"' in result.stderr
