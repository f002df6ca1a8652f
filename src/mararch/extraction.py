"""`extract`: unpack any model archive into a folder, safely and atomically.

Every member of the archive is checked before anything is written (names, kinds, duplicates,
compression ratios, free space); the data is then written into a temporary folder beside the
destination, each member capped at its declared size and checked against its CRC, and the folder
is renamed into place at the end. On any failure, or Ctrl-C, nothing remains.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .bombs import RATIO_LIMIT, likely_bombs
from .errors import MAX_LISTED, ArchiveError, OutputError, UnsafeArchiveError, UsageError
from .names import unsafe_members
from .output import Stale, atomic_output, sweep_stale
from .plans import EXEC_MODE, FILE_MODE, PathLike
from .progress import OptionalProgress, Progress
from .reader import ArchiveView, Member, MemberKind, open_archive

#: Keep this much disk free beyond the declared total, for file system overhead.
DISK_MARGIN = 16 << 20
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".mar", ".war", ".zip", ".model")


@dataclass(frozen=True)
class ExtractResult:
    """What was extracted: the destination folder, the file members written and their size."""

    destination: Path
    members: tuple[Member, ...]
    size: int
    #: Temporaries of killed mararch processes removed from the destination's folder.
    swept: tuple[Stale, ...] = ()


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
            f"no member named {names} in {view.display!r}",
            hint="List the members with `mararch inspect`; names are relative to the model "
            "folder and use '/'.",
        )
    return [chosen[i] for i in sorted(chosen)]


def _check_ratios(view: ArchiveView, members: list[Member]) -> None:
    for bomb in likely_bombs(view, members):
        what = f"member {bomb.member!r}" if bomb.member else repr(view.display)
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


def _check_destination(destination: Path, archive: Path | None, force: bool) -> bool:
    """Whether an existing destination must be replaced; refuses what must not be."""
    dest, src = destination.resolve(), archive.resolve() if archive is not None else None
    if src is not None and (dest == src or src in dest.parents or dest in src.parents):
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
    head = f"refusing to extract {view.display!r}: {count} unsafe member{'s' * (count > 1)}"
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
    # A remote archive (view.transfer set) cannot be the destination or inside it.
    replace = _check_destination(destination, None if view.transfer else view.path, force)
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


__all__ = ["ExtractResult", "extract", "extract_view"]
