"""MMS model folders and `mararch legacy` builds shared by the e2e test modules."""

from __future__ import annotations

from pathlib import Path

from . import handlers
from .conftest import mararch


def mms_model_folder(root: Path) -> Path:
    """A model folder as MMS users keep one: the service file, an asset, a stale archive."""
    root.mkdir(parents=True)
    (root / "service.py").write_text(handlers.PURE_PYTHON)
    (root / "assets").mkdir()
    (root / "assets" / "labels.txt").write_text("cat\ndog\n")
    # Left out by mararch's exclusion rules (model-archiver would pack it into the new archive).
    (root / "old_build.mar").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return root


def legacy(folder: Path, name: str, export: Path, archive_format: str = "default") -> None:
    result = mararch(
        "legacy",
        "--model-name",
        name,
        "--model-path",
        folder,
        "--handler",
        "service:handle",
        "--export-path",
        export,
        "--archive-format",
        archive_format,
    )
    assert result.returncode == 0, result.stdout + result.stderr
