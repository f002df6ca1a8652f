"""`mararch verify` on workflow archives: TorchServe 0.12's WorkflowArchive, WorkFlow and Dag
rules, one crafted .war per rule, and the models of a model store."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers_workflow import HANDLER, MANIFEST, SPEC, make_war, run
from mararch.dag import check_spec

GOOD_DAG = "dag:\n  pre: [first, second]\n  first: [post]\n  second: [post]\n"
MODELS = SPEC.split("dag:")[0]


def spec_with(dag: str = GOOD_DAG, models: str = MODELS) -> str:
    return models + dag


def verify_json(war: Path, *args: str | Path) -> tuple[int, dict[str, Any]]:
    result = run(war.parent, "verify", war, "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def codes(report: dict[str, Any], severity: str) -> list[str]:
    return [f["code"] for f in report["findings"] if f["severity"] == severity]


def test_good_workflow_passes(tmp_path: Path) -> None:
    code, report = verify_json(make_war(tmp_path / "wf.war"))
    assert code == 0, report
    assert report["server"] == "torchserve"
    assert codes(report, "error") == codes(report, "warning") == []
    assert "workflow-models-unchecked" in codes(report, "info")
    text = run(tmp_path, "verify", tmp_path / "wf.war")
    assert "PASSED: 0 error(s), 0 warning(s)" in text.stdout


#: Each spec TorchServe refuses (or fails on), and the error verify reports with its message.
SPEC_ERRORS = {
    "cycle": (
        spec_with("dag:\n  pre: [first]\n  first: [second]\n  second: [first, post]\n"),
        "dag-cycle",
        "the dag has a cycle through 'first', 'second', 'post'",
    ),
    "self-loop": (
        spec_with("dag:\n  pre: [first]\n  first: [first, second]\n  second: [post]\n"),
        "dag-cycle",
        "node 'first' points to itself (a self loop)",
    ),
    "two-starts": (
        spec_with("dag:\n  pre: [first]\n  second: [post]\n  first: [post]\n"),
        "dag-start",
        "the dag has 2 start nodes ('pre', 'second')",
    ),
    "no-start": (
        spec_with("dag:\n  pre: [first]\n  first: [pre]\n"),
        "dag-start",
        "the dag has 0 start nodes (none (every node has a predecessor))",
    ),
    "duplicate-edge": (
        spec_with("dag:\n  pre: [first, first]\n  first: [post]\n  second: []\n"),
        "dag-edge",
        "node 'pre' lists 'first' twice",
    ),
    "unknown-function": (
        spec_with(GOOD_DAG.replace("post", "aggregate")),
        "dag-function",
        "node 'aggregate' is neither a model of 'models' nor a function defined in the handler",
    ),
    "global-not-int": (
        spec_with(models=MODELS.replace("batch-size: 4", "batch-size: '4'")),
        "workflow-int",
        "models.batch-size is '4': TorchServe casts it to an int and fails",
    ),
    "global-null": (
        spec_with(models=MODELS.replace("batch-size: 4", "batch-size:")),
        "workflow-int",
        "models.batch-size is empty (null)",
    ),
    "override-float": (
        spec_with(models=MODELS.replace("batch-size: 2", "batch-size: 2.5")),
        "workflow-int",
        "models.second.batch-size is 2.5",
    ),
    "override-too-large": (
        spec_with(models=MODELS.replace("batch-size: 2", "batch-size: 3000000000")),
        "workflow-int",
        "models.second.batch-size is 3000000000: out of Java's int range",
    ),
    "no-url": (
        spec_with(models=MODELS.replace("url: first.mar", "min-workers: 1")),
        "workflow-model-url",
        "models.first has no url",
    ),
    "relative-url": (
        spec_with(models=MODELS.replace("url: first.mar", "url: ../first.mar")),
        "workflow-model-url",
        "contains '..': TorchServe refuses relative paths",
    ),
    "model-not-a-mapping": (
        spec_with(models=MODELS.replace("  first:\n    url: first.mar\n", "  first: first.mar\n")),
        "workflow-model",
        "models.first is a string",
    ),
    "no-models": (GOOD_DAG, "workflow-models", "'models' is missing"),
    "no-dag": (MODELS, "workflow-dag", "'dag' is missing"),
    "dag-node-a-string": (
        spec_with("dag:\n  pre: first\n"),
        "workflow-dag",
        "dag.pre is a string: TorchServe expects a list of node names",
    ),
    "dag-node-lists-a-number": (
        spec_with("dag:\n  pre: [first, 2]\n"),
        "workflow-dag",
        "dag.pre lists 2 (an integer): TorchServe expects a list of node names",
    ),
    "not-yaml": ("models: [\n", "workflow-spec-invalid", "not valid YAML"),
    "nul-byte": (SPEC + "\x00", "workflow-spec-invalid", "unacceptable character #x0000"),
    "a-list": ("- a\n- b\n", "workflow-spec-invalid", "holds a list, expected a mapping"),
}


@pytest.mark.parametrize("case", sorted(SPEC_ERRORS))
def test_spec_rules(case: str, tmp_path: Path) -> None:
    spec, code, message = SPEC_ERRORS[case]
    exit_code, report = verify_json(make_war(tmp_path / "wf.war", spec=spec))
    assert exit_code == 1
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert code in [f["code"] for f in errors], errors
    assert any(message in f["message"] for f in errors if f["code"] == code), errors


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        ("def pre(data, context):\n    return data\n", "node 'post' is neither a model"),
        ("def pre(data, context)\n", "syntax error at line 1"),
    ],
)
def test_function_nodes_come_from_the_handler(tmp_path: Path, handler: str, message: str) -> None:
    exit_code, report = verify_json(make_war(tmp_path / "wf.war", handler=handler))
    assert exit_code == 1
    assert any(message in f["message"] for f in report["findings"]), report


def test_handler_must_be_python_for_function_nodes(tmp_path: Path) -> None:
    manifest = {**MANIFEST, "workflow": {**MANIFEST["workflow"], "handler": "wf_handler"}}  # type: ignore[dict-item]
    war = make_war(tmp_path / "wf.war", manifest=manifest, extra={"wf_handler": HANDLER.encode()})
    exit_code, report = verify_json(war)
    assert exit_code == 1
    assert any("'wf_handler' must end in .py" in f["message"] for f in report["findings"])


def test_warnings_unused_model_and_unknown_key(tmp_path: Path) -> None:
    models = MODELS.replace("batch-size: 2", "batch_size: 2") + "  spare:\n    url: spare.mar\n"
    exit_code, report = verify_json(make_war(tmp_path / "wf.war", spec=spec_with(models=models)))
    assert exit_code == 0
    assert sorted(codes(report, "warning")) == ["workflow-model-unused", "workflow-unknown-key"]
    strict, _ = verify_json(tmp_path / "wf.war", "--strict")
    assert strict == 1


MANIFEST_ERRORS = {
    "no-workflow": ({k: v for k, v in MANIFEST.items() if k != "workflow"}, "Missing Workflow"),
    "no-archiver-version": (
        {k: v for k, v in MANIFEST.items() if k != "archiverVersion"},
        "Workflow archive version is not defined.",
    ),
    "no-created-on": (
        {k: v for k, v in MANIFEST.items() if k != "createdOn"},
        "Workflow archive createdOn is not defined.",
    ),
    "spec-not-in-archive": (
        {**MANIFEST, "workflow": {**MANIFEST["workflow"], "specFile": "gone.yaml"}},  # type: ignore[dict-item]
        "workflow.specFile names 'gone.yaml', which the archive does not hold",
    ),
    "no-manifest": (None, "no WAR-INF/MANIFEST.json"),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_ERRORS))
def test_manifest_rules(case: str, tmp_path: Path) -> None:
    manifest, message = MANIFEST_ERRORS[case]
    exit_code, report = verify_json(make_war(tmp_path / "wf.war", manifest=manifest))
    assert exit_code == 1
    assert any(message in f["message"] for f in report["findings"]), report


def test_no_workflow_name_is_a_warning(tmp_path: Path) -> None:
    """TorchServe takes the name from the registration's workflow_name when the manifest has
    none."""
    manifest = {**MANIFEST, "workflow": {"specFile": "workflow.yaml", "handler": "wf_handler.py"}}
    war = make_war(tmp_path / "wf.war", manifest=manifest)
    exit_code, report = verify_json(war)
    assert exit_code == 0
    assert codes(report, "warning") == ["manifest-field"]
    assert verify_json(war, "--strict")[0] == 1


def test_zip_not_named_war(tmp_path: Path) -> None:
    exit_code, report = verify_json(make_war(tmp_path / "wf.zip"))
    assert exit_code == 1
    assert "container-name" in codes(report, "error")


def test_mms_has_no_workflows(tmp_path: Path) -> None:
    exit_code, report = verify_json(make_war(tmp_path / "wf.war"), "--server", "mms")
    assert exit_code == 1
    assert "server-unsupported" in codes(report, "error")


# -- the model store ---------------------------------------------------------------------------


def build_model(store: Path, name: str, tmp_path: Path) -> None:
    handler = tmp_path / f"{name}_handler.py"
    handler.write_text("def handle(data, context):\n    return data\n")
    args = ["--model-name", name, "-v", "1.0", "--handler", handler, "--export-path", store]
    result = run(tmp_path, "create", *args)
    assert result.exit_code == 0, result.output


def test_model_store_models_exist_and_pass_verify(tmp_path: Path) -> None:
    store = tmp_path / "store"
    war = make_war(tmp_path / "wf.war")
    build_model(store, "first", tmp_path)
    exit_code, report = verify_json(war, "--model-store", store)
    assert exit_code == 1
    missing = [f for f in report["findings"] if f["code"] == "workflow-model-missing"]
    assert [f["message"] for f in missing] == [
        f"model 'second': 'second.mar' is not in the model store '{store}'"
    ]
    # A broken archive under the model's name fails the workflow too.
    with zipfile.ZipFile(store / "second.mar", "w") as zf:
        zf.writestr("x.py", "")
    exit_code, report = verify_json(war, "--model-store", store)
    assert exit_code == 1
    invalid = [f["message"] for f in report["findings"] if f["code"] == "workflow-model-invalid"]
    assert any(m.startswith("model 'second' (second.mar): [manifest-missing]") for m in invalid)
    (store / "second.mar").unlink()
    build_model(store, "second", tmp_path)
    exit_code, report = verify_json(war, "--model-store", store, "--strict")
    assert exit_code == 0, report


def test_remote_models_are_not_checked(tmp_path: Path) -> None:
    models = MODELS.replace("url: first.mar", "url: https://example.com/first.mar")
    war = make_war(tmp_path / "wf.war", spec=spec_with(models=models))
    (tmp_path / "store").mkdir()
    exit_code, report = verify_json(war, "--model-store", tmp_path / "store")
    assert "workflow-model-remote" in codes(report, "info")
    assert [f["message"] for f in report["findings"] if f["code"] == "workflow-model-missing"] == [
        f"model 'second': 'second.mar' is not in the model store '{tmp_path / 'store'}'"
    ]
    assert exit_code == 1


def test_model_store_must_be_a_folder(tmp_path: Path) -> None:
    result = run(tmp_path, "verify", make_war(tmp_path / "wf.war"), "--model-store", "nope")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


_yaml_ish = st.text(alphabet="models:dag-[]{},\n #&*!'\"0123456789abcxyz.\x00é", max_size=200)


@settings(max_examples=300, deadline=None)
@given(spec=st.one_of(_yaml_ish, st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_any_spec_gives_findings_never_a_traceback(spec: str) -> None:
    for text in (spec, SPEC + spec, spec + GOOD_DAG):
        findings, _ = check_spec(text.encode("utf-8"), "workflow.yaml", "h.py", HANDLER.encode())
        assert all(f.code for f in findings)


def test_model_store_on_a_model_archive_is_a_note(tmp_path: Path) -> None:
    build_model(tmp_path / "store", "first", tmp_path)
    exit_code, report = verify_json(tmp_path / "store" / "first.mar", "--model-store", tmp_path)
    assert exit_code == 0, report
    assert "model-store-unused" in codes(report, "info")
