"""Crash-consistent output: a killed build leaves the previous output as it was, and no garbage.

A single file (a .mar, a .tar.gz) is written, on Linux, into an anonymous file (`O_TMPFILE`) in
the destination folder and linked into place when complete: a process killed before that leaves
nothing at all. Where that is not available (other systems, file systems without it, and folders:
`no-archive` builds and `extract`), the output is written under a hidden temporary name that
records its owner: the process id, and a lock that the owner holds while it runs (the kernel
drops it when the process dies, however it dies). The next build or extract into the same folder
removes the temporaries whose lock is free (`sweep_stale`) and reports them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputError

TEMP_MARKER = ".mararch-tmp-"
#: Beside each owned temporary: the file whose lock says its owner is alive.
LOCK_SUFFIX = ".lock"
#: `.NAME.mararch-KIND-PID-TOKEN`: the names `temp_name` makes (KIND: tmp, or old for a replaced
#: folder on its way out), and their lock files.
_OWNED = re.compile(
    r"^\.(?P<final>.+)\.mararch-(?P<kind>tmp|old)-(?P<pid>\d+)-[0-9a-f]{8}(?P<lock>\.lock)?$"
)
#: What `open(O_TMPFILE)` fails with where the kernel or the file system cannot do it.
_NO_TMPFILE = frozenset({errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT})
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, so nothing is swept there
    fcntl = None  # type: ignore[assignment]


def remove_path(path: Path) -> None:
    """Remove a file or folder if it exists; used to clean up temporaries."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def temp_name(final: Path, kind: str = "tmp") -> Path:
    """A hidden, unpredictable name beside `final`, recognisable as ours, naming its owner."""
    return final.parent / f".{final.name}.mararch-{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def lock_path(temp: Path) -> Path:
    return temp.with_name(temp.name + LOCK_SUFFIX)


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


# -- owners ------------------------------------------------------------------------------------
class Owner:
    """This process's claim on a temporary name: its lock file, created and locked before the
    temporary exists and removed after it is gone, so a temporary is never unowned."""

    def __init__(self, final: Path, kind: str = "tmp") -> None:
        while True:
            self.temp = temp_name(final, kind)
            self.lock = lock_path(self.temp)
            fd = os.open(self.lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o600)
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            # A sweeper may have taken the fresh, not yet locked file for a dead owner's and
            # removed it: then the lock is on nothing, and this claim starts again.
            if _same_file(fd, self.lock):
                self.fd = fd
                return
            os.close(fd)

    def release(self) -> None:
        """Remove the temporary (if still there), then the lock file; the lock goes last."""
        remove_path(self.temp)
        with contextlib.suppress(FileNotFoundError):
            self.lock.unlink()
        os.close(self.fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


@dataclass(frozen=True)
class Stale:
    """A temporary left by a mararch process that is gone, and that process's id; `restored` is
    set when it was a previous output moved aside and put back in place instead of removed."""

    path: Path
    pid: int
    restored: Path | None = None


def sweep_stale(folder: Path) -> list[Stale]:
    """Remove the temporaries in `folder` whose owner is gone (its lock is free); return them.

    Only names this module makes are touched, and only once their lock could be taken, so the
    temporaries of a build still running (in this process or another) are left alone.
    """
    if fcntl is None:
        return []
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed: list[Stale] = []
    for name in sorted(names):
        match = _OWNED.match(name)
        if match is None or not match["lock"]:
            continue
        lock = folder / name
        try:
            fd = os.open(lock, os.O_RDONLY | _CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its owner is alive
            temp = lock.with_name(name[: -len(LOCK_SUFFIX)])
            if os.path.lexists(temp):
                removed.append(_dispose(temp, folder / match["final"], match))
            if _same_file(fd, lock):  # (its lock file is bookkeeping, removed silently)
                lock.unlink()
        finally:
            os.close(fd)
    return removed


def _dispose(temp: Path, final: Path, match: re.Match[str]) -> Stale:
    """Remove an orphaned temporary; but a previous output moved aside for its replacement
    (killed between the two renames of `replace_dir`) goes back in place when nothing took it."""
    pid = int(match["pid"])
    if match["kind"] == "old" and not os.path.lexists(final):
        os.rename(temp, final)
        return Stale(temp, pid, restored=final)
    remove_path(temp)
    return Stale(temp, pid)


# -- anonymous files (Linux) -------------------------------------------------------------------
_PROC_FD = "/proc/self/fd"


def open_anonymous(folder: Path) -> int | None:
    """An unnamed file in `folder` (`O_TMPFILE`), or None where that cannot be done."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir(_PROC_FD):
        return None
    try:
        return os.open(folder, flag | os.O_RDWR | _CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno in _NO_TMPFILE:
            return None
        raise


@contextmanager
def _anonymous_file(final: Path, fd: int, force: bool) -> Iterator[Path]:
    # The writers open a path: /proc/self/fd/N reopens the unnamed file.
    try:
        yield Path(f"{_PROC_FD}/{fd}")
        check_destination(final, is_dir=False, force=force)
        # The data reaches the disk before the name does: after a power loss, the final name
        # holds the old output or the new one, not a hole.
        os.fsync(fd)
        # A link cannot replace a file: link under an owned temporary name, then rename.
        owner = Owner(final)
        try:
            dir_fd = os.open(final.parent, os.O_RDONLY | _CLOEXEC)
            try:
                # Through dst_dir_fd, os.link calls linkat(AT_SYMLINK_FOLLOW): it links the file
                # the /proc entry stands for (plain link() would link the /proc entry itself).
                os.link(f"{_PROC_FD}/{fd}", owner.temp.name, dst_dir_fd=dir_fd)
                os.replace(owner.temp, final)
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        finally:
            owner.release()
    finally:
        os.close(fd)


@contextmanager
def _owned_temporary(final: Path, is_dir: bool, force: bool) -> Iterator[Path]:
    owner = Owner(final)
    try:
        yield owner.temp
        check_destination(final, is_dir=is_dir, force=force)
        if is_dir:
            replace_dir(owner.temp, final)
        else:
            os.replace(owner.temp, final)
    finally:
        owner.release()


@contextmanager
def atomic_output(final: Path, *, is_dir: bool, force: bool) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `final`, on any failure
    (Ctrl-C included) it is removed and `final` is left as it was. Killed outright, the process
    leaves nothing (a file on Linux) or a temporary that `sweep_stale` recognises as orphaned."""
    check_destination(final, is_dir=is_dir, force=force)
    try:
        fd = None if is_dir else open_anonymous(final.parent)
        output = (
            _owned_temporary(final, is_dir, force)
            if fd is None
            else _anonymous_file(final, fd, force)
        )
        with output as tmp:
            yield tmp
    except OSError as exc:
        raise OutputError(
            f"cannot write {str(final)!r}: {exc.strerror}",
            path=str(final),
            hint="Check the export folder's permissions and free space.",
        ) from None


def replace_dir(tmp: Path, final: Path) -> None:
    """Put folder `tmp` in place of `final`; a folder cannot be replaced in one rename."""
    if not final.exists():
        os.rename(tmp, final)
        return
    old = Owner(final, "old")
    try:
        os.rename(final, old.temp)
        try:
            os.rename(tmp, final)
        except BaseException:
            os.rename(old.temp, final)
            raise
    finally:
        old.release()


__all__ = [
    "Stale",
    "atomic_output",
    "check_destination",
    "prepare_export_dir",
    "sweep_stale",
    "temp_name",
]
