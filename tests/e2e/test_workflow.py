"""TorchServe 0.12 registers and runs the workflow archives `mararch workflow` builds, and refuses
the broken DAGs `mararch verify` refuses."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest

from . import handlers
from .conftest import mararch
from .servers import REGISTER_TIMEOUT, Response, Server

#: A model that needs no weights: it maps the request's "input" values.
MODEL_HANDLER = (
    """\
import json


def handle(data, context):
    if data is None:
        return None
    return [{"input": [EXPRESSION for v in _rows(request)]} for request in data]
"""
    + handlers._REQUEST_INPUT
)

#: The workflow's handler: its function node `pre` starts the dag and passes the input on.
WORKFLOW_HANDLER = (
    """\
import json


def pre(data, context):
    if not data:
        return None
    return [{"input": _rows(request)} for request in data]
"""
    + handlers._REQUEST_INPUT
)

SPEC = """\
models:
  min-workers: 1
  max-workers: 1
  batch-size: 1
  max-batch-delay: 50
  retry-attempts: 1
  timeout-ms: 60000
  add_one:
    url: wf_add_one.mar
  times_ten:
    url: wf_times_ten.mar
dag:
{dag}
"""
GOOD_DAG = "  pre: [add_one]\n  add_one: [times_ten]\n"
#: Each broken dag, the finding `verify` reports for it, and TorchServe's own words.
BROKEN_DAGS = {
    "cycle": (
        "  pre: [add_one]\n  add_one: [times_ten]\n  times_ten: [add_one]\n",
        "dag-cycle",
        "Not a valid DAG",
    ),
    "two-starts": (
        "  pre: [times_ten]\n  add_one: [times_ten]\n",
        "dag-start",
        "DAG should have only one start node",
    ),
}


def build_models(tmp_path: Path, store: Path) -> None:
    """The workflow's two models, built by `mararch create` into the model store."""
    for name, expression in (("add_one", "v + 1"), ("times_ten", "v * 10")):
        handler = tmp_path / f"{name}_handler.py"
        handler.write_text(MODEL_HANDLER.replace("EXPRESSION", expression))
        result = mararch(
            "create",
            "--model-name",
            f"wf_{name}",
            "--version",
            "1.0",
            "--handler",
            handler,
            "--export-path",
            store,
            "--force",
        )
        assert result.returncode == 0, result.stdout + result.stderr


def build_workflow(tmp_path: Path, store: Path, name: str, dag: str, *flags: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "spec.yaml").write_text(SPEC.format(dag=dag))
    (folder / "wf_handler.py").write_text(WORKFLOW_HANDLER)
    result = mararch(
        "workflow",
        "--workflow-name",
        name,
        "--spec-file",
        folder / "spec.yaml",
        "--handler",
        folder / "wf_handler.py",
        "--export-path",
        store,
        *flags,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return store / f"{name}.war"


def register_workflow(server: Server, url: str) -> Response:
    query = urllib.parse.urlencode({"url": url})
    return server.request("POST", "management", f"/workflows?{query}", timeout=REGISTER_TIMEOUT)


def test_workflow_of_two_models_and_a_function_answers(torchserve: Server, tmp_path: Path) -> None:
    build_models(tmp_path, torchserve.model_store)
    war = build_workflow(tmp_path, torchserve.workflow_store, "wf_chain", GOOD_DAG)
    # What the server accepts, verify passes, models included.
    verified = mararch("verify", war, "--model-store", torchserve.model_store, "--strict")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    registered = register_workflow(torchserve, war.name)
    assert registered.status == 200, registered.text
    try:
        answer = torchserve.request(
            "POST", "inference", "/wfpredict/wf_chain", body=json.dumps({"input": [1, 2]}).encode()
        )
        assert answer.status == 200, answer.text
        # (v + 1) * 10: pre, then add_one, then times_ten, in the dag's order.
        assert answer.json() == {"input": [20, 30]}
    finally:
        removed = torchserve.request(
            "DELETE", "management", "/workflows/wf_chain", timeout=REGISTER_TIMEOUT
        )
        assert removed.status == 200, removed.text


@pytest.mark.parametrize("case", sorted(BROKEN_DAGS))
def test_broken_dag_is_refused_by_verify_and_by_torchserve(
    torchserve: Server, tmp_path: Path, case: str
) -> None:
    dag, code, refusal = BROKEN_DAGS[case]
    name = f"wf_{case.replace('-', '_')}"
    refused = mararch(
        "workflow",
        "--workflow-name",
        name,
        "--spec-file",
        write(tmp_path / "check", "spec.yaml", SPEC.format(dag=dag)),
        "--handler",
        write(tmp_path / "check", "wf_handler.py", WORKFLOW_HANDLER),
        "--export-path",
        tmp_path / "out",
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"[{code}]" in refused.stderr
    assert not (tmp_path / "out" / f"{name}.war").exists()

    # Written anyway, the archive fails verify, and TorchServe refuses it too.
    war = build_workflow(tmp_path, torchserve.workflow_store, name, dag, "--no-verify")
    verified = mararch("verify", war, "--json")
    assert verified.returncode == 1, verified.stdout + verified.stderr
    assert code in [f["code"] for f in json.loads(verified.stdout)["findings"]]

    registered = register_workflow(torchserve, war.name)
    assert registered.status == 400, registered.text
    assert registered.json() == {
        "code": 400,
        "type": "InvalidDAGException",
        "message": refusal,
    }


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name
