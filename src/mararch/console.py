"""Everything the user sees: the only module that imports Rich. The core never prints."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from .builder import BuildResult
    from .errors import MararchError
    from .progress import OptionalProgress
    from .spec import Plan

#: Below this many bytes a progress bar would only flicker.
PROGRESS_THRESHOLD = 32 << 20

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def safe_text(text: str) -> str:
    """Escape control characters so hostile names cannot drive the terminal, then Rich markup."""
    cleaned = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )
    return escape(cleaned)


def error(exc: MararchError) -> None:
    stderr.print(f"[bold red]error:[/] {safe_text(exc.message)}")
    if exc.hint:
        stderr.print(f"  [dim]hint:[/] {safe_text(exc.hint)}")


def warn(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {safe_text(message)}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[OptionalProgress]:
    """A byte-driven progress bar on stderr, only for large jobs and only on a terminal."""
    if total < PROGRESS_THRESHOLD or not stderr.is_terminal or os.environ.get("CI"):
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
        console=stderr,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int, _total: int) -> None:
            bar.update(task, completed=done)

        yield update


def plan_table(plan: Plan) -> Table:
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
    stdout.print(plan_table(plan))
    stdout.print(f"{len(plan.entries)} members, {human_size(plan.total_size)} in all")
    stdout.print("MAR-INF/MANIFEST.json:")
    stdout.print(safe_text(json.dumps(plan.manifest, indent=2)))
    stdout.print("[dim]dry run: nothing was written[/]")


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
        "path": str(result.path),
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
    }


def show_result(result: BuildResult) -> None:
    stderr.print(
        f"[green]wrote[/] {safe_text(str(result.path))} "
        f"({result.archive_format.value}, {len(result.members)} members, "
        f"{human_size(result.size)})"
    )
