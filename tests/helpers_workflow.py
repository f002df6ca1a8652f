"""Helpers of the workflow tests: inputs laid out as users keep them, the reference tool, crafted
.war archives, and the CLI run in-process with exceptions propagating."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from mararch.cli import app

SPEC = """\
models:
  min-workers: 1
  max-workers: 2
  batch-size: 4
  max-batch-delay: 100
  retry-attempts: 3
  timeout-ms: 30000
  first:
    url: first.mar
  second:
    url: second.mar
    batch-size: 2
dag:
  pre: [first, second]
  first: [post]
  second: [post]
"""
HANDLER = """\
import json


def pre(data, context):
    return data


async def post(data, context):
    return [json.dumps(data)]
"""


@dataclass(frozen=True)
class WorkflowInputs:
    root: Path
    spec: Path
    handler: Path
    labels: Path
    notes: Path


def make_workflow(root: Path, spec: str = SPEC, handler: str = HANDLER) -> WorkflowInputs:
    root.mkdir(parents=True, exist_ok=True)
    (root / "workflow.yaml").write_text(spec)
    (root / "wf_handler.py").write_text(handler)
    (root / "labels.json").write_text('{"0": "cat"}\n')
    (root / "notes.txt").write_bytes(os.urandom(3000))
    names = ("workflow.yaml", "wf_handler.py", "labels.json", "notes.txt")
    return WorkflowInputs(root, *(root / n for n in names))


def run(cwd: Path, *args: str | os.PathLike[str], env: dict[str, str] | None = None) -> Result:
    """`mararch ARGS` in-process in `cwd`; an exception escaping the CLI fails the test."""
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)
    finally:
        os.chdir(old)


def reference(args: list[str], cwd: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    """torch-workflow-archiver 0.2.15 (a test dependency), staging in a private TMPDIR."""
    candidate = Path(sys.executable).parent / "torch-workflow-archiver"
    tool = str(candidate) if candidate.exists() else shutil.which("torch-workflow-archiver")
    if tool is None:
        pytest.fail("torch-workflow-archiver is a test dependency (pip install -e '.[test]')")
    return subprocess.run(
        [tool, *args],
        cwd=cwd,
        env={**os.environ, "TMPDIR": str(tmp)},
        capture_output=True,
        text=True,
        check=False,
    )


def war_members(path: Path) -> tuple[dict[str, bytes], dict[str, int]]:
    """{name: bytes} and {name: zip method} of a .war."""
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        return (
            {i.filename: zf.read(i) for i in zf.infolist()},
            {i.filename: i.compress_type for i in zf.infolist()},
        )


MANIFEST = {
    "createdOn": "01/01/2026 00:00:00",
    "workflow": {"workflowName": "wf", "specFile": "workflow.yaml", "handler": "wf_handler.py"},
    "archiverVersion": "0.2.15",
}


def make_war(
    path: Path,
    spec: str = SPEC,
    handler: str = HANDLER,
    manifest: Mapping[str, object] | None = MANIFEST,
    extra: Mapping[str, bytes] | None = None,
) -> Path:
    """A .war as torch-workflow-archiver lays one out, with any part replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("workflow.yaml", spec)
        zf.writestr("wf_handler.py", handler)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
        if manifest is not None:
            zf.writestr("WAR-INF/MANIFEST.json", json.dumps(manifest, indent=2))
    return path
