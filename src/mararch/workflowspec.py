"""Build specs for workflows: `[workflow.NAME]` tables of `mararch.toml` (or `[tool.mararch]`).

Keys are `mararch workflow`'s flags (`spec-file`, `handler`, `extra-files`, `export-path`,
`force`, and `workflow-name`, which defaults to NAME). Relative paths are relative to the spec
file's folder; flags given on the command line override a table's values.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .buildspec import PYPROJECT, WORKFLOW_TABLE, BuildSpecError, read_toml, toml_key, unknown_key
from .errors import MararchError, RequestError, UsageError
from .plans import Plan

#: Each key and the type of its value.
WORKFLOW_KEYS = {
    "workflow-name": "string",
    "spec-file": "path",
    "handler": "path",
    "extra-files": "paths",
    "export-path": "path",
    "force": "bool",
}
REQUIRED = ("spec-file", "handler")
EXAMPLE = '[workflow.NAME]\nspec-file = "workflow.yaml"\nhandler = "workflow_handler.py"'


@dataclass(frozen=True)
class WorkflowTable:
    """One `[workflow.NAME]` table: its name, where it is, and plan_workflow's arguments."""

    name: str
    table: str
    options: dict[str, Any]


def _value(kind: str, value: Any, base: Path) -> Any:
    """A key's value converted, or a ValueError (returned, not raised) saying what is wrong."""

    def path(raw: str) -> str:
        p = Path(raw).expanduser()
        return str(p if p.is_absolute() else Path(os.path.normpath(base / p)))

    if kind == "bool":
        return value if isinstance(value, bool) else ValueError("must be true or false")
    if kind == "paths":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            return ValueError('must be an array of file names (e.g. ["labels.json"])')
        return [path(v) for v in value]
    if not isinstance(value, str) or not value.strip():
        return ValueError("must be a non-empty string")
    return path(value) if kind == "path" else value


def load_workflows(path: Path, given: Collection[str] = ()) -> list[WorkflowTable]:
    """The `[workflow.NAME]` tables of a spec, validated; BuildSpecError lists every problem."""
    shown = str(path)
    declared, prefix = _declared_tables(path)
    base = Path(os.path.abspath(path)).parent
    problems: list[str] = []
    out: list[WorkflowTable] = []
    for name, raw in declared.items():
        table = f"[{prefix}workflow.{toml_key(name)}]"
        options = _table_options(raw, base, problems, f"{shown} {table}")
        options = {"workflow_name": name, "export_path": str(base), **options}
        for key in REQUIRED:
            param = key.replace("-", "_")
            if param not in options and param not in given:
                problems.append(f"{shown} {table}: missing required key {key!r}")
        out.append(WorkflowTable(name, table, options))
    if problems:
        raise BuildSpecError(shown, problems, hint=f"Each workflow table looks like:\n{EXAMPLE}")
    return out


def _declared_tables(path: Path) -> tuple[dict[str, dict[str, Any]], str]:
    """The spec's `[workflow.NAME]` tables by name, and the prefix of their table names
    (`tool.mararch.` in pyproject.toml); BuildSpecError when it declares none."""
    shown = str(path)
    data: Any = read_toml(path, path)
    prefix = ""
    if path.name == PYPROJECT:
        tool = data.get("tool")
        data = tool.get("mararch") if isinstance(tool, dict) else None
        prefix = "tool.mararch."
        if not isinstance(data, dict):
            raise BuildSpecError(shown, [f"{shown} has no [tool.mararch] table"])
    declared = data.get(WORKFLOW_TABLE)
    if not isinstance(declared, dict) or not all(isinstance(v, dict) for v in declared.values()):
        what = "declares no" if declared is None else "has a malformed"
        raise BuildSpecError(
            shown,
            [f"{shown} {what} [{prefix}workflow.NAME] table"],
            hint=f"Declare each workflow in its own table:\n{EXAMPLE}",
        )
    return declared, prefix


def _table_options(
    raw: dict[str, Any], base: Path, problems: list[str], where: str
) -> dict[str, Any]:
    """One table's keys as plan_workflow's arguments; a problem (`where: ...`) for each unknown
    key or bad value."""
    options: dict[str, Any] = {}
    for key, value in raw.items():
        spelled = key.replace("_", "-")
        kind = WORKFLOW_KEYS.get(spelled)
        if kind is None:
            problems.append(f"{where}: {unknown_key(key, WORKFLOW_KEYS)}")
            continue
        checked = _value(kind, value, base)
        if isinstance(checked, ValueError):
            problems.append(f"{where}: {spelled!r} {checked}")
            continue
        options[spelled.replace("-", "_")] = checked
    return options


def select(
    tables: list[WorkflowTable], path: Path, name: str | None, build_all: bool
) -> list[WorkflowTable]:
    """The workflows a command line asks for: NAME, --all, or the only one."""
    names = [t.name for t in tables]
    listed = ", ".join(names)
    if name is not None and build_all:
        raise UsageError("give either a workflow NAME or --all, not both")
    if build_all:
        return tables
    if name is not None:
        for table in tables:
            if table.name == name:
                return [table]
        close = difflib.get_close_matches(name, names, n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(
            f"{path} declares no workflow named {name!r}{guess}; its workflows: {listed}"
        )
    if len(tables) == 1:
        return tables
    raise UsageError(
        f"{path} declares {len(tables)} workflows ({listed}): say which one to build",
        hint=f"Run `mararch workflow {names[0]}`, or `mararch workflow --all`.",
    )


def plan_workflows(
    path: Path, name: str | None, build_all: bool, given: Mapping[str, Any]
) -> list[Plan]:
    """Plan the selected workflows of a spec, `given` (flag values) overriding their tables;
    every failure is reported together, before anything is written."""
    from .workflow import plan_workflow

    chosen = select(load_workflows(path, given.keys()), path, name, build_all)
    if "workflow_name" in given and len(chosen) > 1:
        raise UsageError("--workflow-name would give several workflows the same name")
    plans: list[Plan] = []
    errors: list[tuple[WorkflowTable, MararchError]] = []
    for table in chosen:
        try:
            plans.append(plan_workflow(**{**table.options, **given}))
        except MararchError as exc:
            if len(chosen) == 1:
                raise
            errors.append((table, exc))
    if errors:
        lines = [f"workflow {t.name!r}: {e.message}" for t, e in errors]
        raise RequestError(lines, hint="Nothing was written.")
    outputs = [os.path.abspath(p.output) for p in plans]
    if len(set(outputs)) != len(outputs):
        raise UsageError("two workflows would write the same .war; give them different names")
    return plans


__all__ = ["WorkflowTable", "load_workflows", "plan_workflows"]
