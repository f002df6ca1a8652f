"""`.tar.gz` archives, read as TorchServe reads them (the first path component stripped), with
the gzip stream guarded against headers that would exhaust memory."""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import ArchiveError
from .view import (
    CHUNK_SIZE,
    MAX_MEMBERS,
    ArchiveView,
    Container,
    Member,
    MemberKind,
    read_declared,
    uncompressed_member,
)

GZIP_MAGIC = b"\x1f\x8b"

_TAR_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error, ValueError, OverflowError)


def strip_first_component(raw: str) -> str:
    """TorchServe's rule for tar members: drop everything up to the first '/'."""
    return raw.split("/", 1)[1] if "/" in raw else raw


#: The largest single read tarfile may make: its extended (PAX, GNU long name) headers are read
#: whole into memory, so a tiny archive declaring a huge header would otherwise exhaust it.
MAX_TAR_READ = 16 << 20
#: Zero padding allowed after a tar's end-of-archive marker (tar pads to 10 KiB records).
MAX_TAR_TRAILER = 4 << 20


class _GuardedGzip(gzip.GzipFile):
    """The gzip stream under tarfile, refusing reads larger than any header or chunk needs."""

    def __init__(self, path: Path, fileobj: BinaryIO | None = None) -> None:
        if fileobj is not None:
            # A remote archive spooled once: the name only labels messages.
            super().__init__(filename=str(path), mode="rb", fileobj=fileobj)
        else:
            super().__init__(filename=str(path), mode="rb")

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > MAX_TAR_READ:
            raise ArchiveError(
                f"{self.name!r} has a tar header of {size} bytes; mararch reads at most "
                f"{MAX_TAR_READ} (a memory-exhaustion attack?)",
                hint="Do not use this archive.",
            )
        return super().read(size)


class TarView(ArchiveView):
    container = Container.TGZ

    def __init__(
        self, path: Path, fileobj: BinaryIO | None = None, display: str | None = None
    ) -> None:
        self._infos: list[tarfile.TarInfo] = []
        self._gz: gzip.GzipFile | None = None
        self._tar: tarfile.TarFile | None = None
        self._fileobj = fileobj
        shown = display or str(path)
        members, root = self._list(path, shown)
        super().__init__(path, members, root)
        self.display = shown

    @property
    def archive_size(self) -> int:
        if self._fileobj is not None:
            return self._fileobj.seek(0, io.SEEK_END)
        return self.path.stat().st_size

    def _list(self, path: Path, shown: str) -> tuple[list[Member], str | None]:
        try:
            self._gz = _GuardedGzip(path, self._fileobj)
            self._tar = tarfile.open(fileobj=self._gz, mode="r:")  # noqa: SIM115 - kept open for reading members
            members: list[Member] = []
            root: str | None = None
            while True:
                info = self._tar.next()
                if info is None:
                    break
                if len(self._infos) >= MAX_MEMBERS:
                    raise ArchiveError(
                        f"{shown!r} holds more than {MAX_MEMBERS} members, "
                        "more than mararch accepts"
                    )
                raw = info.name
                if root is None:
                    root = raw.split("/", 1)[0]
                name = strip_first_component(raw).rstrip("/")
                kind = self._kind(info)
                if kind is MemberKind.DIR and (name in ("", ".") or "/" not in raw):
                    self._infos.append(info)
                    continue  # the model folder itself
                self._infos.append(info)
                members.append(
                    uncompressed_member(
                        name,
                        raw,
                        kind,
                        info.size,
                        method="tar",
                        link_target=info.linkname or None,
                        mode=info.mode,
                        index=len(self._infos) - 1,
                    )
                )
            self._check_trailer(shown)
            return members, root
        except ArchiveError:
            self.close()
            raise
        except _TAR_ERRORS as exc:
            self.close()
            raise ArchiveError(
                f"{shown!r} is not a readable .tar.gz archive: {exc or type(exc).__name__}",
                hint="The file is damaged or truncated; download or build it again.",
            ) from None

    def _check_trailer(self, path: str) -> None:
        # Reading to the end makes gzip check its CRC (tar has none of its own), and finds data
        # hidden after the end-of-archive marker, which some tools would still extract.
        assert self._tar is not None and self._tar.fileobj is not None
        seen = 0
        while chunk := self._tar.fileobj.read(CHUNK_SIZE):
            seen += len(chunk)
            if chunk.strip(b"\0"):
                raise ArchiveError(
                    f"{path!r} has data after the tar end-of-archive marker",
                    hint="Members hidden there are seen by some tools and not others; "
                    "do not use this archive.",
                )
            if seen > MAX_TAR_TRAILER:
                # Real padding is a few KiB; gigabytes of zeros are a decompression bomb.
                raise ArchiveError(
                    f"{path!r} has more than {MAX_TAR_TRAILER} bytes of padding after "
                    "the tar end-of-archive marker",
                    hint="This looks like a decompression bomb; do not use this archive.",
                )

    @staticmethod
    def _kind(info: tarfile.TarInfo) -> MemberKind:
        if info.issym():
            return MemberKind.SYMLINK
        if info.islnk():
            return MemberKind.HARDLINK
        if info.isdir():
            return MemberKind.DIR
        if info.isreg() and not info.issparse():
            return MemberKind.FILE
        return MemberKind.SPECIAL

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None
        if self._gz is not None:
            self._gz.close()
            self._gz = None
        if self._fileobj is not None:
            self._fileobj.close()

    def _iter_data(self, member: Member, chunk_size: int) -> Iterator[bytes]:
        if self._tar is None:
            raise ArchiveError(f"{self.display!r} is closed")
        info = self._infos[member.index]
        produced = 0
        try:
            stream = self._tar.extractfile(info)
            if stream is None:
                raise ArchiveError(f"member {member.name!r} has no data", member=member.name)
            with stream:
                produced = yield from read_declared(stream, member.size, chunk_size)
        except ArchiveError:
            raise
        except _TAR_ERRORS as exc:
            raise ArchiveError(
                f"member {member.name!r} cannot be read: {exc}",
                member=member.name,
                hint="The archive is damaged or truncated.",
            ) from None
        if produced != member.size:
            raise ArchiveError(
                f"member {member.name!r} holds {produced} bytes, not the {member.size} it declares",
                member=member.name,
                code="member-size",
            )
