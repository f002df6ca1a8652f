"""Zip (`.mar`) archives: listing by the central directory alone, and reading member data
checked against what the directory declares."""

from __future__ import annotations

import os
import stat
import struct
import zlib
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import BinaryIO, Protocol

from .. import zipformat as zf
from ..errors import ArchiveError
from .view import CHUNK_SIZE, MAX_MEMBERS, ArchiveView, Container, Member, MemberKind, Window


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
