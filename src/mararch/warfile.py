"""Workflow archives (.war) as `verify` sees them, from the one reader view.

What TorchServe 0.12's `WorkflowArchive` requires of the manifest (a workflow entry with a name,
`archiverVersion`, `createdOn`; `specFile` and `handler` it opens without checking), then the spec
file's rules (`dag.check_spec`), then, given a model store, every model the dag uses: present
there and passing `verify` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dag import MAX_SPEC_SIZE, WorkflowSpec, check_spec, is_remote
from .errors import ArchiveError, Finding, Severity
from .plans import MANIFEST_NAME, WAR_MANIFEST_NAME, WAR_SUFFIX, model_name_problem
from .reader import ArchiveView, Container, parse_manifest

if TYPE_CHECKING:
    from .checks import ReadMember

#: Verifies a model archive of the model store, returning its findings: `checks.verify`, passed
#: in by checks (which imports this module to check workflow archives).
VerifyModel = Callable[[Path], list[Finding]]

#: Manifest keys TorchServe refuses a workflow without, with its own words.
REQUIRED_TOP = (
    ("archiverVersion", "Workflow archive version is not defined."),
    ("createdOn", "Workflow archive createdOn is not defined."),
)


def is_workflow(view: ArchiveView) -> bool:
    """A workflow archive: WAR-INF/MANIFEST.json, or a .war name, and no model manifest."""
    if view.get(MANIFEST_NAME) is not None:
        return False
    return view.get(WAR_MANIFEST_NAME) is not None or view.path.name.lower().endswith(WAR_SUFFIX)


def workflow_name_problem(name: str) -> str | None:
    """Why TorchServe refuses a workflow name (its model-name rule), or None when it takes it."""
    problem = model_name_problem(name)
    return None if problem is None else problem.replace("model name", "workflow name")


def _error(code: str, message: str, member: str | None = WAR_MANIFEST_NAME) -> Finding:
    return Finding(Severity.ERROR, code, message, member)


def read_manifest(read: ReadMember) -> tuple[dict[str, Any] | None, list[Finding]]:
    raw = read(WAR_MANIFEST_NAME, MAX_SPEC_SIZE)
    if raw is None:
        return None, [
            _error(
                "manifest-missing",
                f"no {WAR_MANIFEST_NAME} (or unreadable): TorchServe refuses the workflow "
                '("Workflow name is not defined.")',
                None,
            )
        ]
    try:
        return parse_manifest(raw, WAR_MANIFEST_NAME), []
    except ArchiveError as exc:
        return None, [_error(exc.code or "manifest-invalid", exc.message)]


def _text(value: object) -> bool:
    # Gson reads JSON strings, numbers and booleans into a String field; objects fail the parse.
    return isinstance(value, (str, int, float)) and str(value) != ""


def manifest_findings(manifest: dict[str, Any], names: set[str]) -> list[Finding]:
    """WorkflowArchive.validate's rules, and the two files WorkFlow opens."""
    out: list[Finding] = []
    workflow = manifest.get("workflow")
    if not isinstance(workflow, dict):
        out.append(
            _error(
                "manifest-field",
                "no 'workflow' object: TorchServe refuses the workflow "
                '("Missing Workflow entry in manifest file.")',
            )
        )
        workflow = {}
    name = workflow.get("workflowName")
    if not _text(name):
        out.append(
            Finding(
                Severity.WARNING,
                "manifest-field",
                "no workflow.workflowName: TorchServe refuses the workflow unless the "
                'registration names it (workflow_name=...; "Workflow name is not defined.")',
                WAR_MANIFEST_NAME,
            )
        )
    elif (problem := workflow_name_problem(str(name))) is not None:
        out.append(Finding(Severity.WARNING, "model-name", problem, WAR_MANIFEST_NAME))
    for key, words in REQUIRED_TOP:
        if not _text(manifest.get(key)):
            out.append(_error("manifest-field", f'no {key}: TorchServe refuses it ("{words}")'))
    for key, what in (("specFile", "the spec file"), ("handler", "the handler")):
        value = workflow.get(key)
        if not isinstance(value, str) or not value:
            out.append(
                _error(
                    "manifest-field",
                    f"no workflow.{key} (the name of {what}): TorchServe fails to load the "
                    "workflow",
                )
            )
        elif value not in names:
            out.append(
                _error(
                    "member-missing",
                    f"workflow.{key} names {value!r}, which the archive does not hold",
                    value,
                )
            )
    return out


def _container_findings(view: ArchiveView) -> list[Finding]:
    """TorchServe registers workflows from files, read as zip only when named *.war."""
    if view.container is Container.FOLDER:
        return [
            Finding(
                Severity.WARNING,
                "container-name",
                "a folder: TorchServe registers workflows from .war files only",
            )
        ]
    is_war = view.path.name.lower().endswith(WAR_SUFFIX)
    if view.container is Container.ZIP and not is_war:
        return [
            _error(
                "container-name",
                f"a zip named {view.path.name!r}: TorchServe reads only files named *.war as zip "
                "(anything else as tar.gz); rename it to end in .war",
                None,
            )
        ]
    if view.container is Container.TGZ and is_war:
        return [
            _error(
                "container-name",
                f"a tar.gz named {view.path.name!r}: TorchServe reads files named *.war as zip",
                None,
            )
        ]
    return []


def model_store_findings(
    spec: WorkflowSpec, model_store: Path | None, verify_model: VerifyModel
) -> list[Finding]:
    """Every model the dag uses: in the model store, and passing `verify_model`."""
    local = {node: url for node, url in spec.models.items() if not is_remote(url)}
    out = [
        Finding(
            Severity.INFO,
            "workflow-model-remote",
            f"model {node!r} is downloaded from {url!r} by TorchServe; not checked",
        )
        for node, url in spec.models.items()
        if node not in local
    ]
    if model_store is None:
        if local:
            out.append(
                Finding(
                    Severity.INFO,
                    "workflow-models-unchecked",
                    f"{len(local)} model archive(s) of the model store not checked "
                    f"({', '.join(sorted(set(local.values())))}); pass --model-store DIR",
                )
            )
        return out
    for node, url in local.items():
        # TorchServe keeps the url's last path component and looks it up in the model store.
        filename = url.replace("\\", "/").rsplit("/", 1)[-1]
        path = model_store / filename
        if not filename or not path.exists():
            out.append(
                _error(
                    "workflow-model-missing",
                    f"model {node!r}: {filename!r} is not in the model store {str(model_store)!r}",
                    None,
                )
            )
            continue
        for f in verify_model(path):
            if f.severity is Severity.INFO:
                continue
            where = f"{f.member}: " if f.member else ""
            out.append(
                Finding(
                    f.severity,
                    "workflow-model-invalid",
                    f"model {node!r} ({filename}): [{f.code}] {where}{f.message}",
                )
            )
    return out


def spec_findings(
    manifest: dict[str, Any], names: set[str], read: ReadMember
) -> tuple[list[Finding], WorkflowSpec | None]:
    """The spec file's findings (models, dag, function nodes) and what it declares; for an
    archive and for a build plan alike."""
    workflow = manifest.get("workflow")
    workflow = workflow if isinstance(workflow, dict) else {}
    spec_name, handler = workflow.get("specFile"), workflow.get("handler")
    if not isinstance(spec_name, str) or spec_name not in names:
        return [], None  # reported by manifest_findings
    data = read(spec_name, MAX_SPEC_SIZE)
    if data is None:
        return [_error("workflow-spec-invalid", "unreadable, or over 1 MiB", spec_name)], None
    handler = handler if isinstance(handler, str) and handler in names else None
    source = read(handler, MAX_SPEC_SIZE) if handler is not None else None
    return check_spec(data, spec_name, handler, source)


def workflow_findings(
    view: ArchiveView, read: ReadMember, model_store: Path | None, verify_model: VerifyModel
) -> list[Finding]:
    """Every workflow-specific finding for an open archive (container and integrity aside)."""
    out = _container_findings(view)
    manifest, problems = read_manifest(read)
    out += problems
    if manifest is None:
        return out
    names = {m.name for m in view.members if m.is_file}
    out += manifest_findings(manifest, names)
    found, spec = spec_findings(manifest, names, read)
    out += found
    if spec is not None:
        out += model_store_findings(spec, model_store, verify_model)
    return out


__all__ = [
    "is_workflow",
    "model_store_findings",
    "read_manifest",
    "spec_findings",
    "workflow_findings",
    "workflow_name_problem",
]
