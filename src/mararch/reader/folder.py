"""An unpacked model folder (TorchServe's no-archive models) read as an archive."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import ArchiveError
from ..plans import MANIFEST_NAME
from .view import (
    MAX_MEMBERS,
    ArchiveView,
    Container,
    Member,
    MemberKind,
    Window,
    kind_of_mode,
    read_declared,
    uncompressed_member,
)


class FolderView(ArchiveView):
    container = Container.FOLDER

    def __init__(self, path: Path) -> None:
        root = self._model_root(path)
        self.root = root
        members: list[Member] = []
        self._walk(root, members)
        super().__init__(path, members, str(root))

    @staticmethod
    def _model_root(path: Path) -> Path:
        # TorchServe uses a folder holding exactly one folder (and no manifest) one level down.
        try:
            entries = [e for e in os.scandir(path) if e.name not in (".DS_Store",)]
        except OSError as exc:
            raise ArchiveError(f"cannot read folder {str(path)!r}: {exc.strerror}") from None
        if (
            len(entries) == 1
            and entries[0].name != MANIFEST_NAME.split("/")[0]
            and entries[0].is_dir(follow_symlinks=False)
        ):
            return Path(entries[0].path)
        return path

    @staticmethod
    def _scan(folder: str) -> Iterator[os.DirEntry[str]]:
        try:
            return iter(sorted(os.scandir(folder), key=lambda e: e.name))
        except OSError as exc:
            raise ArchiveError(f"cannot read folder {folder!r}: {exc.strerror}") from None

    def _walk(self, root: Path, members: list[Member]) -> None:
        # Depth first, in name order, without recursion: a folder may nest deeper than Python's
        # recursion limit.
        stack = [("", self._scan(str(root)))]
        while stack:
            prefix, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                continue
            if len(members) >= MAX_MEMBERS:
                raise ArchiveError(f"{str(self.path)!r} holds more than {MAX_MEMBERS} files")
            name = prefix + entry.name
            target = None
            try:
                st = entry.stat(follow_symlinks=False)
                mode, size = st.st_mode, st.st_size
                if stat.S_ISLNK(mode):
                    target = os.readlink(entry.path)
            except OSError as exc:
                raise ArchiveError(f"cannot read {entry.path!r}: {exc.strerror}") from None
            kind = kind_of_mode(mode)
            members.append(
                uncompressed_member(
                    name,
                    name,
                    kind,
                    size,
                    method="file",
                    link_target=target,
                    mode=mode,
                    index=len(members),
                )
            )
            if kind is MemberKind.DIR:
                stack.append((name + "/", self._scan(entry.path)))

    @property
    def archive_size(self) -> int:
        return self.total_size

    def _path(self, member: Member) -> Path:
        return self.root.joinpath(*member.name.split("/"))

    def open_window(self, member: Member) -> BinaryIO | None:
        if not member.is_file:
            return None
        try:
            fh = _open_file(self._path(member))
        except OSError:
            return None
        return Window(fh, 0, member.size)  # type: ignore[return-value]

    def _iter_data(self, member: Member, chunk_size: int) -> Iterator[bytes]:
        path = self._path(member)
        produced = 0
        try:
            with _open_file(path) as fh:
                produced = yield from read_declared(fh, member.size, chunk_size)
                grown = bool(fh.read(1))
        except OSError as exc:
            raise ArchiveError(
                f"cannot read {str(path)!r}: {exc.strerror}", member=member.name
            ) from None
        if produced != member.size or grown:
            raise ArchiveError(
                f"{str(path)!r} changed while it was being read",
                member=member.name,
                code="member-size",
            )


def _open_file(path: Path) -> io.BufferedReader:
    """A member's file opened for reading, never through a symlink (one swapped in after the
    listing)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    return os.fdopen(os.open(path, flags), "rb")
