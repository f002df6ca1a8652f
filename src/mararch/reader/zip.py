"""Zip (`.mar`) archives: listing by the central directory alone, and reading member data
checked against what the directory declares."""

from __future__ import annotations

import os
import stat
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import BinaryIO, Protocol

from .. import zipformat as zf
from ..errors import ArchiveError, UsageError
from .view import (
    CHUNK_SIZE,
    MAX_MEMBERS,
    ArchiveView,
    Container,
    Member,
    MemberKind,
    Window,
    kind_of_mode,
)


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


@dataclass(frozen=True)
class _End:
    """What the end of central directory record (or its ZIP64 form) declares, and where it is."""

    disk: int
    cd_disk: int
    count: int
    cd_size: int
    cd_offset: int
    #: Where the central directory must end: at the (ZIP64) end record.
    end_of_cd: int


def _find_end(path: str, fh: BinaryIO, file_size: int) -> _End:
    """The end record: the last signature with room for a whole record in the file's tail."""
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
    zip64 = _find_zip64_end(path, fh, eocd_pos)
    return zip64 or _End(disk, cd_disk, count, cd_size, cd_offset, end_of_cd=eocd_pos)


def _find_zip64_end(path: str, fh: BinaryIO, eocd_pos: int) -> _End | None:
    """The ZIP64 end record, when a locator sits just before the end record; else None."""
    locator = eocd_pos - zf.ZIP64_LOCATOR.size
    if locator < 0:
        return None
    fh.seek(locator)
    loc = fh.read(zf.ZIP64_LOCATOR.size)
    if loc[:4] != zf.ZIP64_LOCATOR_SIG:
        return None
    _, _, z64_pos, _ = zf.ZIP64_LOCATOR.unpack(loc)
    if z64_pos + zf.ZIP64_END_RECORD.size > locator:
        raise _zip_error(path, "the ZIP64 end record points outside the file")
    fh.seek(z64_pos)
    rec = fh.read(zf.ZIP64_END_RECORD.size)
    if rec[:4] != zf.ZIP64_END_SIG:
        raise _zip_error(path, "the ZIP64 end record is missing")
    (_, _, _, _, disk, cd_disk, _, count, cd_size, cd_offset) = zf.ZIP64_END_RECORD.unpack(rec)
    return _End(disk, cd_disk, count, cd_size, cd_offset, end_of_cd=z64_pos)


def _check_end(path: str, end: _End) -> None:
    """Refuse split archives, a directory not where the end record says, and more members than
    mararch accepts or than the directory can hold."""
    if end.disk != 0 or end.cd_disk != 0:
        raise _zip_error(path, "multi-disk (split) archives are not supported")
    if end.cd_offset + end.cd_size != end.end_of_cd:
        raise _zip_error(
            path,
            f"the central directory should end at byte {end.end_of_cd} but is declared at "
            f"{end.cd_offset}+{end.cd_size} (data prepended, or the archive is damaged)",
        )
    if end.count > MAX_MEMBERS:
        raise ArchiveError(
            f"{path!r} declares {end.count} members, more than the {MAX_MEMBERS} mararch accepts"
        )
    if end.count * zf.CENTRAL_HEADER.size > end.cd_size:
        raise _zip_error(path, f"{end.count} members cannot fit in a {end.cd_size}-byte directory")


def _parse_directory(path: str, cd: bytes, end: _End) -> list[Member]:
    """The central directory's entries as members, in directory order; it must hold nothing
    else."""
    members: list[Member] = []
    p = 0
    for index in range(end.count):
        member, p = _central_entry(path, cd, p, index, end.cd_offset)
        members.append(member)
    if p != end.cd_size:
        raise _zip_error(path, f"{end.cd_size - p} stray bytes after the last directory entry")
    return members


def _central_entry(path: str, cd: bytes, p: int, index: int, cd_offset: int) -> tuple[Member, int]:
    """The directory entry at `p` as a member, and where the next entry starts."""
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
    if end > len(cd):
        raise _zip_error(path, f"central directory entry {index} runs past its end")
    raw = cd[start : start + n_len]
    extra = cd[start + n_len : start + n_len + e_len]
    size, csize, offset = _zip64_extra(extra, size, csize, offset)
    name = _decode_zip_name(raw, flags)
    mode = (eattr >> 16) & zf.U16 if made_os == zf.HOST_UNIX else None
    kind = _zip_kind(name, made_os, eattr, mode)
    if offset + zf.LOCAL_HEADER.size + n_len + csize > cd_offset:
        raise _zip_error(
            path,
            f"member {name!r} lies outside the data area (offset {offset}, {csize} bytes)",
        )
    member = Member(
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
    return member, end


def _zip_kind(name: str, made_os: int, eattr: int, mode: int | None) -> MemberKind:
    """A member's kind from its Unix mode when it records a file type; else a directory by a
    trailing '/' or the DOS attribute, else a file."""
    if mode is not None and stat.S_IFMT(mode):
        kind = kind_of_mode(mode)
        if kind is not MemberKind.FILE:
            return kind
    if name.endswith("/") or (made_os == zf.HOST_DOS and eattr & zf.DOS_DIRECTORY):
        return MemberKind.DIR
    return MemberKind.FILE


def _check_overlaps(path: str, members: list[Member]) -> None:
    """Refuse members that share bytes: they let a tiny file expand to petabytes
    (overlapping-entry bombs)."""
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
        end = _find_end(path, fh, file_size)
        _check_end(path, end)
        fh.seek(end.cd_offset)
        cd = fh.read(end.cd_size)
        if len(cd) != end.cd_size:
            raise _zip_error(path, "the central directory is cut short")
        self.cd_offset = end.cd_offset
        members = _parse_directory(path, cd, end)
        _check_overlaps(path, members)
        return members

    def _iter_data(self, member: Member, chunk_size: int) -> Iterator[bytes]:
        return self._iter_zip(member, chunk_size, raw=False)

    def open_window(self, member: Member) -> BinaryIO | None:
        # A remote archive's `path` only names it: a local file of that name is another file.
        if self._source is not None:
            return None
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
        return Window(fh, start, member.size)  # type: ignore[return-value]

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
        tally = _Tally(member)
        if member.method == "deflated":
            yield from _inflated(fh, member, chunk_size, tally, raw)
        else:
            # Stored bytes are the data, and cannot outgrow it: `_iter_zip` compared the sizes.
            for data in _stored(fh, member, chunk_size):
                yield tally.add(data)
        tally.finish()


class _Tally:
    """A member's data counted and CRC'd as it passes, and checked against what it declares."""

    def __init__(self, member: Member) -> None:
        self.member = member
        self.produced = 0
        self.crc = 0
        self._crc32 = _crc32()

    def room(self, chunk_size: int) -> int:
        """How much to inflate next: at most one byte past the declared size, enough to catch a
        lie."""
        return max(1, min(chunk_size, self.member.size - self.produced + 1))

    def add(self, out: bytes) -> bytes:
        """Count `out` (and return it); ArchiveError once the data outgrows the declared size."""
        member = self.member
        if self.produced + len(out) > member.size:
            raise ArchiveError(
                f"member {member.name!r} holds more data than the {member.size} bytes it declares",
                member=member.name,
                hint="The archive lies about its sizes; do not use it.",
                code="member-size",
            )
        self.produced += len(out)
        self.crc = self._crc32(out, self.crc)
        return out

    def finish(self) -> None:
        """At the end of the data: ArchiveError unless its size and CRC are those declared."""
        member = self.member
        if self.produced != member.size:
            raise ArchiveError(
                f"member {member.name!r} holds {self.produced} bytes, not the {member.size} it "
                "declares",
                member=member.name,
                code="member-size",
            )
        if self.crc != member.crc:
            raise ArchiveError(
                f"member {member.name!r} fails its CRC check (declared {member.crc or 0:08x}, "
                f"actual {self.crc:08x})",
                member=member.name,
                hint="The archive is corrupt; download or build it again.",
                code="member-crc",
            )


def _crc32() -> Callable[[bytes, int], int]:
    """The CRC-32 of the deflate engine `compress` picks (isal's is about 15x zlib's); zlib's
    when $MARARCH_DEFLATE names no installed engine, which only writing needs to report."""
    # Imported here: listing an archive (inspect) does not pay for the deflate machinery.
    from .. import compress

    try:
        return compress.engine().crc32
    except UsageError:
        return compress.ZLIB.crc32


def _stored(fh: BinaryIO, member: Member, chunk_size: int) -> Iterator[bytes]:
    """The member's bytes as stored, in chunks; ArchiveError when the file ends first."""
    remaining = member.compressed_size
    while remaining > 0:
        data = fh.read(min(chunk_size, remaining))
        if not data:
            raise ArchiveError(
                f"member {member.name!r} is truncated", member=member.name, code="member-size"
            )
        remaining -= len(data)
        yield data


def _inflated(
    fh: BinaryIO, member: Member, chunk_size: int, tally: _Tally, raw: bool
) -> Iterator[bytes]:
    """The member's stored bytes inflated into `tally`, up to the deflate stream's end; yields
    what comes out, or with `raw` the stored bytes as they are read."""
    inflater = zlib.decompressobj(-15)
    for chunk in _stored(fh, member, chunk_size):
        if raw:
            yield chunk
        pending = chunk
        while pending:
            out = tally.add(inflater.decompress(pending, tally.room(chunk_size)))
            if out and not raw:
                yield out
            if inflater.eof:
                return
            pending = inflater.unconsumed_tail
    raise ArchiveError(
        f"member {member.name!r} is truncated: its compressed data ends early",
        member=member.name,
        code="member-size",
    )
