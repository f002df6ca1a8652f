"""What every container shares: the member listing (`Member`, `MemberKind`), the view over an
archive (`ArchiveView`), the manifest's parsing, and the streams that read member data."""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO

from ..errors import ArchiveError
from ..plans import MANIFEST_NAME

#: Read member data in chunks this large.
CHUNK_SIZE = 1 << 20
#: A manifest larger than this is refused (a real one is well under 4 KiB).
MAX_MANIFEST_SIZE = 1 << 20
#: More members than this is refused: no model needs it, and the listing must stay small in memory.
MAX_MEMBERS = 200_000


class Container(str, Enum):
    """How the archive is stored on disk."""

    ZIP = "zip"
    TGZ = "tgz"
    FOLDER = "folder"


class MemberKind(str, Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    #: Devices, FIFOs, sockets, sparse tar members: nothing a model archive may hold.
    SPECIAL = "special"


@dataclass(frozen=True)
class Member:
    """One entry of an archive, as declared by the archive (nothing here is verified yet).

    `name` is relative to the model root, with '/' separators (for tar the first path component is
    stripped, as TorchServe does); `raw_name` is the name as stored. `size` is the declared
    uncompressed size. `method` is "stored", "deflated" (or another zip method's name, or
    "method-N"), "tar" or "file". `crc` is the declared CRC-32 (zip only). `index` is the position
    in the archive; `mode` the Unix permission bits when the archive records them.
    """

    name: str
    size: int
    compressed_size: int
    method: str
    kind: MemberKind = MemberKind.FILE
    crc: int | None = None
    raw_name: str = ""
    link_target: str | None = None
    encrypted: bool = False
    flags: int = 0
    header_offset: int | None = None
    mode: int | None = None
    index: int = 0

    @property
    def is_file(self) -> bool:
        return self.kind is MemberKind.FILE

    @property
    def ratio(self) -> float | None:
        """Uncompressed / compressed size; None when the member has no compressed bytes."""
        return self.size / self.compressed_size if self.compressed_size else None


def kind_of_mode(mode: int) -> MemberKind:
    """The kind of an entry whose Unix mode records its file type."""
    if stat.S_ISLNK(mode):
        return MemberKind.SYMLINK
    if stat.S_ISDIR(mode):
        return MemberKind.DIR
    if stat.S_ISREG(mode):
        return MemberKind.FILE
    return MemberKind.SPECIAL


def uncompressed_member(
    name: str,
    raw_name: str,
    kind: MemberKind,
    size: int,
    *,
    method: str,
    link_target: str | None,
    mode: int,
    index: int,
) -> Member:
    """A member of a container that does not compress (tar, folder): only a file has a size."""
    size = size if kind is MemberKind.FILE else 0
    return Member(
        name=name,
        raw_name=raw_name,
        size=size,
        compressed_size=size,
        method=method,
        kind=kind,
        link_target=link_target,
        mode=stat.S_IMODE(mode),
        index=index,
    )


class ArchiveView:
    """A listed archive: `members` in archive order (duplicates kept), and access to their data.

    Use as a context manager, or call `close()`.
    """

    container: Container

    def __init__(self, path: Path, members: list[Member], model_root: str | None) -> None:
        self.path = path
        #: How messages name the archive: the path, or a URL without its secrets.
        self.display = str(path)
        #: For a remote archive, what was fetched to read it (`remote_read.Transfer`).
        self.transfer: Any = None
        self.members = members
        #: tgz: the first path component as stored (e.g. "resnet" or "."); folder: the folder
        #: actually used (a folder holding exactly one folder is read one level down); zip: None.
        self.model_root = model_root

    # -- context manager ------------------------------------------------------------------------
    def __enter__(self) -> ArchiveView:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release open files; the view cannot read data afterwards."""

    # -- listing ----------------------------------------------------------------------------------
    @property
    def archive_size(self) -> int:
        """Bytes on disk: the file size, or the sum of file sizes for a folder."""
        return self.path.stat().st_size

    @property
    def total_size(self) -> int:
        """Declared uncompressed size of all members."""
        return sum(m.size for m in self.members)

    @property
    def compressed_size(self) -> int:
        return sum(m.compressed_size for m in self.members)

    def find(self, name: str) -> list[Member]:
        """Every member called `name` (relative to the model root); more than one is a duplicate."""
        return [m for m in self.members if m.name == name]

    def get(self, name: str) -> Member | None:
        """The first member called `name`, or None."""
        for m in self.members:
            if m.name == name:
                return m
        return None

    def manifest_member(self) -> Member | None:
        return self.get(MANIFEST_NAME)

    def manifest_raw(self) -> bytes | None:
        """The bytes of `MAR-INF/MANIFEST.json`, or None when there is none."""
        member = self.manifest_member()
        if member is None:
            return None
        if not member.is_file:
            raise ArchiveError(
                f"{MANIFEST_NAME!r} is a {member.kind.value}, not a file",
                member=member.name,
                code="manifest-invalid",
            )
        return self.read_member(member, MAX_MANIFEST_SIZE)

    def manifest(self) -> dict[str, Any] | None:
        """The parsed manifest, or None if absent; ArchiveError unless it is a JSON object."""
        raw = self.manifest_raw()
        return None if raw is None else parse_manifest(raw)

    # -- data -------------------------------------------------------------------------------------
    def iter_member(self, member: Member, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield a file member's data in chunks, checked against the declared size (and CRC).

        Never yields more than `member.size` bytes in total; raises ArchiveError when the data is
        longer, shorter or corrupt. Only FILE members have data.
        """
        if not member.is_file:
            raise ArchiveError(
                f"member {member.name!r} is a {member.kind.value}, not a file", member=member.name
            )
        return self._iter_data(member, chunk_size)

    def _iter_data(self, member: Member, chunk_size: int) -> Iterator[bytes]:
        raise NotImplementedError

    def open_member(self, member: Member) -> BinaryIO:
        """A binary stream of a file member's data, with the checks of `iter_member`."""
        return _ChunkStream(self.iter_member(member))  # type: ignore[return-value]

    def open_window(self, member: Member) -> BinaryIO | None:
        """A seekable stream of a file member's data (unchecked), or None when the container
        cannot seek inside it (a deflated zip member, a tar.gz): for reading a nested zip by its
        own central directory without reading the whole member."""
        return None

    def read_member(self, member: Member, limit: int) -> bytes:
        """A member's whole data; ArchiveError when it declares more than `limit` bytes."""
        if member.size > limit:
            raise ArchiveError(
                f"member {member.name!r} declares {member.size} bytes, more than the {limit} "
                "allowed here",
                member=member.name,
            )
        return b"".join(self.iter_member(member))


def parse_manifest(raw: bytes, name: str = MANIFEST_NAME) -> dict[str, Any]:
    """A manifest's bytes parsed (`name`: the member, in messages); ArchiveError unless they are
    a JSON object."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ArchiveError(
            f"{name} is not UTF-8 text",
            member=name,
            hint="Rebuild the archive with mararch create.",
            code="manifest-invalid",
        ) from None
    except json.JSONDecodeError as exc:
        raise ArchiveError(
            f"{name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            member=name,
            hint="Rebuild the archive with mararch create.",
            code="manifest-invalid",
        ) from None
    except (RecursionError, ValueError) as exc:
        # Nesting deeper than the parser's stack, integers longer than Python converts.
        raise ArchiveError(
            f"{name} cannot be parsed: {exc}",
            member=name,
            code="manifest-invalid",
        ) from None
    if not isinstance(data, dict):
        raise ArchiveError(
            f"{name} holds a JSON {type(data).__name__}, expected an object",
            member=name,
            code="manifest-invalid",
        )
    return data


def read_declared(stream: IO[bytes], size: int, chunk_size: int) -> Generator[bytes, None, int]:
    """Yield at most `size` bytes of `stream` in chunks; return how many there were."""
    produced = 0
    while produced < size:
        data = stream.read(min(chunk_size, size - produced))
        if not data:
            break
        produced += len(data)
        yield data
    return produced


class _ChunkStream(io.RawIOBase):
    """A read-only stream over a chunk iterator."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buffer and not self._done:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                self._done = True
        n = min(len(b), len(self._buffer))
        b[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        super().close()


class OffsetReader(io.RawIOBase):
    """A seekable, read-only stream over a source read by offset (`_read_at`); each reader has
    its own position, so several members can be read at once."""

    def __init__(self) -> None:
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._end()}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        data = self._read_at(self._pos, len(view))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _end(self) -> int:
        raise NotImplementedError

    def _read_at(self, start: int, length: int) -> bytes:
        raise NotImplementedError


class Window(OffsetReader):
    """Bytes [start, start + size) of an open file, seekable, as a file of their own."""

    def __init__(self, fh: BinaryIO, start: int, size: int) -> None:
        super().__init__()
        self._fh, self._start, self._size = fh, start, size

    def _end(self) -> int:
        return self._size

    def _read_at(self, start: int, length: int) -> bytes:
        self._fh.seek(self._start + start)
        return self._fh.read(max(0, min(length, self._size - start)))

    def close(self) -> None:
        self._fh.close()
        super().close()
