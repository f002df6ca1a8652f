"""One reader for every model archive: `.mar` (zip), `.tar.gz`, or an unpacked folder.

`open_archive(path)` picks the container by content, lists the members and returns an
`ArchiveView`; `inspect`, `verify` and `extract` all start from it, so there is one place that
parses archives. Listing a zip reads the central directory only, never member data. Member data is
streamed through `iter_member`/`open_member`, which never yield more bytes than the archive
declares and raise `ArchiveError` when the data is shorter, longer or fails its CRC.

Every problem with the input, hostile or merely broken, is raised as `ArchiveError`.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import struct
import tarfile
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from enum import Enum
from itertools import pairwise
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO, Protocol

from .. import zipformat as zf
from ..errors import ArchiveError
from ..plans import MANIFEST_NAME, PathLike

#: Read member data in chunks this large.
CHUNK_SIZE = 1 << 20
#: A manifest larger than this is refused (a real one is well under 4 KiB).
MAX_MANIFEST_SIZE = 1 << 20
#: More members than this is refused: no model needs it, and the listing must stay small in memory.
MAX_MEMBERS = 200_000

GZIP_MAGIC = b"\x1f\x8b"


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


def _read_declared(stream: IO[bytes], size: int, chunk_size: int) -> Generator[bytes, None, int]:
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


class _Window(OffsetReader):
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


# ---------------------------------------------------------------------------------------------
# zip
# ---------------------------------------------------------------------------------------------


def _zip_error(path: object, what: str) -> ArchiveError:
    return ArchiveError(
        f"{str(path)!r} is not a readable zip archive: {what}",
        hint="The file is damaged or truncated; download or build it again.",
    )


def _decode_zip_name(raw: bytes, flags: int) -> str:
    if flags & zf.FLAG_UTF8:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ArchiveError(
                f"member name {raw!r} is flagged UTF-8 but is not valid UTF-8",
                member=raw.decode("utf-8", "replace"),
            ) from None
    # Java (TorchServe) decodes names as UTF-8; cp437 is the zip standard's fallback.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp437")


def _zip64_extra(extra: bytes, size: int, csize: int, offset: int) -> tuple[int, int, int]:
    """Replace the 0xFFFFFFFF placeholders by the ZIP64 extra field's values, in spec order."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = zf.EXTRA_HEADER.unpack_from(extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == zf.ZIP64_EXTRA_TAG:
            values = [v[0] for v in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
            if size == zf.U32 and values:
                size = values.pop(0)
            if csize == zf.U32 and values:
                csize = values.pop(0)
            if offset == zf.U32 and values:
                offset = values.pop(0)
            break
        pos += 4 + length
    return size, csize, offset


class RandomAccess(Protocol):
    """Bytes read by offset from somewhere other than a local file (`remote_read`)."""

    display: str
    size: int

    def open(self) -> BinaryIO: ...


class ZipView(ArchiveView):
    container = Container.ZIP

    def __init__(self, path: Path, source: RandomAccess | None = None) -> None:
        self.cd_offset = 0
        self._source = source
        self.path = path  # (read by _open before the base class sets it)
        shown = source.display if source is not None else str(path)
        members = self._list(shown)
        super().__init__(path, members, None)
        self.display = shown

    def _open(self) -> BinaryIO:
        if self._source is not None:
            return self._source.open()
        return self.path.open("rb")

    @property
    def archive_size(self) -> int:
        return self._source.size if self._source is not None else self.path.stat().st_size

    def _list(self, path: str) -> list[Member]:
        try:
            with self._open() as fh:
                if self._source is not None:
                    file_size = self._source.size
                else:
                    file_size = os.fstat(fh.fileno()).st_size
                return self._parse(path, fh, file_size)
        except OSError as exc:
            raise ArchiveError(f"cannot read {path!r}: {exc.strerror}") from None
        except struct.error:
            raise _zip_error(path, "a record is cut short") from None

    def _parse(self, path: str, fh: BinaryIO, file_size: int) -> list[Member]:
        tail_len = min(file_size, zf.END_RECORD.size + zf.MAX_COMMENT)
        fh.seek(file_size - tail_len)
        tail = fh.read(tail_len)
        pos = tail.rfind(zf.END_SIG)
        while pos >= 0 and pos + zf.END_RECORD.size > len(tail):
            pos = tail.rfind(zf.END_SIG, 0, pos)
        if pos < 0:
            raise _zip_error(path, "no end of central directory record (truncated?)")
        eocd_pos = file_size - tail_len + pos
        (_, disk, cd_disk, _n_disk, count, cd_size, cd_offset, _comment_len) = (
            zf.END_RECORD.unpack_from(tail, pos)
        )
        end_of_cd = eocd_pos
        locator = eocd_pos - zf.ZIP64_LOCATOR.size
        if locator >= 0:
            fh.seek(locator)
            loc = fh.read(zf.ZIP64_LOCATOR.size)
            if loc[:4] == zf.ZIP64_LOCATOR_SIG:
                _, _, z64_pos, _ = zf.ZIP64_LOCATOR.unpack(loc)
                if z64_pos + zf.ZIP64_END_RECORD.size > locator:
                    raise _zip_error(path, "the ZIP64 end record points outside the file")
                fh.seek(z64_pos)
                rec = fh.read(zf.ZIP64_END_RECORD.size)
                if rec[:4] != zf.ZIP64_END_SIG:
                    raise _zip_error(path, "the ZIP64 end record is missing")
                (_, _, _, _, disk, cd_disk, _, count, cd_size, cd_offset) = (
                    zf.ZIP64_END_RECORD.unpack(rec)
                )
                end_of_cd = z64_pos
        if disk != 0 or cd_disk != 0:
            raise _zip_error(path, "multi-disk (split) archives are not supported")
        if cd_offset + cd_size != end_of_cd:
            raise _zip_error(
                path,
                f"the central directory should end at byte {end_of_cd} but is declared at "
                f"{cd_offset}+{cd_size} (data prepended, or the archive is damaged)",
            )
        if count > MAX_MEMBERS:
            raise ArchiveError(
                f"{path!r} declares {count} members, more than the {MAX_MEMBERS} mararch accepts"
            )
        if count * zf.CENTRAL_HEADER.size > cd_size:
            raise _zip_error(path, f"{count} members cannot fit in a {cd_size}-byte directory")
        fh.seek(cd_offset)
        cd = fh.read(cd_size)
        if len(cd) != cd_size:
            raise _zip_error(path, "the central directory is cut short")
        self.cd_offset = cd_offset
        members: list[Member] = []
        p = 0
        for index in range(count):
            if cd[p : p + 4] != zf.CENTRAL_SIG:
                raise _zip_error(path, f"central directory entry {index} has a bad signature")
            (
                _,
                _made_ver,
                made_os,
                _need,
                flags,
                method,
                _t,
                _d,
                crc,
                csize,
                size,
                n_len,
                e_len,
                c_len,
                _disk,
                _iattr,
                eattr,
                offset,
            ) = zf.CENTRAL_HEADER.unpack_from(cd, p)
            start = p + zf.CENTRAL_HEADER.size
            end = start + n_len + e_len + c_len
            if end > cd_size:
                raise _zip_error(path, f"central directory entry {index} runs past its end")
            raw = cd[start : start + n_len]
            extra = cd[start + n_len : start + n_len + e_len]
            p = end
            size, csize, offset = _zip64_extra(extra, size, csize, offset)
            name = _decode_zip_name(raw, flags)
            mode = (eattr >> 16) & zf.U16 if made_os == zf.HOST_UNIX else None
            kind = MemberKind.FILE
            if mode is not None and stat.S_IFMT(mode):
                if stat.S_ISLNK(mode):
                    kind = MemberKind.SYMLINK
                elif stat.S_ISDIR(mode):
                    kind = MemberKind.DIR
                elif not stat.S_ISREG(mode):
                    kind = MemberKind.SPECIAL
            if kind is MemberKind.FILE and (
                name.endswith("/") or (made_os == zf.HOST_DOS and eattr & zf.DOS_DIRECTORY)
            ):
                kind = MemberKind.DIR
            if offset + zf.LOCAL_HEADER.size + n_len + csize > cd_offset:
                raise _zip_error(
                    path,
                    f"member {name!r} lies outside the data area (offset {offset}, {csize} bytes)",
                )
            members.append(
                Member(
                    name=name.rstrip("/") if kind is MemberKind.DIR else name,
                    raw_name=name,
                    size=size,
                    compressed_size=csize,
                    method=zf.method_name(method),
                    kind=kind,
                    crc=crc,
                    encrypted=bool(flags & zf.FLAG_ENCRYPTED),
                    flags=flags,
                    header_offset=offset,
                    mode=stat.S_IMODE(mode) if mode is not None else None,
                    index=index,
                )
            )
        if p != cd_size:
            raise _zip_error(path, f"{cd_size - p} stray bytes after the last directory entry")
        # Members sharing bytes let a tiny file expand to petabytes (overlapping-entry bombs).
        ordered = sorted(members, key=lambda m: m.header_offset or 0)
        for a, b in pairwise(ordered):
            a_end = (
                (a.header_offset or 0)
                + zf.LOCAL_HEADER.size
                + len(a.raw_name.encode("utf-8", "replace"))
                + a.compressed_size
            )
            if (b.header_offset or 0) < a_end:
                raise ArchiveError(
                    f"members {a.name!r} and {b.name!r} overlap inside {path!r}",
                    member=b.name,
                    hint="Overlapping members are a zip-bomb technique; do not use this archive.",
                    code="member-overlap",
                )
        return members

    def _iter_data(self, member: Member, chunk_size: int) -> Iterator[bytes]:
        return self._iter_zip(member, chunk_size, raw=False)

    def open_window(self, member: Member) -> BinaryIO | None:
        if not member.is_file or member.method != "stored" or member.encrypted:
            return None
        try:
            fh = self.path.open("rb")
        except OSError:
            return None
        try:
            start = self._data_start(fh, member)
        except (OSError, ArchiveError):
            fh.close()
            return None  # the integrity pass reports it
        return _Window(fh, start, member.size)  # type: ignore[return-value]

    def iter_stored(self, member: Member, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield a file member's data as stored (still compressed), for copying it into another
        zip unchanged; the data is inflated alongside and checked exactly as `iter_member` does."""
        if not member.is_file:
            raise ArchiveError(
                f"member {member.name!r} is a {member.kind.value}, not a file", member=member.name
            )
        return self._iter_zip(member, chunk_size, raw=True)

    def _iter_zip(self, member: Member, chunk_size: int, raw: bool) -> Iterator[bytes]:
        name = member.name
        if member.encrypted:
            raise ArchiveError(
                f"member {name!r} is encrypted",
                member=name,
                hint="TorchServe cannot read encrypted members either.",
                code="member-encrypted",
            )
        if member.method not in ("stored", "deflated"):
            raise ArchiveError(
                f"member {name!r} uses compression method {member.method!r}; only stored and "
                "deflated are supported (as by TorchServe)",
                member=name,
                code="member-method",
            )
        if member.method == "stored" and member.compressed_size != member.size:
            raise ArchiveError(
                f"stored member {name!r} declares {member.size} bytes but holds "
                f"{member.compressed_size}",
                member=name,
                code="header-mismatch",
            )
        try:
            fh = self._open()
        except OSError as exc:
            raise ArchiveError(f"cannot read {self.display!r}: {exc.strerror}") from None
        with fh:
            try:
                start = self._data_start(fh, member)
                fh.seek(start)
                yield from self._checked(fh, member, chunk_size, raw)
            except OSError as exc:
                raise ArchiveError(f"cannot read {self.display!r}: {exc.strerror}") from None
            except zlib.error as exc:
                raise ArchiveError(
                    f"member {name!r} is corrupt: {exc}", member=name, code="member-crc"
                ) from None

    def _data_start(self, fh: BinaryIO, member: Member) -> int:
        offset = member.header_offset or 0
        fh.seek(offset)
        header = fh.read(zf.LOCAL_HEADER.size)
        if len(header) != zf.LOCAL_HEADER.size or header[:4] != zf.LOCAL_SIG:
            raise ArchiveError(
                f"member {member.name!r}: no local header at byte {offset}",
                member=member.name,
                code="header-mismatch",
            )
        (_, _, flags, method, _, _, crc, csize, size, n_len, e_len) = zf.LOCAL_HEADER.unpack(header)
        local_name = fh.read(n_len)
        if _decode_zip_name(local_name, flags) != member.raw_name:
            raise ArchiveError(
                f"member {member.name!r} is called {local_name!r} in its local header; the "
                "two names disagree, so different tools would see different files",
                member=member.name,
                code="header-mismatch",
            )
        if zf.method_name(method) != member.method:
            raise ArchiveError(
                f"member {member.name!r}: local header and central directory "
                "disagree on the compression method",
                member=member.name,
                code="header-mismatch",
            )
        if not flags & zf.FLAG_DATA_DESCRIPTOR:
            extra = fh.read(e_len)
            size, csize, _ = _zip64_extra(extra, size, csize, 0)
            if (crc, csize, size) != (member.crc, member.compressed_size, member.size):
                raise ArchiveError(
                    f"member {member.name!r}: local header and central directory disagree on "
                    "its size or CRC (TorchServe reads the local header)",
                    member=member.name,
                    code="header-mismatch",
                )
        start = offset + zf.LOCAL_HEADER.size + int(n_len) + int(e_len)
        if start + member.compressed_size > self.cd_offset:
            raise ArchiveError(
                f"member {member.name!r} runs past the end of the data area",
                member=member.name,
                code="member-size",
            )
        return start

    def _checked(
        self, fh: BinaryIO, member: Member, chunk_size: int, raw: bool = False
    ) -> Iterator[bytes]:
        """The member's data, inflated and checked; with `raw`, the stored bytes are yielded."""
        name = member.name
        remaining_in = member.compressed_size
        produced = 0
        crc = 0
        inflater = zlib.decompressobj(-15) if member.method == "deflated" else None
        while remaining_in > 0 or (inflater is not None and inflater.unconsumed_tail):
            if inflater is not None and inflater.unconsumed_tail:
                data = inflater.unconsumed_tail
            else:
                data = fh.read(min(chunk_size, remaining_in))
                if not data:
                    raise ArchiveError(
                        f"member {name!r} is truncated", member=name, code="member-size"
                    )
                remaining_in -= len(data)
                if raw:
                    yield data
            if inflater is not None:
                # Ask for at most one byte past the declared size: enough to catch a lie.
                out = inflater.decompress(data, max(1, min(chunk_size, member.size - produced + 1)))
            else:
                out = data
            if produced + len(out) > member.size:
                raise ArchiveError(
                    f"member {name!r} holds more data than the {member.size} bytes it declares",
                    member=name,
                    hint="The archive lies about its sizes; do not use it.",
                    code="member-size",
                )
            produced += len(out)
            crc = zlib.crc32(out, crc)
            if out and not raw:
                yield out
            if inflater is not None and inflater.eof:
                break
        if inflater is not None and not inflater.eof:
            raise ArchiveError(
                f"member {name!r} is truncated: its compressed data ends early",
                member=name,
                code="member-size",
            )
        if produced != member.size:
            raise ArchiveError(
                f"member {name!r} holds {produced} bytes, not the {member.size} it declares",
                member=name,
                code="member-size",
            )
        if crc != member.crc:
            raise ArchiveError(
                f"member {name!r} fails its CRC check (declared {member.crc or 0:08x}, "
                f"actual {crc:08x})",
                member=name,
                hint="The archive is corrupt; download or build it again.",
                code="member-crc",
            )


# ---------------------------------------------------------------------------------------------
# tar.gz
# ---------------------------------------------------------------------------------------------

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
                size = info.size if kind is MemberKind.FILE else 0
                members.append(
                    Member(
                        name=name,
                        raw_name=raw,
                        size=size,
                        compressed_size=size,
                        method="tar",
                        kind=kind,
                        link_target=info.linkname or None,
                        mode=stat.S_IMODE(info.mode),
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
                produced = yield from _read_declared(stream, member.size, chunk_size)
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


# ---------------------------------------------------------------------------------------------
# folder (no-archive)
# ---------------------------------------------------------------------------------------------


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
            if stat.S_ISLNK(mode):
                kind = MemberKind.SYMLINK
            elif stat.S_ISDIR(mode):
                kind = MemberKind.DIR
            elif stat.S_ISREG(mode):
                kind = MemberKind.FILE
            else:
                kind = MemberKind.SPECIAL
            size = size if kind is MemberKind.FILE else 0
            members.append(
                Member(
                    name=name,
                    raw_name=name,
                    size=size,
                    compressed_size=size,
                    method="file",
                    kind=kind,
                    link_target=target,
                    mode=stat.S_IMODE(mode),
                    index=len(members),
                )
            )
            if kind is MemberKind.DIR:
                stack.append((name + "/", self._scan(entry.path)))

    @property
    def archive_size(self) -> int:
        return self.total_size

    def open_window(self, member: Member) -> BinaryIO | None:
        if not member.is_file:
            return None
        path = self.root.joinpath(*member.name.split("/"))
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            fh = os.fdopen(os.open(path, flags), "rb")
        except OSError:
            return None
        return _Window(fh, 0, member.size)  # type: ignore[return-value]

    def _iter_data(self, member: Member, chunk_size: int) -> Iterator[bytes]:
        path = self.root.joinpath(*member.name.split("/"))
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        produced = 0
        try:
            fd = os.open(path, flags)
            fh: IO[bytes] = os.fdopen(fd, "rb")
            with fh:
                produced = yield from _read_declared(fh, member.size, chunk_size)
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


# ---------------------------------------------------------------------------------------------


def detect_container(path: Path) -> Container:
    """ZIP, TGZ or FOLDER, by content (not by name); ArchiveError for anything else."""
    if path.is_dir():
        return Container.FOLDER
    try:
        # Opening a FIFO or a device would block or read forever: look before opening.
        if not stat.S_ISREG(path.stat().st_mode):
            raise ArchiveError(
                f"{str(path)!r} is not a model archive: it is not a regular file "
                "(a FIFO, socket or device?)",
                hint="Give a .mar, a .tar.gz, or the folder of a no-archive model.",
                code="not-an-archive",
            )
        with path.open("rb") as fh:
            head = fh.read(4)
    except FileNotFoundError:
        raise ArchiveError(
            f"{str(path)!r} does not exist", hint="Check the path of the archive."
        ) from None
    except OSError as exc:
        raise ArchiveError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    if head in (zf.LOCAL_SIG, zf.END_SIG):
        return Container.ZIP
    if head[:2] == GZIP_MAGIC:
        return Container.TGZ
    what = "an empty file" if not head else "neither a zip (.mar) nor a gzip (.tar.gz) file"
    raise ArchiveError(
        f"{str(path)!r} is not a model archive: it is {what}",
        hint="Give a .mar, a .tar.gz, or the folder of a no-archive model.",
        code="not-an-archive",
    )


_VIEWS: dict[Container, type[ArchiveView]] = {
    Container.ZIP: ZipView,
    Container.TGZ: TarView,
    Container.FOLDER: FolderView,
}


def open_archive(path: PathLike) -> ArchiveView:
    """Open and list any model archive, local or at a URL (s3://, gs://, http(s)://); raises
    ArchiveError for anything unreadable."""
    if isinstance(path, str) and "://" in path:
        # Only now: a local archive never imports the remote machinery.
        from ..remote_read import open_remote_archive

        return open_remote_archive(path)
    p = Path(path)
    container = detect_container(p)
    return _VIEWS[container](p)  # type: ignore[call-arg]


__all__ = [
    "MAX_MANIFEST_SIZE",
    "MAX_MEMBERS",
    "ArchiveView",
    "Container",
    "Member",
    "MemberKind",
    "detect_container",
    "open_archive",
    "parse_manifest",
    "strip_first_component",
]
