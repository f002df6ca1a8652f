"""Everything the user sees: the only module that imports Rich. The core never prints.

Rich is imported on first use (~65 ms): one-line messages to a stream that is not a terminal
(CI logs, pipes) are written plainly, so a scripted build does not pay for it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache
from typing import TYPE_CHECKING, Any, TextIO, Union

from .errors import Severity
from .handlers import HandlerOrigin
from .manifest import Flavour

if TYPE_CHECKING:
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    from .batch import Outcome
    from .builder import BuildResult
    from .checks import Report
    from .errors import Finding, MararchError
    from .output import Stale
    from .plans import Plan
    from .progress import OptionalProgress

#: Below this many bytes a progress bar would only flicker.
PROGRESS_THRESHOLD = 32 << 20
#: A piece of a one-line message: plain text, or (text, Rich style).
Part = Union[str, tuple[str, str]]


#: Width of output that is not a terminal (CI logs, pipes, files) unless COLUMNS says otherwise:
#: Rich's 80 folded the words of wide tables; nothing here stretches to the width.
PIPE_WIDTH = 200


@cache
def _console(err: bool) -> Console:
    from rich.console import Console

    console = Console(stderr=err, highlight=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


def out() -> Console:
    """Rich's console on stdout (tables, panels, reports)."""
    return _console(False)


def err() -> Console:
    """Rich's console on stderr (progress, messages on a terminal)."""
    return _console(True)


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _styled(stream: TextIO) -> bool:
    # What Rich itself looks at to decide on colour for a stream that is not a terminal.
    return stream.isatty() or bool(os.environ.get("FORCE_COLOR"))


def say(*parts: Part) -> None:
    """One message line on stderr from parts already made safe by `clean`: styled by Rich on a
    terminal (as Text: no markup is parsed, so nothing in a name can inject any), written as
    plain text elsewhere."""
    if _styled(sys.stderr):
        from rich.text import Text

        err().print(Text.assemble(*parts))
    else:
        sys.stderr.write("".join(p if isinstance(p, str) else p[0] for p in parts) + "\n")
        sys.stderr.flush()


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def clean(text: str) -> str:
    """Escape control characters so hostile names cannot drive the terminal."""
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def clean_lines(text: str) -> str:
    """`clean` per line: a message's own line breaks (problem lists) stay line breaks."""
    return "\n".join(clean(line) for line in text.split("\n"))


def safe_text(text: str) -> str:
    """`clean`, then escaped for Rich markup."""
    return escape(clean(text))


def safe_lines(text: str) -> str:
    """`clean_lines`, then escaped for Rich markup."""
    return escape(clean_lines(text))


def error(exc: MararchError) -> None:
    say(("error:", "bold red"), " ", clean_lines(exc.message))
    if exc.hint:
        say("  ", ("hint:", "dim"), " ", clean(exc.hint))


def warn(message: str) -> None:
    say(("warning:", "yellow"), " ", clean(message))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[OptionalProgress]:
    """A byte-driven progress bar on stderr, only for large jobs and only on a terminal."""
    if (
        total < PROGRESS_THRESHOLD
        or os.environ.get("CI")
        or not _styled(sys.stderr)  # decided before Rich is imported for nothing
        or not err().is_terminal
    ):
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err(),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int, _total: int) -> None:
            bar.update(task, completed=done)

        yield update


def plan_table(plan: Plan) -> Table:
    from rich.table import Table

    table = Table(
        title=f"{safe_text(str(plan.output))} ({plan.archive_format.value})", title_justify="left"
    )
    table.add_column("member")
    table.add_column("source")
    table.add_column("size", justify="right")
    for e in plan.entries:
        source = str(e.source) if e.source is not None else f"<{e.origin}>"
        table.add_row(safe_text(e.name), safe_text(source), human_size(e.size))
    return table


def show_plan(plan: Plan) -> None:
    out().print(plan_table(plan))
    out().print(f"{len(plan.entries)} members, {human_size(plan.total_size)} in all")
    out().print(f"{plan.manifest_name}:")
    # Line by line: safe_text escapes control characters, newlines included.
    for line in json.dumps(plan.manifest, indent=2).splitlines():
        out().print(safe_text(line))
    out().print("[dim]dry run: nothing was written[/]")


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "dry_run": True,
        "path": str(plan.output),
        "format": plan.archive_format.value,
        "size": plan.total_size,
        "members": [
            {
                "name": e.name,
                "size": e.size,
                "source": str(e.source) if e.source is not None else None,
            }
            for e in plan.entries
        ],
        "manifest": plan.manifest,
    }


def result_json(result: BuildResult) -> dict[str, Any]:
    return {
        "path": result.url or str(result.path),
        **({"url": result.url} if result.url is not None else {}),
        "format": result.archive_format.value,
        "size": result.size,
        "sha256": result.sha256,
        "members": [
            {
                "name": m.name,
                "size": m.size,
                "compressed_size": m.compressed_size,
                "method": m.method,
                "crc32": f"{m.crc:08x}" if m.crc is not None else None,
            }
            for m in result.members
        ],
        "manifest": result.manifest,
        "findings": [f.to_json() for f in result.findings],
        "signature": str(result.signature) if result.signature is not None else None,
    }


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    """One archive of a build, written or not: `path`, `status`, what `result_json` says when it
    was written (else the checks' `findings`), and `error` (null when written)."""
    data: dict[str, Any] = {"path": str(outcome.plan.output), "status": outcome.status.value}
    if outcome.result is not None:
        data.update(result_json(outcome.result))
    else:
        data["findings"] = [f.to_json() for f in outcome.findings]
    data["error"] = outcome.error.message if outcome.error is not None else None
    return data


def show_outcome(outcome: Outcome, *, json_output: bool = False) -> None:
    """What became of one archive of a build, on stderr."""
    from .batch import Status

    if outcome.result is not None:
        show_swept(outcome.result.swept)
        show_build_findings(outcome.findings)
        if not json_output:
            show_result(outcome.result)
    elif outcome.error is not None:
        if outcome.status is Status.SKIPPED:
            warn(f"{outcome.plan.output.name}: {outcome.error.message}")
        else:
            error(outcome.error)


def show_result(result: BuildResult) -> None:
    say(
        ("wrote", "green"),
        f" {clean(result.url or str(result.path))} ({result.archive_format.value}, "
        f"{len(result.members)} members, {human_size(result.size)})",
    )
    if result.signature is not None:
        say(("signed", "green"), f" the model: {clean(str(result.signature))}")


# -- inspect / extract ------------------------------------------------------------------------

#: The members table shows this many rows unless --all is given.
MEMBER_ROWS = 50

if TYPE_CHECKING:
    from .extraction import ExtractResult
    from .summary import ArchiveSummary
    from .warsummary import WorkflowSummary
    from .weights import WeightsInfo


def _ratio(size: int, compressed: int) -> str:
    if not size or not compressed:
        return ""
    return f"{size / compressed:.1f}x"


def summary_panel(s: ArchiveSummary) -> Panel:
    from rich.panel import Panel
    from rich.table import Table

    from .reader import Container

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()

    def row(label: str, value: str | None, note: str = "") -> None:
        if value is not None:
            grid.add_row(label, safe_text(value) + note)

    container = "" if s.container.value == s.archive_format.value else f" ({s.container.value})"
    row("format", s.archive_format.value + container)
    row(
        "flavour",
        {Flavour.TORCHSERVE: "TorchServe", Flavour.MMS: "MMS"}.get(s.flavour, s.flavour.value)
        if s.flavour
        else "no manifest",
    )
    row("model", s.model_field("modelName"))
    row("version", s.model_field("modelVersion"))
    row("runtime", s.manifest_field("runtime"))
    handler = s.model_field("handler")
    if handler is not None:
        notes: dict[HandlerOrigin | None, str] = {
            HandlerOrigin.BUILTIN: " [dim](built-in)[/]",
            HandlerOrigin.ARCHIVE: " [dim](file in the archive"
            + ("" if s.handler_member == handler else f": {safe_text(str(s.handler_member))}")
            + ")[/]",
            HandlerOrigin.MISSING: " [red](not in the archive, not built-in)[/]",
        }
        row("handler", handler, notes.get(s.handler_origin, ""))
    for label, key in (
        ("serialized file", "serializedFile"),
        ("model file", "modelFile"),
        ("config file", "configFile"),
        ("requirements", "requirementsFile"),
    ):
        missing = " [red](missing)[/]" if key in s.missing_files else ""
        row(label, s.model_field(key), missing)
    row("created on", s.manifest_field("createdOn"))
    row("archiver", s.archiver_version)
    if s.container is Container.TGZ:
        row("model folder", s.model_root)
    row("members", str(len(s.members)))
    row("size", f"{human_size(s.size)} ({s.size} bytes)")
    if s.container is Container.ZIP:
        row("compressed", human_size(s.compressed_size))
    row("on disk", f"{human_size(s.archive_size)} ({s.archive_size} bytes)")
    if s.signature is not None:
        sig = s.signature
        row("signature", f"{sig.path} ({sig.mode.value} mode)" if sig.mode else sig.path)
        row("signed", sig.covers)
    return Panel(grid, title=safe_text(s.path), title_align="left", expand=False)


def members_table(s: ArchiveSummary | WorkflowSummary, limit: int | None) -> Table:
    # Only zip compresses and checksums member by member; for tar and folders those columns
    # would say nothing.
    from rich.table import Table

    from .reader import Container, MemberKind

    zipped = s.container is Container.ZIP
    table = Table(title_justify="left", show_edge=False)
    table.add_column("name", overflow="fold")
    table.add_column("size", justify="right")
    if zipped:
        table.add_column("compressed", justify="right")
        table.add_column("ratio", justify="right")
        table.add_column("method")
        table.add_column("CRC")
    shown = s.members if limit is None else s.members[:limit]
    for m in shown:
        name = safe_text(m.name)
        data = m.kind is MemberKind.FILE
        if not data:
            target = f" -> {safe_text(m.link_target)}" if m.link_target else ""
            name += f" [yellow]({m.kind.value}{target})[/]"
        cells = [name, human_size(m.size) if data else ""]
        if zipped:
            cells += [
                human_size(m.compressed_size) if data else "",
                _ratio(m.size, m.compressed_size) if data else "",
                safe_text(m.method) if data else "",
                f"{m.crc:08x}" if m.crc is not None and data else "",
            ]
        table.add_row(*cells)
    return table


def show_summary(s: ArchiveSummary, *, show_all: bool = False) -> None:
    out().print(summary_panel(s))
    show_members(s, show_all=show_all)


def show_members(s: ArchiveSummary | WorkflowSummary, *, show_all: bool) -> None:
    limit = None if show_all else MEMBER_ROWS
    out().print(members_table(s, limit))
    if limit is not None and len(s.members) > limit:
        out().print(
            f"[dim]... and {len(s.members) - limit} more members "
            "(--all shows them, --json lists them)[/]"
        )
    for finding in s.warnings:
        warn(f"[{finding.code}] {finding.member}: {finding.message}")


def show_weights(infos: list[WeightsInfo]) -> None:
    """`inspect --weights`: one row per weights member; unsafe imports in red."""
    from rich.table import Table

    table = Table(title="weights", title_justify="left", show_edge=False)
    for column in ("member", "format", "tensors", "parameters", "dtypes", "imports"):
        table.add_column(column, overflow="fold")
    colour = {"unsafe": "red", "unknown": "yellow", "safe": ""}
    for info in infos:
        imports = info.to_json()["imports"]
        assert isinstance(imports, list)
        cells = [
            f"[{colour[i['verdict']]}]{escape(i['name'])} ({i['verdict']})[/]"
            if colour[i["verdict"]]
            else escape(i["name"])
            for i in imports
        ]
        table.add_row(
            safe_text(info.member),
            info.format.value,
            "" if info.tensors is None else f"{info.tensors:,}",
            "" if info.parameters is None else f"{info.parameters:,}",
            ", ".join(sorted(info.dtypes)),
            "\n".join(cells),
        )
    if not infos:
        out().print("[dim]no weights or pickle members[/]")
    else:
        out().print(table)


def show_swept(swept: Sequence[Stale]) -> None:
    """Say which temporaries of killed mararch processes a build or extract removed."""
    for s in swept:
        if s.restored is not None:
            say(
                ("note:", "cyan"),
                f" restored {clean(repr(str(s.restored)))}: a mararch process (pid {s.pid}) was "
                "killed while replacing it",
            )
    temps = [s for s in swept if s.restored is None]
    if not temps:
        return
    count = len(temps)
    pids = ", ".join(sorted({str(s.pid) for s in temps}))
    names = ", ".join(clean(s.path.name) for s in temps)
    say(
        ("note:", "cyan"),
        f" removed {count} temporar{'y' if count == 1 else 'ies'} left in "
        f"{clean(str(temps[0].path.parent))} by a mararch process that is gone (pid {pids}): "
        f"{names}",
    )


def show_transfer(transfer: Any) -> None:
    """What reading a remote archive fetched (a `remote_read.Transfer`)."""
    if transfer.note:
        warn(f"{transfer.url}: {transfer.note}")
    say(
        ("fetched", "cyan"),
        f" {human_size(transfer.bytes_fetched)} ({transfer.bytes_fetched} bytes) of "
        f"{human_size(transfer.size)} in {transfer.requests} request"
        f"{'s' * (transfer.requests != 1)} ({transfer.mode.value})",
    )


def show_extract(result: ExtractResult) -> None:
    say(
        ("extracted", "green"),
        f" {len(result.members)} file{'s' * (len(result.members) != 1)} "
        f"({human_size(result.size)}) to {clean(str(result.destination))}",
    )


# -- verify -----------------------------------------------------------------------------------

#: A hostile archive can hold 200,000 bad names: the report lists this many per code (--json all).
FINDINGS_PER_CODE = 20
_SEVERITY_STYLE = {
    "error": ("red", "errors"),
    "warning": ("yellow", "warnings"),
    "info": ("dim", "info"),
}


def _finding_line(f: Finding) -> str:
    member = f"{safe_text(f.member)}: " if f.member else ""
    return f"  {escape(f'[{f.code}]')} {member}{safe_lines(f.message)}"


def show_report(report: Report) -> None:
    """Findings grouped by severity, then PASSED / PASSED with warnings / FAILED."""
    from .checks import Verdict

    parts = [
        p
        for p in (
            report.container and report.container.value,
            report.server and report.server.value,
        )
        if p
    ]
    where = f" ({', '.join(parts)})" if parts else ""
    out().print(f"verify {safe_text(report.path)}{where}")
    for group in (report.errors, report.warnings, report.infos):
        if not group:
            continue
        style, title = _SEVERITY_STYLE[group[0].severity.value]
        out().print(f"[{style}]{title} ({len(group)}):[/]")
        shown: dict[str, int] = {}
        for f in group:
            shown[f.code] = shown.get(f.code, 0) + 1
            if shown[f.code] > FINDINGS_PER_CODE:
                continue
            out().print(f"[{style}]{_finding_line(f)}[/]" if style == "dim" else _finding_line(f))
        for code, count in shown.items():
            if count > FINDINGS_PER_CODE:
                more = count - FINDINGS_PER_CODE
                out().print(f"  ... and {more} more {escape(f'[{code}]')} (see --json)")
    counts = f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    if report.status is Verdict.FAILED:
        why = " (--strict: warnings fail)" if not report.errors else ""
        out().print(f"[bold red]FAILED[/]: {counts}{why}")
    elif report.status is Verdict.PASSED_WITH_WARNINGS:
        out().print(f"[bold yellow]PASSED with warnings[/]: {counts}")
    else:
        out().print(f"[bold green]PASSED[/]: {counts}")


def show_build_findings(findings: tuple[Finding, ...]) -> None:
    """The pre-write checks' warnings, and errors written anyway with --no-verify (errors stop
    the build otherwise; notes are for `verify`)."""
    for f in findings:
        where = f"{f.member}: " if f.member else ""
        if f.severity is Severity.WARNING:
            warn(f"[{f.code}] {where}{f.message}")
        elif f.severity is Severity.ERROR:
            warn(f"[{f.code}] {where}{f.message} (written anyway: --no-verify)")


def show_workflow_summary(s: WorkflowSummary, *, show_all: bool = False) -> None:
    out().print(workflow_panel(s))
    show_members(s, show_all=show_all)


def workflow_panel(s: WorkflowSummary) -> Panel:
    """A workflow archive's manifest and what its spec declares."""
    from rich.panel import Panel
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()

    def row(label: str, value: str | None) -> None:
        # Node names come from the archive: escaped like every value.
        if value is not None:
            grid.add_row(safe_text(label), safe_text(value))

    row("format", f"workflow ({s.container.value})")
    row("workflow", s.workflow_field("workflowName") or "no manifest")
    row("spec file", s.workflow_field("specFile"))
    row("handler", s.workflow_field("handler"))
    if s.spec is not None:
        for node, url in s.spec.models.items():
            row(f"model {node}", url)
        if s.spec.functions:
            row("functions", ", ".join(s.spec.functions))
        for node, targets in s.spec.edges.items():
            row(f"dag {node}", "-> " + (", ".join(targets) if targets else "(end)"))
    row("created on", s.manifest_field("createdOn"))
    row("archiver", s.manifest_field("archiverVersion"))
    row("members", str(len(s.members)))
    row("size", f"{human_size(s.size)} ({s.size} bytes)")
    row("on disk", f"{human_size(s.archive_size)} ({s.archive_size} bytes)")
    return Panel(grid, title=safe_text(s.path), title_align="left", expand=False)


# -- deploy / trees ---------------------------------------------------------------------------

if TYPE_CHECKING:
    from .deploy import DeployPlan
    from .tree import TreeResult


def _workers(settings: dict[str, Any]) -> str:
    low, high = settings.get("minWorkers"), settings.get("maxWorkers")
    return f"{low}-{high}" if low is not None else ""


def _batch(settings: dict[str, Any]) -> str:
    size, delay = settings.get("batchSize"), settings.get("maxBatchDelay")
    return f"{size} / {delay} ms" if size is not None else ""


def models_table(rows: list[dict[str, Any]]) -> Table:
    """One row per model of a deployment tree."""
    from rich.table import Table

    table = Table(title_justify="left", show_edge=False)
    for title in ("model", "version", "file", "format", "size", "handler", "workers", "batch"):
        table.add_column(title, overflow="fold")
    table.add_column("verify")
    styles = {"passed": "green", "passed-with-warnings": "yellow"}
    for r in rows:
        settings = r.get("settings") or {}
        status = str(r.get("status", ""))
        default = " [dim](default)[/]" if r.get("default") else ""
        table.add_row(
            safe_text(str(r.get("name") or "?")),
            safe_text(str(r.get("version") or "")) + default,
            safe_text(str(r.get("marName", ""))),
            safe_text(str(r.get("container") or "")),
            human_size(r["size"]) if r.get("size") is not None else "",
            safe_text(str(r.get("handler") or "")),
            _workers(settings),
            _batch(settings),
            f"[{styles.get(status, 'red')}]{status}[/]",
        )
    return table


def show_tree(result: TreeResult) -> None:
    tree = result.tree
    config = safe_text(tree.rel(tree.config)) if tree.config else "none"
    out().print(
        f"tree {safe_text(str(tree.root))}: config {config}, model store "
        f"{safe_text(tree.rel(tree.store))}/"
        + (f", envelope {result.envelope}" if result.envelope else "")
    )
    out().print(models_table(list(result.rows)))


def tree_json(result: TreeResult) -> dict[str, Any]:
    tree = result.tree
    return {
        "root": str(tree.root),
        "config": str(tree.config) if tree.config else None,
        "model_store": str(tree.store),
        "envelope": result.envelope,
        "models": list(result.rows),
        "findings": [f.to_json() for f in result.findings],
    }


def deploy_rows(plan: DeployPlan) -> list[dict[str, Any]]:
    return [
        {
            "name": m.name,
            "version": m.version,
            "marName": m.mar_name,
            "container": m.container.value,
            "size": m.size,
            "handler": m.handler,
            "settings": m.settings,
            "origins": m.origins,
            "default": m.default,
            "status": "passed-with-warnings"
            if any((f.member or "").split("/")[0] == m.mar_name for f in plan.findings)
            else "passed",
        }
        for m in plan.models
    ]


def deploy_progress(plan: DeployPlan) -> AbstractContextManager[OptionalProgress]:
    """A bar over the bytes uploaded to a remote ROOT (a local tree is copied by the kernel)."""
    if not plan.remote:
        return nullcontext(None)
    return progress_bar(plan.size, f"uploading to {safe_text(plan.shown)}")


def show_deploy(plan: DeployPlan, *, dry_run: bool) -> None:
    for f in plan.findings:
        warn(f"[{f.code}] {f.member + ': ' if f.member else ''}{f.message}")
    out().print(models_table(deploy_rows(plan)))
    verb = "would write" if dry_run else "wrote"
    count = len(plan.models)
    say(
        (verb, "green"),
        f" {clean(plan.shown)} ({count} model version{'s' * (count != 1)})",
    )
    if plan.remote:
        say(f"serve it with KServe: storageUri: {clean(plan.shown)}")
    else:
        say(f"start it with: {clean(plan.start_command)}")


# -- sign -------------------------------------------------------------------------------------

if TYPE_CHECKING:
    from .signing.engine import SignResult


def signature_json(result: SignResult) -> dict[str, Any]:
    return {
        "signature": str(result.signature),
        "mode": result.mode.value,
        "model_name": result.model_name,
        "files": result.files,
        "subject_sha256": result.subject_digest,
    }


def show_signature(result: SignResult) -> None:
    say(
        ("signed", "green"),
        f" {result.files} file{'s' * (result.files != 1)} of {clean(result.model_name)} "
        f"({result.mode.value} mode): {clean(str(result.signature))}",
    )
