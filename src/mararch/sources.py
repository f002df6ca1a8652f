"""Collecting input files: --extra-files lists (files, folders, globs) and folder walks."""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import InputError
from .plans import PathLike

#: Folders torch-model-archiver never packages, at any depth.
SKIPPED_FOLDERS = frozenset({"__MACOSX", "__pycache__"})
GLOB_CHARS = ("*", "?")


@dataclass(frozen=True)
class Source:
    """A file to package: its name inside the archive and its path on disk."""

    name: str
    path: Path
    size: int
    executable: bool
    origin: str
    mtime: float
    #: For an object in a store (`path` is then its URL, shown without secrets): its chunks.
    stream: Callable[[], Iterator[bytes]] | None = None
    #: For an object in a store: bytes [offset, offset+n), read by a range request.
    read_at: Callable[[int, int], bytes] | None = None


def is_glob(pattern: str) -> bool:
    """Whether torch-model-archiver treats an --extra-files item as a wildcard pattern."""
    return any(c in pattern for c in GLOB_CHARS) or ("[" in pattern and "]" in pattern)


def split_extra_files(value: str | Sequence[PathLike] | None) -> list[str]:
    """The items of --extra-files: a comma list on the command line, or a list from the API."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return [item.strip() for item in items if item.strip()]


def stat_file(path: Path, what: str) -> os.stat_result:
    """Stat an input that must be a regular file (links followed), or raise a clear InputError."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"{what} {str(path)!r} does not exist", path=str(path)) from None
    except OSError as exc:
        raise InputError(
            f"cannot read {what} {str(path)!r}: {exc.strerror}", path=str(path)
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(
            f"{what} {str(path)!r} is a folder, not a file",
            path=str(path),
            hint="Give the file itself; package folders with --extra-files.",
        )
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{what} {str(path)!r} is not a regular file", path=str(path))
    if not os.access(path, os.R_OK):
        raise InputError(f"cannot read {what} {str(path)!r}: permission denied", path=str(path))
    return st


def file_source(path: Path, name: str, origin: str) -> Source:
    st = stat_file(path, origin)
    return Source(name, path, st.st_size, bool(st.st_mode & stat.S_IXUSR), origin, st.st_mtime)


def default_dir_filter(folder_name: str) -> bool:
    """torch-model-archiver drops hidden folders, __MACOSX and __pycache__ (files are all kept)."""
    return not (folder_name in SKIPPED_FOLDERS or folder_name.startswith("."))


def walk_folder(
    root: Path,
    origin: str,
    *,
    keep_dir: Callable[[str, str], bool] = lambda name, rel: default_dir_filter(name),
    keep_file: Callable[[str, str], bool] = lambda name, rel: True,
    skip: Callable[[Path], bool] = lambda path: False,
) -> Iterator[Source]:
    """Every file below `root` as a Source named by its path relative to `root` (with '/').

    Symbolic links are followed, as the reference's copy does, with loops detected.
    `keep_dir`/`keep_file` get the entry's name and its relative path.
    """
    seen: set[tuple[int, int]] = set()

    def onerror(exc: OSError) -> None:
        raise InputError(
            f"cannot read folder {exc.filename!r}: {exc.strerror}", path=str(exc.filename)
        )

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=onerror):
        here = Path(dirpath)
        st = here.stat()
        key = (st.st_dev, st.st_ino)
        if key in seen:
            raise InputError(
                f"folder {dirpath!r} is reached twice through symbolic links (a link loop?)",
                path=dirpath,
                hint="Remove the link, or exclude the folder.",
            )
        seen.add(key)
        rel_dir = here.relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if keep_dir(d, prefix + d))
        for filename in sorted(filenames):
            rel = prefix + filename
            path = here / filename
            if not keep_file(filename, rel) or skip(path):
                continue
            yield file_source(path, rel, origin)


#: Whether a member name (a folder's when the flag is set) is excluded; folders it excludes are
#: not walked at all, so nothing below them (unreadable files, broken links) can fail the build.
Excluded = Callable[[str, bool], bool]


def _nothing_excluded(name: str, is_dir: bool) -> bool:
    return False


def walk_members(
    root: Path, origin: str, prefix: str, excluded: Excluded, skip: Callable[[Path], bool]
) -> Iterator[Source]:
    """`walk_folder` for members named `prefix/REL`, leaving out what `excluded` says."""
    lead = f"{prefix}/" if prefix else ""
    for source in walk_folder(
        root,
        origin,
        keep_dir=lambda name, rel: default_dir_filter(name) and not excluded(lead + rel, True),
        keep_file=lambda name, rel: not excluded(lead + rel, False),
        skip=skip,
    ):
        yield replace(source, name=lead + source.name) if lead else source


def expand_extra_files(
    items: Iterable[str],
    *,
    skip: Callable[[Path], bool] = lambda path: False,
    excluded: Excluded = _nothing_excluded,
) -> Iterator[Source]:
    """Expand --extra-files items as torch-model-archiver does, minus what `excluded` says.

    A file lands at the archive root under its base name; a folder contributes its contents
    (keeping their structure below it); a pattern is globbed (not recursively). A missing
    non-pattern item is an error; a pattern that matches nothing is not.
    """
    for item in items:
        wildcard = is_glob(item)
        if wildcard:
            matches = sorted(glob.glob(item))
        elif os.path.lexists(item):
            matches = [item]
        else:
            raise InputError(
                f"extra file {item!r} does not exist",
                path=item,
                hint="Check the path; --extra-files is a comma-separated list of files, "
                "folders and glob patterns.",
            )
        for match in matches:
            path = Path(match)
            if skip(path):
                continue
            origin = f"--extra-files {item}"
            if path.is_dir():
                yield from walk_members(path, origin, "", excluded, skip)
            elif not excluded(path.name, False):
                yield file_source(path, path.name, origin)


def member_dest_problem(dest: str) -> str | None:
    """Why `dest` cannot name a place inside an archive, or None when it can."""
    if "\\" in dest:
        return f"destination {dest!r} contains a backslash; use '/' between folders"
    if dest.startswith("/"):
        return f"destination {dest!r} is absolute; give a path relative to the archive root"
    parts = [p for p in dest.rstrip("/").split("/") if p not in ("", ".")]
    if ".." in parts:
        return f"destination {dest!r} contains '..'; it must stay inside the archive"
    return None


def expand_file_mapping(
    src: Path,
    dest: str | None,
    *,
    skip: Callable[[Path], bool] = lambda path: False,
    excluded: Excluded = _nothing_excluded,
) -> Iterator[Source]:
    """One `files` item: a folder's contents below `dest` (default: the folder's own name),
    or a file named `dest` (default: its base name; a `dest` ending in '/' is a folder), minus
    what `excluded` says."""
    origin = f"files {src}"
    if dest is not None and (problem := member_dest_problem(dest)) is not None:
        raise InputError(problem, path=str(src), hint="Fix the 'dest' of this files item.")
    parts = [p for p in (dest or "").split("/") if p not in ("", ".")]
    prefix = "/".join(parts)
    if src.is_dir():
        if dest is None:
            prefix = src.resolve().name if src.name in ("", ".", "..") else src.name
        if not (prefix and excluded(prefix, True)):
            yield from walk_members(src, origin, prefix, excluded, skip)
        return
    if not os.path.lexists(src):
        raise InputError(
            f"files item {str(src)!r} does not exist",
            path=str(src),
            hint="Check its 'src'; relative paths are relative to the spec file's folder.",
        )
    if skip(src):
        return
    if dest is None or dest.endswith("/") or not prefix:
        name = f"{prefix}/{src.name}" if prefix else src.name
    else:
        name = prefix
    if not excluded(name, False):
        yield file_source(src, name, origin)
