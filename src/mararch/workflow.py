"""`workflow`: torch-workflow-archiver 0.2.15's job on mararch's engine (validate -> plan -> write).

A workflow archive (`NAME.war`) is a zip holding the workflow's spec file, its handler and any
extra files at the root under their base names, plus `WAR-INF/MANIFEST.json`. TorchServe
registers it with `POST /workflows?url=NAME.war`. The reference copies the inputs into
`/tmp/NAME` first and crashes on ordinary mistakes; here the inputs are read straight into an
atomic output, and every mistake is one clear error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import manifest as manifest_mod
from .builder import build
from .errors import ConflictError, InputError, MararchError, UsageError
from .output import check_destination
from .planning import ProblemCollector, entry_of
from .plans import (
    WAR_INF,
    WAR_MANIFEST_NAME,
    WAR_SUFFIX,
    ArchiveFormat,
    Compression,
    Entry,
    PathLike,
    Plan,
    source_date_epoch,
)
from .progress import OptionalProgress
from .sources import Source, file_source, split_extra_files
from .version import __version__
from .warfile import workflow_name_problem


def workflow_manifest(
    *, workflow_name: str, spec_file: str, handler: str, timestamp: int | None = None
) -> dict[str, Any]:
    """The manifest torch-workflow-archiver 0.2.15 writes, key for key and in its order."""
    return {
        "createdOn": manifest_mod.created_on(timestamp),
        "workflow": {"workflowName": workflow_name, "specFile": spec_file, "handler": handler},
        "archiverVersion": __version__,
    }


def plan_workflow(
    *,
    workflow_name: str | None,
    spec_file: PathLike | None,
    handler: PathLike | None,
    extra_files: str | Sequence[PathLike] | None = None,
    export_path: PathLike | None = None,
    force: bool = False,
) -> Plan:
    """Validate a workflow request and return its plan, collecting every problem first."""
    timestamp = source_date_epoch()
    problems = ProblemCollector()
    _check_required(problems, workflow_name, spec_file, handler)
    output = _plan_output(problems, workflow_name, export_path, force)
    items: list[tuple[PathLike, str]] = []
    if spec_file:
        items.append((spec_file, "--spec-file"))
    if handler:
        items.append((handler, "--handler"))
    items += [(item, "--extra-files") for item in split_extra_files(extra_files)]
    sources = _gather_inputs(problems, items, output)
    problems.raise_if_any()
    assert workflow_name and spec_file and handler

    manifest = workflow_manifest(
        workflow_name=workflow_name,
        spec_file=Path(spec_file).name,
        handler=Path(handler).name,
        timestamp=timestamp,
    )
    data = manifest_mod.dumps(manifest)
    entries = [entry_of(s) for s in sources]
    entries.append(Entry(WAR_MANIFEST_NAME, None, len(data), data=data, origin="manifest"))
    return Plan(
        output=output,
        archive_format=ArchiveFormat.DEFAULT,
        model_name=workflow_name,
        entries=tuple(sorted(entries, key=lambda e: e.name)),
        manifest=manifest,
        # The reference deflates every member.
        compression=Compression.DEFLATE,
        timestamp=timestamp,
        force=force,
        digests=False,
        manifest_name=WAR_MANIFEST_NAME,
    )


def _check_required(
    problems: ProblemCollector,
    workflow_name: str | None,
    spec_file: PathLike | None,
    handler: PathLike | None,
) -> None:
    """A valid workflow name, a spec file and a handler are required (usage errors)."""
    found: list[str] = []
    if not workflow_name:
        found.append("missing --workflow-name")
    elif (msg := workflow_name_problem(workflow_name)) is not None:
        found.append(msg)
    if spec_file is None or str(spec_file) == "":
        found.append("missing --spec-file (the workflow's YAML: its models and dag)")
    if handler is None or str(handler) == "":
        found.append(
            "missing --handler (the workflow's Python file; TorchServe needs it even when the "
            "dag has no function nodes)"
        )
    problems.errors.extend(UsageError(message) for message in found)


def _plan_output(
    problems: ProblemCollector, workflow_name: str | None, export_path: PathLike | None, force: bool
) -> Path:
    """NAME.war in the export folder; a file in the folder's place, or an existing output, is a
    problem."""
    export_dir = Path(export_path) if export_path is not None else Path.cwd()
    if export_dir.exists() and not export_dir.is_dir():
        problems.errors.append(
            InputError(
                f"export path {str(export_dir)!r} is a file, not a folder",
                path=str(export_dir),
                hint="Give --export-path a folder (it is created if missing).",
            )
        )
    output = export_dir / f"{workflow_name or 'workflow'}{WAR_SUFFIX}"
    if workflow_name:
        problems.attempt(check_destination, output, is_dir=False, force=force)
    return output


def _gather_inputs(
    problems: ProblemCollector, items: list[tuple[PathLike, str]], output: Path
) -> list[Source]:
    """The inputs, each at the archive root under its base name, first one kept on a name."""
    sources: dict[str, Source] = {}
    output_abs = os.path.abspath(output)
    for path, origin in items:
        src = _input(problems, path, origin)
        if src is None:
            continue
        problem = _input_problem(src, sources, path, origin, output_abs)
        if problem is not None:
            problems.errors.append(problem)
            continue
        sources.setdefault(src.name, src)
    return list(sources.values())


def _input(problems: ProblemCollector, path: PathLike, origin: str) -> Source | None:
    """One input file at the archive root under its base name; folders are refused."""
    p = Path(path)
    if p.is_dir():
        problems.errors.append(
            InputError(
                f"{origin} {str(p)!r} is a folder: a workflow archive holds files only, each at "
                "its root",
                path=str(p),
                hint="Name the files themselves (comma-separated in --extra-files).",
            )
        )
        return None
    return problems.attempt(file_source, p, p.name, origin)


def _input_problem(
    src: Source, sources: dict[str, Source], path: PathLike, origin: str, output_abs: str
) -> MararchError | None:
    """Why an input cannot join those taken already (`sources`); None when it can."""
    if os.path.abspath(src.path) == output_abs:
        return InputError(f"{origin} {str(path)!r} is the output archive itself", path=str(path))
    previous = sources.get(src.name)
    if previous is not None and not os.path.samefile(previous.path, src.path):
        # The reference copies both to one staging folder: the last silently wins.
        return ConflictError(src.name, str(previous.path), str(src.path))
    if src.name == WAR_INF:
        return ConflictError(WAR_INF, str(src.path), f"the {WAR_INF}/ folder of the manifest")
    return None


def create_workflow(
    *,
    workflow_name: str,
    spec_file: PathLike,
    handler: PathLike,
    extra_files: str | Sequence[PathLike] | None = None,
    export_path: PathLike | None = None,
    force: bool = False,
    progress: OptionalProgress = None,
    verify: bool = True,
) -> Path:
    """Build a workflow archive (NAME.war), as `torch-workflow-archiver` would; return its path.

    Keyword arguments mirror the command-line flags (`verify=False` is --no-verify).
    Raises `MararchError` subclasses.
    """
    plan = plan_workflow(
        workflow_name=workflow_name,
        spec_file=spec_file,
        handler=handler,
        extra_files=extra_files,
        export_path=export_path,
        force=force,
    )
    return build(plan, progress=progress, verify=verify).path


__all__ = [
    "create_workflow",
    "plan_workflow",
    "workflow_manifest",
]
