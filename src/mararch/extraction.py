"""`extract`: unpack any model archive into a folder, safely and atomically.

Every member of the archive is checked before anything is written (names, kinds, duplicates,
compression ratios, free space); the data is then written into a temporary folder beside the
destination, each member capped at its declared size and checked against its CRC, and the folder
is renamed into place at the end. On any failure, or Ctrl-C, nothing remains.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .bombs import RATIO_LIMIT, likely_bombs
from .errors import ArchiveError, OutputError, UnsafeArchiveError, UsageError
from .output import Stale, atomic_output, sweep_stale
from .progress import OptionalProgress
from .reader import ArchiveView, Member, MemberKind, PathLike, open_archive
from .writers import EXEC_MODE, FILE_MODE, Progress

#: Keep this much disk free beyond the declared total, for file system overhead.
DISK_MARGIN = 16 << 20
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".mar", ".zip", ".model")
_DRIVE = re.compile(r"^[A-Za-z]:")
#: How many problems an error message lists before summarising the rest.
MAX_LISTED = 10


@dataclass(frozen=True)
class ExtractResult:
    """What was extracted: the destination folder, the file members written and their size."""

    destination: Path
    members: tuple[Member, ...]
    size: int
    #: Temporaries of killed mararch processes removed from the destination's folder.
    swept: tuple[Stale, ...] = ()


def name_problem(name: str) -> str | None:
    """Why a member name is unsafe to create under a destination folder, or None if it is safe."""
    if name == "":
        return "empty name"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "control character (NUL, newline, escape ...) in the name"
    if "\\" in name:
        return "backslash in the name (a path separator on Windows)"
    if name.startswith("/"):
        return "absolute path"
    if _DRIVE.match(name):
        return "Windows drive letter"
    parts = name.split("/")
    if ".." in parts:
        return "'..' component escapes the destination"
    if any(p in ("", ".") for p in parts):
        return "empty or '.' path component"
    return None


def unsafe_members(members: Iterable[Member]) -> list[tuple[Member, str]]:
    """Every member that extraction refuses, with the reason: unsafe names, links and special
    files, encrypted or unsupported members, and names given twice (or as file and folder)."""
    problems: list[tuple[Member, str]] = []
    seen: dict[str, Member] = {}
    for m in members:
        reason = member_name_problem(m)
        if reason is None and m.kind in (MemberKind.SYMLINK, MemberKind.HARDLINK):
            target = f" -> {m.link_target!r}" if m.link_target else ""
            reason = f"{m.kind.value}{target}: links are not extracted"
        elif reason is None and m.kind is MemberKind.SPECIAL:
            reason = "device, FIFO or other special file"
        elif reason is None and m.is_file and m.encrypted:
            reason = "encrypted member"
        elif reason is None and m.is_file and m.method not in ("stored", "deflated", "tar", "file"):
            reason = f"unsupported compression method {m.method!r}"
        if reason is not None:
            problems.append((m, reason))
            continue
        # Names equal only on some file systems (case, Unicode normalisation) are caught when
        # writing: every file is created with O_EXCL.
        key = m.name
        first = seen.get(key)
        if first is not None and not (first.kind is MemberKind.DIR and m.kind is MemberKind.DIR):
            problems.append((m, "duplicate name: a later member would silently replace the first"))
            continue
        seen.setdefault(key, m)
    for m, parent in parent_conflicts(seen):
        problems.append((m, f"{parent.name!r} is a file but this member needs it to be a folder"))
    return problems


def member_name_problem(m: Member) -> str | None:
    """Why a member's name is unsafe (`name_problem`), on its name and on the name it is stored
    under: a tar's first component is dropped, but what it hid (e.g. '../x' -> 'x') still counts."""
    reason = name_problem(m.name)
    if reason is None and m.raw_name and m.raw_name != m.name:
        raw = m.raw_name.rstrip("/")
        hidden = name_problem(raw[2:] if raw.startswith("./") else raw)
        if hidden is not None:
            reason = f"{hidden} (stored as {m.raw_name!r})"
    return reason


def parent_conflicts(by_name: dict[str, Member]) -> Iterator[tuple[Member, Member]]:
    """(member, parent) for every member below a name that is not a folder."""
    for name, m in by_name.items():
        parts = name.split("/")
        for i in range(1, len(parts)):
            parent = by_name.get("/".join(parts[:i]))
            if parent is not None and parent.kind is not MemberKind.DIR:
                yield m, parent
                break


def default_destination(archive: Path) -> Path:
    """`./STEM` in the current folder: the archive's name without its archive suffix."""
    name = archive.name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return Path.cwd() / name[: -len(suffix)]
    return Path.cwd() / name


def _select(view: ArchiveView, wanted: Sequence[str] | None) -> list[Member]:
    if not wanted:
        return list(view.members)
    chosen: dict[int, Member] = {}
    missing = []
    for raw in wanted:
        name = raw.strip("/")
        hits = {m.index: m for m in view.members if m.name == name or m.name.startswith(name + "/")}
        if not hits:
            missing.append(raw)
        chosen.update(hits)
    if missing:
        names = ", ".join(repr(n) for n in missing)
        raise UsageError(
            f"no member named {names} in {str(view.path)!r}",
            hint="List the members with `mararch inspect`; names are relative to the model "
            "folder and use '/'.",
        )
    return [chosen[i] for i in sorted(chosen)]


def _check_ratios(view: ArchiveView, members: list[Member]) -> None:
    for bomb in likely_bombs(view, members):
        what = f"member {bomb.member!r}" if bomb.member else repr(str(view.path))
        raise ArchiveError(
            f"{what} {bomb.describe()}, more than the {RATIO_LIMIT}:1 allowed",
            member=bomb.member,
            hint="This looks like a decompression bomb. If you trust the archive, pass "
            "--allow-high-ratio.",
        )


def _check_free_space(folder: Path, needed: int) -> None:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # unknown: the write itself will fail cleanly if the disk fills
    if needed + DISK_MARGIN > free:
        raise OutputError(
            f"not enough free space in {str(folder)!r}: the archive declares {needed} bytes, "
            f"{free} are free",
            path=str(folder),
            hint="Free some space, or extract elsewhere with --output.",
        )


def _check_destination(destination: Path, archive: Path, force: bool) -> bool:
    """Whether an existing destination must be replaced; refuses what must not be."""
    dest, src = destination.resolve(), archive.resolve()
    if dest == src or src in dest.parents or dest in src.parents:
        raise OutputError(
            f"the destination {str(destination)!r} is the archive itself, inside it or contains it",
            path=str(destination),
            hint="Choose another destination with --output.",
        )
    if not os.path.lexists(destination):
        return False
    if destination.is_symlink() or not destination.is_dir():
        raise OutputError(
            f"{str(destination)!r} exists and is not a folder",
            path=str(destination),
            hint="Remove it, or choose another destination with --output.",
        )
    if not any(destination.iterdir()):
        return True
    if not force:
        raise OutputError(
            f"{str(destination)!r} exists and is not empty",
            path=str(destination),
            hint="Use --force to replace it, or choose another destination with --output.",
        )
    return True


def _unsafe_error(view: ArchiveView, problems: list[tuple[Member, str]]) -> UnsafeArchiveError:
    lines = [f"{m.name!r}: {reason}" for m, reason in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        lines.append(f"... and {len(problems) - MAX_LISTED} more")
    count = len(problems)
    head = f"refusing to extract {str(view.path)!r}: {count} unsafe member{'s' * (count > 1)}"
    return UnsafeArchiveError(
        head + ":\n" + "\n".join(f"  - {line}" for line in lines),
        member=problems[0][0].name,
        hint="The archive may be hostile; nothing was written. Look at it with `mararch inspect`.",
    )


def _write_member(view: ArchiveView, m: Member, root: Path, progress: Progress) -> None:
    target = root.joinpath(*m.name.split("/"))
    # Defence in depth: names were validated, and the tree is fresh and link-free.
    if not target.resolve().is_relative_to(root.resolve()):
        raise UnsafeArchiveError(
            f"member {m.name!r} would land outside the destination", member=m.name
        )
    if m.kind is MemberKind.DIR:
        target.mkdir(parents=True, exist_ok=True)
        return
    flags = (
        os.O_WRONLY
        | os.O_CREAT
        | os.O_EXCL
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_BINARY", 0)
    )
    mode = EXEC_MODE if m.mode is not None and m.mode & stat.S_IXUSR else FILE_MODE
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, flags, mode)
    except (FileExistsError, NotADirectoryError):
        raise UnsafeArchiveError(
            f"member {m.name!r} collides with another member on this file system (names "
            "differing only in case or Unicode form are one file here)",
            member=m.name,
            hint="Extract on a case-sensitive file system, or fix the archive.",
        ) from None
    with os.fdopen(fd, "wb") as out:
        for chunk in view.iter_member(m):
            out.write(chunk)
            progress.advance(len(chunk))


def extract_view(
    view: ArchiveView,
    output: PathLike | None = None,
    *,
    members: Sequence[str] | None = None,
    force: bool = False,
    allow_high_ratio: bool = False,
    progress: OptionalProgress = None,
) -> ExtractResult:
    """Extract an opened archive; see `extract`."""
    destination = Path(output) if output is not None else default_destination(view.path)
    problems = unsafe_members(view.members)
    if problems:
        raise _unsafe_error(view, problems)
    chosen = _select(view, members)
    if not allow_high_ratio:
        _check_ratios(view, chosen)
    replace = _check_destination(destination, view.path, force)
    parent = destination.parent
    created = [p for p in (parent, *parent.parents) if not p.exists()]
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create {str(parent)!r}: {exc.strerror}", path=str(parent)
        ) from None
    swept = tuple(sweep_stale(parent))
    files = [m for m in chosen if m.is_file]
    total = sum(m.size for m in files)
    tracker = Progress(total, progress)
    try:
        _check_free_space(parent, total)
        with atomic_output(destination, is_dir=True, force=replace) as tmp:
            tmp.mkdir()
            for m in chosen:
                _write_member(view, m, tmp, tracker)
    except BaseException:
        for folder in created:  # innermost first; only the ones this call made
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    return ExtractResult(destination, tuple(files), total, swept)


def extract(
    archive: PathLike,
    output: PathLike | None = None,
    *,
    members: Sequence[str] | None = None,
    force: bool = False,
    allow_high_ratio: bool = False,
    progress: OptionalProgress = None,
) -> ExtractResult:
    """Extract a model archive (.mar, .tar.gz or folder) into `output` (default `./STEM`).

    Refuses unsafe archives (paths escaping the destination, links, devices, duplicate names,
    compression bombs) before writing anything; writes into a temporary folder renamed into
    place at the end. `members` restricts extraction to those names (a folder name selects
    everything below it). Raises `MararchError` subclasses.
    """
    with open_archive(archive) as view:
        return extract_view(
            view,
            output,
            members=members,
            force=force,
            allow_high_ratio=allow_high_ratio,
            progress=progress,
        )


__all__ = ["ExtractResult", "extract", "extract_view", "name_problem", "unsafe_members"]
