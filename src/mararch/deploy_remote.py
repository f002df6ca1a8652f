"""`mararch deploy s3://BUCKET/PREFIX ...`: the tree of `deploy` uploaded below a prefix of an
object store (s3://, or gs:// through the same fsspec code).

Everything is checked before the first byte goes up: `plan_deploy` has verified every archive,
and here the inputs are listed and the prefix too (existing objects are refused without
--force). Each archive, and each file of a no-archive folder, becomes one object that appears
whole or not at all (`remote_write`); `config/config.properties` goes up last, so a server
never sees a config naming a missing archive. On any failure or Ctrl-C the objects this run
created are deleted (the writer aborts a pending multipart upload). With --force, objects of the
old tree (in its model-store/ and config/) that the new one lacks are deleted once the config
is written, and nothing else below the prefix; an object replaced
before a failure stays replaced (a store has no atomic rename of a whole tree).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .deploy import DeployPlan, read_error
from .errors import OutputError
from .progress import OptionalProgress, Progress
from .reader import Container
from .remote import filesystem, remote_errors
from .remote_write import check_remote_destination, object_writer_on
from .snapshot import CONFIG_DIR, CONFIG_NAME, STORE_DIR

#: Bytes read from an input per write into the upload.
CHUNK = 1 << 20
#: Existing objects named in the refusal; the rest are counted.
SHOWN_OBJECTS = 5


@dataclass(frozen=True)
class Upload:
    """One object of the tree: `key` below the prefix, from a local file or from `data`."""

    key: str
    size: int
    source: Path | None = None
    data: bytes = b""


def _folder_files(folder: Path) -> list[tuple[str, Path]]:
    """Every file below a no-archive folder (symlinks followed, as the local copy does), with
    its name relative to the folder."""

    def fail(exc: OSError) -> None:
        raise exc

    found = []
    try:
        for parent, _, names in os.walk(folder, onerror=fail, followlinks=True):
            for name in names:
                path = Path(parent, name)
                found.append((path.relative_to(folder).as_posix(), path))
    except OSError as exc:
        raise read_error(exc, folder) from None
    return sorted(found)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise read_error(exc, path) from None


def tree_uploads(plan: DeployPlan) -> list[Upload]:
    """The objects of the tree in upload order: the model store, then the config."""
    uploads = []
    for m in plan.models:
        key = f"{STORE_DIR}/{m.mar_name}"
        if m.container is Container.FOLDER:
            uploads += [
                Upload(f"{key}/{name}", _size(path), path) for name, path in _folder_files(m.source)
            ]
        else:
            uploads.append(Upload(key, _size(m.source), m.source))
    uploads.append(Upload(f"{CONFIG_DIR}/{CONFIG_NAME}", len(plan.config), data=plan.config))
    return uploads


def _existing(fs: Any, base: str, plan: DeployPlan) -> set[str]:
    """The objects below the prefix now; OutputError naming them unless --force."""
    if not check_remote_destination(fs, base, plan.root, force=True):
        return set()
    with remote_errors(plan.root, OutputError, "list"):
        found = {str(p) for p in fs.find(base)}
    if found and not plan.force:
        names = sorted(p[len(base) :].lstrip("/") or p for p in found)
        more = len(names) - SHOWN_OBJECTS
        listed = ", ".join(names[:SHOWN_OBJECTS]) + (f" and {more} more" if more > 0 else "")
        raise OutputError(
            f"{plan.shown!r} already holds {len(names)} object{'s' * (len(names) != 1)}: {listed}",
            path=plan.shown,
            hint=f"Pass -f/--force to replace the tree (old objects in its {STORE_DIR}/ and "
            f"{CONFIG_DIR}/ are deleted, nothing else), or choose another prefix.",
        )
    return found


def _chunks(source: Path) -> Iterator[bytes]:
    """The input in chunks; a failure to read it names the input."""
    try:
        with source.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk
    except OSError as exc:
        raise read_error(exc, source) from None


def _send(upload: Upload, out: BinaryIO, tracker: Progress) -> None:
    if upload.source is None:
        out.write(upload.data)
        tracker.advance(len(upload.data))
        return
    for chunk in _chunks(upload.source):
        out.write(chunk)
        tracker.advance(len(chunk))


def _remove(fs: Any, paths: list[str]) -> None:
    """Best effort: the run is failing already, its own error is the one to report."""
    if paths:
        with contextlib.suppress(Exception):
            fs.rm(paths)


def _stale(leftovers: set[str], base: str) -> set[str]:
    """The old tree's objects to delete: only those in its own folders, so that --force on a
    bucket's root or a shared prefix never deletes objects that are not part of a tree."""
    own = tuple(f"{base}/{folder}/" for folder in (STORE_DIR, CONFIG_DIR))
    return {path for path in leftovers if path.startswith(own)}


def upload_tree(plan: DeployPlan, progress: OptionalProgress = None) -> None:
    """Upload the planned tree below `plan.root`, config last; nothing new stays on failure."""
    fs, base = filesystem(plan.root)
    base = base.rstrip("/")
    uploads = tree_uploads(plan)
    existing = _existing(fs, base, plan)
    tracker = Progress(sum(u.size for u in uploads), progress)
    created: list[str] = []
    try:
        for upload in uploads:
            path = f"{base}/{upload.key}"
            if path not in existing:
                # Before the upload: a Ctrl-C right after it completes must not orphan it.
                created.append(path)
            url = f"{plan.root}/{upload.key}"
            with object_writer_on(fs, path, url, size_hint=upload.size) as out:
                _send(upload, out.file, tracker)
    except BaseException:
        _remove(fs, created)
        raise
    stale = sorted(_stale(existing - {f"{base}/{u.key}" for u in uploads}, base))
    if stale:
        with remote_errors(plan.root, OutputError, "clean up"):
            fs.rm(stale)


__all__ = ["Upload", "tree_uploads", "upload_tree"]
