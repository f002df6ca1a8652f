"""Atomic output: build under a temporary name beside the destination, rename at the end."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError

TEMP_MARKER = ".mararch-tmp-"


def remove_path(path: Path) -> None:
    """Remove a file or folder if it exists; used to clean up temporaries."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def temp_name(final: Path, kind: str = "tmp") -> Path:
    """A hidden, unpredictable name beside `final`, recognisable as ours."""
    return final.parent / f".{final.name}.mararch-{kind}-{secrets.token_hex(4)}"


def check_destination(final: Path, *, is_dir: bool, force: bool) -> None:
    """Refuse an existing output without --force, or one of the wrong kind."""
    if not os.path.lexists(final):
        return
    if not force:
        raise OutputError(
            f"{str(final)!r} already exists",
            path=str(final),
            hint="Use -f/--force to overwrite it, or choose another --export-path.",
        )
    if final.is_dir() != is_dir or final.is_symlink():
        want = "a folder" if is_dir else "a file"
        raise OutputError(
            f"{str(final)!r} exists and is not {want}; --force only replaces a previous output",
            path=str(final),
            hint="Remove it yourself, or choose another --export-path.",
        )


def prepare_export_dir(export_path: Path) -> None:
    """Create the export folder if missing; refuse a path that is a file."""
    if export_path.exists() and not export_path.is_dir():
        raise OutputError(
            f"export path {str(export_path)!r} is a file, not a folder",
            path=str(export_path),
            hint="Give --export-path a folder (it is created if missing).",
        )
    try:
        export_path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create export folder {str(export_path)!r}: {exc.strerror}",
            path=str(export_path),
        ) from None


@contextmanager
def atomic_output(final: Path, *, is_dir: bool, force: bool) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `final`, on any failure
    (Ctrl-C included) it is removed and `final` is left as it was."""
    check_destination(final, is_dir=is_dir, force=force)
    tmp = temp_name(final)
    try:
        yield tmp
        check_destination(final, is_dir=is_dir, force=force)
        if is_dir:
            replace_dir(tmp, final)
        else:
            os.replace(tmp, final)
    except OSError as exc:
        remove_path(tmp)
        raise OutputError(
            f"cannot write {str(final)!r}: {exc.strerror}",
            path=str(final),
            hint="Check the export folder's permissions and free space.",
        ) from None
    except BaseException:
        remove_path(tmp)
        raise


def replace_dir(tmp: Path, final: Path) -> None:
    """Put folder `tmp` in place of `final`; a folder cannot be replaced in one rename."""
    if not final.exists():
        os.rename(tmp, final)
        return
    old = temp_name(final, "old")
    os.rename(final, old)
    try:
        os.rename(tmp, final)
    except BaseException:
        os.rename(old, final)
        raise
    remove_path(old)
