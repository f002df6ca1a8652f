"""What `inspect` shows of a workflow archive (.war): its manifest and what its spec declares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .checks import read_from_view
from .dag import MAX_SPEC_SIZE, WorkflowSpec, check_spec
from .reader import ArchiveView
from .summary import InspectSummary, listing, listing_json, unsafe_problems
from .timetoserve import slow_inflate_findings
from .warfile import read_manifest


@dataclass(frozen=True)
class WorkflowSummary(InspectSummary):
    """What a workflow archive holds and declares."""

    spec: WorkflowSpec | None

    def workflow_field(self, key: str) -> str | None:
        workflow = (self.manifest or {}).get("workflow")
        value = workflow.get(key) if isinstance(workflow, dict) else None
        return None if value is None else str(value)


def summarize_workflow(view: ArchiveView) -> WorkflowSummary:
    """The inspect facts of a workflow archive: its manifest and what its spec declares."""
    read = read_from_view(view)
    manifest, found = read_manifest(read)
    problems = [f.message for f in found]
    spec = None
    spec_name = None
    if manifest is not None:
        workflow = manifest.get("workflow")
        spec_name = workflow.get("specFile") if isinstance(workflow, dict) else None
    if isinstance(spec_name, str) and spec_name:
        data = read(spec_name, MAX_SPEC_SIZE)
        if data is None:
            problems.append(f"the spec file {spec_name!r} is missing or unreadable")
        else:
            # Function nodes need no handler to be listed: only the declared graph is shown.
            spec = check_spec(data, spec_name, None, b"")[1]
    problems += unsafe_problems(view)
    from .signing.engine import describe_signature

    return WorkflowSummary(
        **listing(view),
        manifest=manifest,
        spec=spec,
        problems=tuple(problems),
        signature=describe_signature(view),
        warnings=tuple(slow_inflate_findings(view.members)),
    )


def workflow_summary_json(s: WorkflowSummary) -> dict[str, Any]:
    """The stable JSON form of a workflow summary (keys in docs/workflows.md)."""
    return {
        "path": s.path,
        "kind": "workflow",
        "container": s.container.value,
        "workflow_name": s.workflow_field("workflowName"),
        "spec_file": s.workflow_field("specFile"),
        "handler": s.workflow_field("handler"),
        "created_on": s.manifest_field("createdOn"),
        "archiver_version": s.manifest_field("archiverVersion"),
        "models": dict(s.spec.models) if s.spec is not None else None,
        "functions": list(s.spec.functions) if s.spec is not None else None,
        "dag": dict(s.spec.edges) if s.spec is not None else None,
        **listing_json(s),
    }


__all__ = ["WorkflowSummary", "summarize_workflow", "workflow_summary_json"]
