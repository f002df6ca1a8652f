"""Writers: zip (.mar), gzipped tar and plain folder, behind one interface.

Every writer streams each entry's source in chunks straight into the output: no staging copy,
memory flat in the size of the model. Names inside archives always use '/'.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import struct
import tarfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from . import compress
from .digests import DIGESTS_NAME, DigestRecorder
from .errors import InputError
from .progress import OptionalProgress
from .spec import ArchiveFormat, Compression, Entry, Plan

ZIP_STORED = 0
ZIP_DEFLATED = 8
ZIP32_LIMIT = 0xFFFFFFFF
ZIP16_LIMIT = 0xFFFF
FILE_MODE = 0o644
EXEC_MODE = 0o755


@dataclass(frozen=True)
class WrittenMember:
    """What a writer did with one entry."""

    name: str
    size: int
    compressed_size: int
    method: str
    crc: int | None


class Progress:
    """Counts bytes across all entries and reports them to the optional callback."""

    def __init__(self, total: int, callback: OptionalProgress) -> None:
        self.total = total
        self.done = 0
        self.callback = callback

    def advance(self, n: int) -> None:
        self.done += n
        if self.callback is not None:
            self.callback(self.done, self.total)


def read_chunks(entry: Entry, progress: Progress) -> Iterator[bytes]:
    """Yield an entry's bytes in chunks, checking the file did not change size while read."""
    if entry.data is not None:
        progress.advance(len(entry.data))
        yield entry.data
        return
    if entry.stream is not None:
        # Another archive's member: its reader checks the size and CRC as it streams.
        for chunk in entry.stream():
            progress.advance(len(chunk))
            yield chunk
        return
    assert entry.source is not None
    seen = 0
    try:
        with entry.source.open("rb") as src:
            while chunk := src.read(compress.CHUNK_SIZE):
                seen += len(chunk)
                if seen > entry.size:
                    break
                progress.advance(len(chunk))
                yield chunk
    except OSError as exc:
        raise InputError(
            f"cannot read {str(entry.source)!r}: {exc.strerror}", path=str(entry.source)
        ) from None
    if seen != entry.size:
        raise InputError(
            f"{str(entry.source)!r} changed while it was being packaged "
            f"(expected {entry.size} bytes, read {seen})",
            path=str(entry.source),
            hint="Run the build again once nothing writes to the file.",
        )


def entry_mtime(entry: Entry, timestamp: int | None) -> float:
    """The timestamp recorded for a member: SOURCE_DATE_EPOCH when set, else the file's mtime."""
    if timestamp is not None:
        return float(timestamp)
    return entry.mtime if entry.mtime is not None else time.time()


def entry_mode(entry: Entry) -> int:
    return EXEC_MODE if entry.executable else FILE_MODE


class Writer(ABC):
    """Writes a plan's entries to `path` (a temporary name; the caller renames it into place)."""

    def __init__(self, path: Path, plan: Plan, progress: Progress) -> None:
        self.path = path
        self.plan = plan
        self.progress = progress
        self.members: list[WrittenMember] = []
        self.digests = DigestRecorder() if plan.digests else None

    def write_all(self) -> list[WrittenMember]:
        self.open()
        try:
            for entry in self.plan.entries:
                self.members.append(self.add(entry))
            if self.digests is not None:
                self.members.append(self.add(self._digests_entry()))
            self.finish()
        finally:
            self.close()
        return self.members

    # -- digests (MAR-INF/digests.json) ------------------------------------------------------
    def chunks(self, entry: Entry) -> Iterator[bytes]:
        """An entry's bytes (`read_chunks`), hashed on the way when digests are recorded."""
        chunks = read_chunks(entry, self.progress)
        return chunks if self.digests is None else self.digests.tee(entry.name, chunks)

    def _digests_entry(self) -> Entry:
        # Written last: it covers every other member, and nothing hashes it.
        assert self.digests is not None
        data, self.digests = self.digests.render(), None
        self.progress.total += len(data)
        return Entry(DIGESTS_NAME, None, len(data), data=data, origin="digests")

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def add(self, entry: Entry) -> WrittenMember: ...

    def finish(self) -> None:  # noqa: B027 - optional hook, most writers have no trailer
        """Write whatever follows the last entry (central directory, trailer)."""

    @abstractmethod
    def close(self) -> None: ...


def dos_datetime(mtime: float, utc: bool) -> tuple[int, int]:
    t = time.gmtime(mtime) if utc else time.localtime(mtime)
    year = min(max(t.tm_year, 1980), 2107)
    dos_date = (year - 1980) << 9 | t.tm_mon << 5 | t.tm_mday
    dos_time = t.tm_hour << 11 | t.tm_min << 5 | t.tm_sec // 2
    return dos_time, dos_date


@dataclass
class _ZipRecord:
    name: bytes
    flags: int
    method: int
    dos_time: int
    dos_date: int
    crc: int
    compressed_size: int
    size: int
    offset: int
    mode: int


class ZipWriter(Writer):
    """A zip writer that always puts sizes and CRC in the local header (Java's ZipInputStream
    cannot read a STORED entry with a data descriptor), with ZIP64 where sizes need it."""

    def open(self) -> None:
        self.fh: BinaryIO = self.path.open("wb")
        self.records: list[_ZipRecord] = []

    def close(self) -> None:
        self.fh.close()

    def method_for(self, entry: Entry) -> int:
        if self.plan.compression is Compression.STORE:
            return ZIP_STORED
        return ZIP_DEFLATED

    def add(self, entry: Entry) -> WrittenMember:
        fh = self.fh
        name = entry.name.encode("utf-8")
        flags = 0x800 if not entry.name.isascii() else 0
        method = self.method_for(entry)
        dos_time, dos_date = dos_datetime(
            entry_mtime(entry, self.plan.timestamp), self.plan.timestamp is not None
        )
        # Deflate can grow incompressible data slightly; reserve ZIP64 fields when close to 4 GiB.
        zip64 = entry.size >= ZIP32_LIMIT - (entry.size >> 6) - (1 << 20)
        offset = fh.tell()
        header_len = 30 + len(name) + (20 if zip64 else 0)
        fh.seek(offset + header_len)
        crc = 0
        if (
            entry.stored is not None
            and entry.stored.method in (ZIP_STORED, ZIP_DEFLATED)
            and self.digests is None  # copied bytes are not hashed (convert keeps its digests)
        ):
            method = entry.stored.method
            crc = entry.stored.crc
            for chunk in entry.stored.chunks():
                fh.write(chunk)
            self.progress.advance(entry.size)
        elif method == ZIP_STORED:
            for chunk in self.chunks(entry):
                crc = compress.crc32(chunk, crc)
                fh.write(chunk)
        else:
            deflater = compress.raw_deflater(self.plan.level)
            for chunk in self.chunks(entry):
                crc = compress.crc32(chunk, crc)
                fh.write(deflater.compress(chunk))
            fh.write(deflater.flush())
        end = fh.tell()
        compressed = end - offset - header_len
        fh.seek(offset)
        fh.write(
            self._local_header(
                name, flags, method, dos_time, dos_date, crc, compressed, entry.size, zip64
            )
        )
        fh.seek(end)
        self.records.append(
            _ZipRecord(
                name,
                flags,
                method,
                dos_time,
                dos_date,
                crc,
                compressed,
                entry.size,
                offset,
                entry_mode(entry),
            )
        )
        return WrittenMember(
            entry.name,
            entry.size,
            compressed,
            "stored" if method == ZIP_STORED else "deflated",
            crc,
        )

    @staticmethod
    def _local_header(
        name: bytes,
        flags: int,
        method: int,
        dos_time: int,
        dos_date: int,
        crc: int,
        compressed: int,
        size: int,
        zip64: bool,
    ) -> bytes:
        if zip64:
            extra = struct.pack("<HHQQ", 0x0001, 16, size, compressed)
            sizes = (ZIP32_LIMIT, ZIP32_LIMIT)
            version = 45
        else:
            if compressed >= ZIP32_LIMIT:
                raise AssertionError("member grew past 4 GiB without ZIP64 fields")
            extra = b""
            sizes = (compressed, size)
            version = 20
        return (
            struct.pack(
                "<4sHHHHHIIIHH",
                b"PK\x03\x04",
                version,
                flags,
                method,
                dos_time,
                dos_date,
                crc,
                sizes[0],
                sizes[1],
                len(name),
                len(extra),
            )
            + name
            + extra
        )

    def finish(self) -> None:
        """Write the central directory and the end records."""
        fh = self.fh
        cd_start = fh.tell()
        for r in self.records:
            extra_fields: list[int] = []
            size = r.size
            compressed = r.compressed_size
            offset = r.offset
            if r.size >= ZIP32_LIMIT:
                extra_fields.append(r.size)
                size = ZIP32_LIMIT
            if r.compressed_size >= ZIP32_LIMIT:
                extra_fields.append(r.compressed_size)
                compressed = ZIP32_LIMIT
            if r.offset >= ZIP32_LIMIT:
                extra_fields.append(r.offset)
                offset = ZIP32_LIMIT
            extra = (
                struct.pack("<HH", 0x0001, 8 * len(extra_fields))
                + struct.pack(f"<{len(extra_fields)}Q", *extra_fields)
                if extra_fields
                else b""
            )
            version = 45 if extra_fields else 20
            fh.write(
                struct.pack(
                    "<4sBBHHHHHIIIHHHHHII",
                    b"PK\x01\x02",
                    version,
                    3,
                    version,
                    r.flags,
                    r.method,
                    r.dos_time,
                    r.dos_date,
                    r.crc,
                    compressed,
                    size,
                    len(r.name),
                    len(extra),
                    0,
                    0,
                    0,
                    (stat.S_IFREG | r.mode) << 16,
                    offset,
                )
            )
            fh.write(r.name)
            fh.write(extra)
        cd_end = fh.tell()
        count = len(self.records)
        cd_size = cd_end - cd_start
        if count >= ZIP16_LIMIT or cd_start >= ZIP32_LIMIT or cd_size >= ZIP32_LIMIT:
            fh.write(
                struct.pack(
                    "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, cd_size, cd_start
                )
            )
            fh.write(struct.pack("<4sIQI", b"PK\x06\x07", 0, cd_end, 1))
        fh.write(
            struct.pack(
                "<4sHHHHIIH",
                b"PK\x05\x06",
                0,
                0,
                min(count, ZIP16_LIMIT),
                min(count, ZIP16_LIMIT),
                min(cd_size, ZIP32_LIMIT),
                min(cd_start, ZIP32_LIMIT),
                0,
            )
        )


class TarGzWriter(Writer):
    """A gzipped PAX tar with every member under `MODEL_NAME/`, as TorchServe expects."""

    def open(self) -> None:
        self.fh: BinaryIO = self.path.open("wb")
        self.deflater = compress.raw_deflater(9 if self.plan.level is None else self.plan.level)
        self.crc = 0
        self.length = 0
        mtime = self.plan.timestamp or 0
        # No file name in the gzip header: the output's temporary name must not leak into it.
        self.fh.write(struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, 0, mtime & ZIP32_LIMIT, 0, 255))

    def _emit(self, data: bytes) -> None:
        self.crc = compress.crc32(data, self.crc)
        self.length += len(data)
        self.fh.write(self.deflater.compress(data))

    def add(self, entry: Entry) -> WrittenMember:
        info = tarfile.TarInfo(f"{self.plan.model_name}/{entry.name}")
        info.size = entry.size
        info.mode = entry_mode(entry)
        info.mtime = int(entry_mtime(entry, self.plan.timestamp))
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        self._emit(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        crc = 0
        for chunk in self.chunks(entry):
            crc = compress.crc32(chunk, crc)
            self._emit(chunk)
        padding = -entry.size % tarfile.BLOCKSIZE
        if padding:
            self._emit(b"\0" * padding)
        return WrittenMember(entry.name, entry.size, entry.size, "tar", crc)

    def close(self) -> None:
        self.fh.close()

    def finish(self) -> None:
        end = 2 * tarfile.BLOCKSIZE
        self._emit(b"\0" * (end + (-(self.length + end) % tarfile.RECORDSIZE)))
        self.fh.write(self.deflater.flush())
        self.fh.write(struct.pack("<II", self.crc, self.length & ZIP32_LIMIT))


class FolderWriter(Writer):
    """The no-archive format: the files laid out in a folder, manifest included."""

    def open(self) -> None:
        self.path.mkdir()

    def close(self) -> None:
        pass

    def add(self, entry: Entry) -> WrittenMember:
        target = self.path.joinpath(*entry.name.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as dst:
            # In-kernel copies skip user space: with digests, the bytes must pass through here.
            if entry.source is not None and entry.size > 0 and self.digests is None:
                copy_file(entry, dst, self.progress)
            else:
                for chunk in self.chunks(entry):
                    dst.write(chunk)
        os.chmod(target, entry_mode(entry))
        if self.plan.timestamp is not None:
            os.utime(target, (self.plan.timestamp, self.plan.timestamp))
        return WrittenMember(entry.name, entry.size, entry.size, "file", None)


def copy_file(entry: Entry, dst: BinaryIO, progress: Progress) -> None:
    """Copy a source into an open file, in the kernel where it can, reporting progress."""
    assert entry.source is not None
    try:
        with entry.source.open("rb") as src:
            if hasattr(os, "sendfile"):
                offset = 0
                step = 64 * compress.CHUNK_SIZE
                while offset < entry.size:
                    sent = os.sendfile(
                        dst.fileno(), src.fileno(), offset, min(step, entry.size - offset)
                    )
                    if sent == 0:
                        break
                    offset += sent
                    progress.advance(sent)
                # sendfile stops at the planned size; a file that grew meanwhile must still fail.
                copied = offset if os.fstat(src.fileno()).st_size == offset else -1
            else:
                copied = 0
                while chunk := src.read(compress.CHUNK_SIZE):
                    dst.write(chunk)
                    copied += len(chunk)
                    progress.advance(len(chunk))
    except OSError as exc:
        raise InputError(
            f"cannot read {str(entry.source)!r}: {exc.strerror}", path=str(entry.source)
        ) from None
    if copied != entry.size:
        raise InputError(
            f"{str(entry.source)!r} changed while it was being packaged",
            path=str(entry.source),
            hint="Run the build again once nothing writes to the file.",
        )


WRITERS: dict[ArchiveFormat, type[Writer]] = {
    ArchiveFormat.DEFAULT: ZipWriter,
    ArchiveFormat.ZIP_STORE: ZipWriter,
    ArchiveFormat.TGZ: TarGzWriter,
    ArchiveFormat.NO_ARCHIVE: FolderWriter,
}


def write(plan: Plan, path: Path, callback: OptionalProgress = None) -> list[WrittenMember]:
    """Write `plan` to `path` with the writer for its format."""
    progress = Progress(plan.total_size, callback)
    return WRITERS[plan.archive_format](path, plan, progress).write_all()


def remove_path(path: Path) -> None:
    """Remove a file or folder if it exists; used to clean up temporaries."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
