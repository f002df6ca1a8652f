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
from typing import Any, Union

from . import manifest as manifest_mod
from .builder import build
from .errors import (
    ConflictError,
    InputError,
    MararchError,
    RequestError,
    UsageError,
)
from .output import check_destination
from .plans import (
    WAR_INF,
    WAR_MANIFEST_NAME,
    WAR_SUFFIX,
    ArchiveFormat,
    Compression,
    Entry,
    Plan,
    model_name_problem,
    source_date_epoch,
)
from .progress import OptionalProgress
from .sources import Source, file_source, split_extra_files
from .version import __version__

PathLike = Union[str, "os.PathLike[str]"]


def workflow_manifest(
    *, workflow_name: str, spec_file: str, handler: str, timestamp: int | None = None
) -> dict[str, Any]:
    """The manifest torch-workflow-archiver 0.2.15 writes, key for key and in its order."""
    return {
        "createdOn": manifest_mod.created_on(timestamp),
        "workflow": {"workflowName": workflow_name, "specFile": spec_file, "handler": handler},
        "archiverVersion": __version__,
    }


def _input(problems: list[MararchError], path: PathLike, origin: str) -> Source | None:
    """One input file at the archive root under its base name; folders are refused."""
    p = Path(path)
    if p.is_dir():
        problems.append(
            InputError(
                f"{origin} {str(p)!r} is a folder: a workflow archive holds files only, each at "
                "its root",
                path=str(p),
                hint="Name the files themselves (comma-separated in --extra-files).",
            )
        )
        return None
    try:
        return file_source(p, p.name, origin)
    except MararchError as exc:
        problems.append(exc)
        return None


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
    problems: list[MararchError] = []

    def problem(message: str) -> None:
        problems.append(UsageError(message))

    if not workflow_name:
        problem("missing --workflow-name")
    elif (msg := model_name_problem(workflow_name)) is not None:
        problem(msg.replace("model name", "workflow name"))
    if spec_file is None or str(spec_file) == "":
        problem("missing --spec-file (the workflow's YAML: its models and dag)")
    if handler is None or str(handler) == "":
        problem(
            "missing --handler (the workflow's Python file; TorchServe needs it even when the "
            "dag has no function nodes)"
        )
    export_dir = Path(export_path) if export_path is not None else Path.cwd()
    if export_dir.exists() and not export_dir.is_dir():
        problems.append(
            InputError(
                f"export path {str(export_dir)!r} is a file, not a folder",
                path=str(export_dir),
                hint="Give --export-path a folder (it is created if missing).",
            )
        )
    output = export_dir / f"{workflow_name or 'workflow'}{WAR_SUFFIX}"
    if workflow_name:
        try:
            check_destination(output, is_dir=False, force=force)
        except MararchError as exc:
            problems.append(exc)

    sources: dict[str, Source] = {}
    items: list[tuple[PathLike, str]] = []
    if spec_file:
        items.append((spec_file, "--spec-file"))
    if handler:
        items.append((handler, "--handler"))
    extras = split_extra_files(
        extra_files if isinstance(extra_files, (str, type(None))) else [str(x) for x in extra_files]
    )
    items += [(item, "--extra-files") for item in extras]
    output_abs = os.path.abspath(output)
    for path, origin in items:
        src = _input(problems, path, origin)
        if src is None:
            continue
        if os.path.abspath(src.path) == output_abs:
            problems.append(
                InputError(f"{origin} {str(path)!r} is the output archive itself", path=str(path))
            )
            continue
        previous = sources.get(src.name)
        if previous is not None and not os.path.samefile(previous.path, src.path):
            # The reference copies both to one staging folder: the last silently wins.
            problems.append(ConflictError(src.name, str(previous.path), str(src.path)))
            continue
        if src.name == WAR_INF:
            problems.append(
                ConflictError(WAR_INF, str(src.path), f"the {WAR_INF}/ folder of the manifest")
            )
            continue
        sources.setdefault(src.name, src)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise RequestError([str(p) for p in problems])
    assert workflow_name and spec_file and handler

    manifest = workflow_manifest(
        workflow_name=workflow_name,
        spec_file=Path(spec_file).name,
        handler=Path(handler).name,
        timestamp=timestamp,
    )
    data = manifest_mod.dumps(manifest)
    entries = [
        Entry(s.name, s.path, s.size, origin=s.origin, executable=s.executable, mtime=s.mtime)
        for s in sources.values()
    ]
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
