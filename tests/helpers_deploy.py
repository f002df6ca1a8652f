"""Small archives and trees for the deploy / tree tests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

import mararch
from mararch.cli import app

HANDLER = "def handle(data, context):\n    return data\n"


def make_archive(
    folder: Path,
    name: str,
    version: str = "1.0",
    *,
    config: dict[str, Any] | None = None,
    archive_format: str = "default",
    extra: dict[str, bytes] | None = None,
    out: str | None = None,
) -> Path:
    """A tiny TorchServe archive (`create` with a handler file); renamed to `out` if given."""
    src = folder / f"src-{name}-{version}"
    src.mkdir(parents=True, exist_ok=True)
    (src / "handler.py").write_text(HANDLER)
    extras = []
    for member, data in (extra or {}).items():
        (src / member).write_bytes(data)
        extras.append(str(src / member))
    path = mararch.create(
        model_name=name,
        version=version,
        handler=str(src / "handler.py"),
        export_path=folder / f"out-{name}-{version}",
        archive_format=archive_format,
        config=config,
        extra_files=",".join(extras) or None,
    )
    if out is None:
        return path
    return path.rename(folder / out)


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def config_of(tree: Path) -> str:
    return (tree / "config" / "config.properties").read_text()


def snapshot_of(tree: Path) -> dict[str, Any]:
    line = next(x for x in config_of(tree).splitlines() if x.startswith("model_snapshot="))
    return json.loads(line.split("=", 1)[1])


def edit_config(tree: Path, pattern: str, replacement: str) -> None:
    path = tree / "config" / "config.properties"
    text, count = re.subn(pattern, replacement, path.read_text())
    assert count, f"{pattern!r} not in {path}"
    path.write_text(text)


def codes(result: Result) -> list[str]:
    return [f["code"] for f in json.loads(result.stdout)["findings"]]
