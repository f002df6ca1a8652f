"""Writers: zip (.mar), gzipped tar and plain folder, behind one interface.

Every writer streams each entry's source in chunks straight into the output: no staging copy,
memory flat in the size of the model. Names inside archives always use '/'.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import struct
import sys
import tarfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from . import compress
from . import zipformat as zf
from .digests import DIGESTS_NAME, DigestRecorder
from .errors import InputError
from .plans import EXEC_MODE, FILE_MODE, ArchiveFormat, Compression, Entry, Plan
from .progress import OptionalProgress, Progress
from .timetoserve import MIN_SAVING, deflate_pays

#: Buffer for plain copies (stored members, tar data): measured as fast as `cp` from 1 MiB up.
COPY_SIZE = 4 << 20
#: Stored members from files this large are copied by the kernel (below, the loop is as fast).
KERNEL_COPY_MIN = 1 << 20
#: Bytes asked of one copy_file_range/sendfile call.
KERNEL_COPY_STEP = 64 << 20


@dataclass(frozen=True)
class WrittenMember:
    """What a writer did with one entry."""

    name: str
    size: int
    compressed_size: int
    method: str
    crc: int | None
    #: SHA-256 computed while writing (when digests are recorded).
    sha256: str | None = None


def read_chunks(
    entry: Entry, progress: Progress, size: int = compress.CHUNK_SIZE
) -> Iterator[bytes]:
    """Yield an entry's bytes in chunks (of `size` bytes from files), checking the file did not
    change size while read."""
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
    with source_errors(entry), entry.source.open("rb", buffering=0) as src:
        while chunk := src.read(size):
            seen += len(chunk)
            if seen > entry.size:
                break
            progress.advance(len(chunk))
            yield chunk
    check_size(entry, seen)


def read_views(entry: Entry, progress: Progress, start: int = 0) -> Iterator[memoryview]:
    """Like `read_chunks` (from byte `start` of a file), but files are read into one reused
    buffer (no allocation per chunk): each view is valid only until the next one is taken."""
    if entry.source is None:
        for chunk in read_chunks(entry, progress):
            yield memoryview(chunk)
        return
    # Sized to the file (one byte more shows a file that grew): a fresh zero-filled 4 MiB per
    # file cost 0.17 s across 2,000 small files.
    buf = bytearray(min(COPY_SIZE, entry.size - start + 1))
    view = memoryview(buf)
    seen = start
    with source_errors(entry), entry.source.open("rb", buffering=0) as src:
        src.seek(start)
        while n := src.readinto(buf):
            seen += n
            if seen > entry.size:
                break
            progress.advance(n)
            yield view[:n]
    check_size(entry, seen)


@contextlib.contextmanager
def source_errors(entry: Entry) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise InputError(
            f"cannot read {str(entry.source)!r}: {exc.strerror}", path=str(entry.source)
        ) from None


def check_size(entry: Entry, seen: int) -> None:
    if seen != entry.size:
        raise InputError(
            f"{str(entry.source)!r} changed while it was being packaged "
            f"(expected {entry.size} bytes, read {seen})",
            path=str(entry.source),
            hint="Run the build again once nothing writes to the file.",
        )


def file_crc(
    entry: Entry, engine: compress.Engine | None, sha256: bool, stop: threading.Event
) -> tuple[int, str]:
    """CRC-32 (with an engine; else 0) and (when asked) SHA-256 of a source file, read through
    `read_views`; gives up early once `stop` is set (the copy it runs beside has failed)."""
    crc = 0
    digest = hashlib.sha256() if sha256 else None
    for view in read_views(entry, Progress(entry.size, None)):
        if stop.is_set():
            break
        if engine is not None:
            crc = engine.crc32(view, crc)
        if digest is not None:
            digest.update(view)
    return crc, digest.hexdigest() if digest is not None else ""


def source_stat(entry: Entry) -> os.stat_result:
    assert entry.source is not None
    with source_errors(entry):
        return os.stat(entry.source)


def check_unchanged(entry: Entry, before: os.stat_result) -> None:
    """A file copied and read in two passes must not have changed in between (each pass checks
    the size it saw; the modification time catches a rewrite of the same size)."""
    after = source_stat(entry)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise InputError(
            f"{str(entry.source)!r} changed while it was being packaged",
            path=str(entry.source),
            hint="Run the build again once nothing writes to the file.",
        )


def sample_file(entry: Entry, count: int = 3, size: int = compress.CHUNK_SIZE) -> list[bytes]:
    """`count` slices of a file spread from its start to its end (auto's store-or-deflate test)."""
    size = min(size, entry.size // count)
    step = (entry.size - size) // max(count - 1, 1)
    if entry.read_at is not None:
        return [entry.read_at(i * step, size) for i in range(count)]
    assert entry.source is not None
    with source_errors(entry), entry.source.open("rb", buffering=0) as src:
        samples = []
        for i in range(count):
            src.seek(i * step)
            samples.append(src.read(size))
        return samples


def entry_mtime(entry: Entry, timestamp: int | None) -> float:
    """The timestamp recorded for a member: SOURCE_DATE_EPOCH when set, else the file's mtime."""
    if timestamp is not None:
        return float(timestamp)
    return entry.mtime if entry.mtime is not None else time.time()


def entry_mode(entry: Entry) -> int:
    return EXEC_MODE if entry.executable else FILE_MODE


class Writer(ABC):
    """Writes a plan's entries to `path` (a temporary name; the caller renames it into place)."""

    #: Whether stored members may be copied by the kernel into `output_file()`'s descriptor
    #: (False for outputs that are not files, e.g. a remote upload).
    kernel_copy = True

    def output_file(self) -> BinaryIO:
        """The file the archive is written to (seekable); a remote sink overrides it."""
        return self.path.open("wb")

    def __init__(self, path: Path, plan: Plan, progress: Progress) -> None:
        self.path = path
        self.plan = plan
        self.progress = progress
        self.members: list[WrittenMember] = []
        self.digests = DigestRecorder() if plan.digests else None
        # The one reading/hashing worker: SHA-256 of streamed members (`chunks`), and the second
        # read beside a kernel copy (`copy_beside_read`); entries are written one at a time.
        self.hasher = ThreadPoolExecutor(1, thread_name_prefix="mararch-hash")

    def write_all(self) -> list[WrittenMember]:
        recorder = self.digests
        self.open()
        try:
            for entry in self.plan.entries:
                self.members.append(self.add(entry))
            if self.digests is not None:
                self.members.append(self.add(self._digests_entry()))
            self.finish()
        finally:
            self.hasher.shutdown(wait=True, cancel_futures=True)
            self.close()
        if recorder is not None:
            # Kept for signing at build time: no second read of any member.
            hashes = recorder.hashes
            return [replace(m, sha256=hashes.get(m.name)) for m in self.members]
        return self.members

    # -- digests (MAR-INF/digests.json) ------------------------------------------------------
    def chunks(self, entry: Entry, size: int = compress.CHUNK_SIZE) -> Iterator[bytes]:
        """An entry's bytes (`read_chunks`), hashed on the way when digests are recorded."""
        chunks = read_chunks(entry, self.progress, size)
        if self.digests is None:
            return chunks
        if entry.size <= compress.PIECE_SIZE:
            # A hand-off per small file would cost more than hashing it here.
            return self.digests.tee(entry.name, chunks)
        # SHA-256 costs ~0.6 s per GiB: on its own thread it overlaps the deflate workers
        # instead of holding up the thread that feeds them.
        return self.digests.tee_bytes(entry.name, chunks, self.hasher)

    def views(self, entry: Entry, progress: Progress) -> Iterator[memoryview]:
        """An entry's bytes (`read_views`, one reused buffer), hashed on the way likewise."""
        views = read_views(entry, progress)
        return views if self.digests is None else self.digests.tee(entry.name, views)

    def copy_beside_read(
        self,
        entry: Entry,
        dst: int,
        progress: Progress,
        engine: compress.Engine | None,
    ) -> int:
        """Copy a file into the file descriptor `dst` (in the kernel where it can) while the
        hashing worker reads it for what the copy cannot give: its CRC-32 (with `engine`) and,
        when digests are recorded, its SHA-256. The two passes read the file separately, so it
        must not change in between."""
        assert entry.source is not None
        before = source_stat(entry)
        stop = threading.Event()
        job = self.hasher.submit(file_crc, entry, engine, self.digests is not None, stop)
        try:
            copy_file(entry, dst, progress)
        except BaseException:
            # Ctrl-C or a failed copy must not wait for the rest of the file to be hashed.
            stop.set()
            raise
        crc, sha = job.result()
        check_unchanged(entry, before)
        if self.digests is not None:
            self.digests.record(entry.name, sha)
        return crc

    def _digests_entry(self) -> Entry:
        # Written last: it covers every other member, and nothing hashes it.
        assert self.digests is not None
        # A write path that bypassed `chunks`/`views` would leave a member out silently.
        unhashed = {e.name for e in self.plan.entries} - set(self.digests.hashes)
        assert not unhashed, f"members written without hashing: {sorted(unhashed)}"
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
    """One member's fields, as its local header and its central directory entry hold them."""

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

    def local_header(self, zip64: bool) -> bytes:
        """The local header, sizes in a ZIP64 extra field when `zip64` reserved one."""
        if zip64:
            extra = zf.zip64_extra([self.size, self.compressed_size])
            sizes = (zf.U32, zf.U32)
            version = zf.VERSION_ZIP64
        else:
            if self.compressed_size >= zf.U32:
                raise AssertionError("member grew past 4 GiB without ZIP64 fields")
            extra = b""
            sizes = (self.compressed_size, self.size)
            version = zf.VERSION_DEFAULT
        fields = self._fields(version, sizes[0], sizes[1], extra)
        return zf.LOCAL_HEADER.pack(zf.LOCAL_SIG, *fields) + self.name + extra

    def central_header(self) -> bytes:
        """The central directory entry; each field too large for 32 bits goes to ZIP64."""
        extra_fields: list[int] = []
        size, compressed, offset = self.size, self.compressed_size, self.offset
        if self.size >= zf.U32:
            extra_fields.append(self.size)
            size = zf.U32
        if self.compressed_size >= zf.U32:
            extra_fields.append(self.compressed_size)
            compressed = zf.U32
        if self.offset >= zf.U32:
            extra_fields.append(self.offset)
            offset = zf.U32
        extra = zf.zip64_extra(extra_fields)
        version = zf.VERSION_ZIP64 if extra_fields else zf.VERSION_DEFAULT
        fields = self._fields(version, compressed, size, extra)
        attributes = (stat.S_IFREG | self.mode) << 16
        header = zf.CENTRAL_HEADER.pack(
            zf.CENTRAL_SIG, version, zf.HOST_UNIX, *fields, 0, 0, 0, attributes, offset
        )
        return header + self.name + extra

    def _fields(
        self, version: int, compressed: int, size: int, extra: bytes
    ) -> tuple[int, int, int, int, int, int, int, int, int, int]:
        """The run of fields both headers hold, in the same order: version needed, flags,
        method, time, date, CRC-32, sizes (or U32 for ZIP64's), name and extra lengths."""
        return (
            version,
            self.flags,
            self.method,
            self.dos_time,
            self.dos_date,
            self.crc,
            compressed,
            size,
            len(self.name),
            len(extra),
        )


def end_records(count: int, cd_start: int, cd_end: int) -> bytes:
    """The end of central directory record, after ZIP64's end record and locator when the
    count or the directory's size or offset needs them."""
    cd_size = cd_end - cd_start
    zip64 = b""
    if count >= zf.U16 or cd_start >= zf.U32 or cd_size >= zf.U32:
        zip64 = zf.ZIP64_END_RECORD.pack(
            zf.ZIP64_END_SIG,
            zf.ZIP64_END_BODY,
            zf.VERSION_ZIP64,
            zf.VERSION_ZIP64,
            0,
            0,
            count,
            count,
            cd_size,
            cd_start,
        ) + zf.ZIP64_LOCATOR.pack(zf.ZIP64_LOCATOR_SIG, 0, cd_end, 1)
    return zip64 + zf.END_RECORD.pack(
        zf.END_SIG,
        0,
        0,
        min(count, zf.U16),
        min(count, zf.U16),
        min(cd_size, zf.U32),
        min(cd_start, zf.U32),
        0,
    )


class ZipWriter(Writer):
    """A zip writer that always puts sizes and CRC in the local header (Java's ZipInputStream
    cannot read a STORED entry with a data descriptor), with ZIP64 where sizes need it.

    The records' layouts are `_ZipRecord`'s and `end_records`'s; this class is the member
    pipeline: copy, store or deflate each entry's bytes, then fill in its header.
    """

    def open(self) -> None:
        self.policy = compress.policy(self.plan.level)
        # A pool starts no thread before its first task: small-file models never pay for threads.
        self.executor = compress.new_executor()
        self.fh: BinaryIO = self.output_file()
        self.records: list[_ZipRecord] = []

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.fh.close()

    def add(self, entry: Entry) -> WrittenMember:
        fh = self.fh
        name = entry.name.encode("utf-8")
        dos_time, dos_date = dos_datetime(
            entry_mtime(entry, self.plan.timestamp), self.plan.timestamp is not None
        )
        # Deflate can grow incompressible data slightly; reserve ZIP64 fields when close to 4 GiB.
        zip64 = entry.size >= zf.U32 - (entry.size >> 6) - (1 << 20)
        offset = fh.tell()
        header_len = zf.LOCAL_HEADER.size + len(name) + (zf.ZIP64_LOCAL_EXTRA_SIZE if zip64 else 0)
        # The header goes in last, once CRC and sizes are known: Java's ZipInputStream cannot
        # read a STORED member whose sizes follow it in a data descriptor.
        fh.seek(offset + header_len)
        method, crc = self._write_data(entry, offset + header_len)
        end = fh.tell()
        record = _ZipRecord(
            name,
            0 if entry.name.isascii() else zf.FLAG_UTF8,
            method,
            dos_time,
            dos_date,
            crc,
            end - offset - header_len,
            entry.size,
            offset,
            entry_mode(entry),
        )
        fh.seek(offset)
        fh.write(record.local_header(zip64))
        fh.seek(end)
        self.records.append(record)
        return WrittenMember(
            entry.name,
            entry.size,
            record.compressed_size,
            "stored" if method == zf.STORED else "deflated",
            crc,
        )

    def _write_data(self, entry: Entry, start: int) -> tuple[int, int]:
        """Write an entry's data at `start` (the file's position); return its method and CRC."""
        stored = entry.stored
        if (
            stored is not None
            and stored.method in (zf.STORED, zf.DEFLATED)
            # Copied bytes are never hashed; convert's plans, the only ones with `stored`, record
            # no digests (they keep the archive's own).
            and self.digests is None
        ):
            for chunk in stored.chunks():
                self.fh.write(chunk)
            self.progress.advance(entry.size)
            return stored.method, stored.crc
        if self.plan.compression is Compression.STORE:
            return zf.STORED, self._store(entry, self.progress)
        return self._deflate(entry, start)

    def _store(self, entry: Entry, progress: Progress) -> int:
        if entry.source is not None and entry.size >= KERNEL_COPY_MIN and self.kernel_copy:
            # copy_file_range with a worker computing the CRC-32 was measured steadier than a
            # read/CRC/write loop, and near `cp`.
            self.fh.flush()
            start = self.fh.tell()
            crc = self.copy_beside_read(entry, self.fh.fileno(), progress, self.policy.engine)
            self.fh.seek(start + entry.size)
            return crc
        crc = 0
        crc32 = self.policy.engine.crc32
        for view in self.views(entry, progress):
            crc = crc32(view, crc)
            self.fh.write(view)
        return crc

    def _deflate(self, entry: Entry, start: int) -> tuple[int, int]:
        """Write an entry deflated, or stored where `auto` finds deflate does not pay.

        `auto` deflates a member only when that saves at least MIN_SAVING of it (the time-to-serve
        rule, `timetoserve`): small members are deflated in memory and kept whichever way the rule
        says; large ones are stored outright when a sample saves less, and rewritten stored when
        the whole member, deflated, did not keep the sample's promise.
        """
        auto = self.plan.compression is Compression.AUTO
        pol = self.policy
        if entry.size <= compress.PIECE_SIZE:
            data = b"".join(self.chunks(entry))
            piece = compress.deflate_bytes(data, pol)
            if auto and not deflate_pays(len(data), piece.compressed_size):
                self.fh.write(data)
                return zf.STORED, piece.crc
            self.fh.writelines(piece.parts)
            return zf.DEFLATED, piece.crc
        if auto and (entry.source is not None or entry.read_at is not None):
            ratio = compress.sample_ratio(sample_file(entry), pol)
            if ratio > 1 - MIN_SAVING:
                return zf.STORED, self._store(entry, self.progress)
        deflater = compress.PieceWriter(pol, self.executor, self.fh.write)
        for chunk in self.chunks(entry, compress.PIECE_SIZE):
            deflater.feed(chunk)
        deflater.finish()
        if auto and not deflate_pays(entry.size, deflater.compressed):
            self.fh.seek(start)
            self.fh.truncate()
            # The bytes were counted once already: the second pass reports no progress.
            return zf.STORED, self._store(entry, Progress(entry.size, None))
        return zf.DEFLATED, deflater.crc

    def finish(self) -> None:
        """Write the central directory and the end records."""
        cd_start = self.fh.tell()
        for record in self.records:
            self.fh.write(record.central_header())
        self.fh.write(end_records(len(self.records), cd_start, self.fh.tell()))


class TarGzWriter(Writer):
    """A gzipped PAX tar with every member under `MODEL_NAME/`, as TorchServe expects.

    The tar stream is deflated in pieces on a thread pool and joined into one gzip member.
    """

    def open(self) -> None:
        pol = compress.policy(self.plan.level)
        self.crc32 = pol.engine.crc32
        self.fh: BinaryIO = self.output_file()
        self.executor = compress.new_executor()
        self.deflater = compress.PieceWriter(pol, self.executor, self.fh.write)
        mtime = self.plan.timestamp or 0
        # No file name in the gzip header: the output's temporary name must not leak into it.
        self.fh.write(struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, 0, mtime & zf.U32, 0, 255))

    def add(self, entry: Entry) -> WrittenMember:
        info = tarfile.TarInfo(f"{self.plan.model_name}/{entry.name}")
        info.size = entry.size
        info.mode = entry_mode(entry)
        info.mtime = int(entry_mtime(entry, self.plan.timestamp))
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        self.deflater.feed(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        crc = 0
        for chunk in self.chunks(entry, compress.PIECE_SIZE):
            crc = self.crc32(chunk, crc)
            self.deflater.feed(chunk)
        padding = -entry.size % tarfile.BLOCKSIZE
        if padding:
            self.deflater.feed(b"\0" * padding)
        return WrittenMember(entry.name, entry.size, entry.size, "tar", crc)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.fh.close()

    def finish(self) -> None:
        end = 2 * tarfile.BLOCKSIZE
        self.deflater.feed(b"\0" * (end + (-(self.deflater.fed + end) % tarfile.RECORDSIZE)))
        self.deflater.finish()
        self.fh.write(struct.pack("<II", self.deflater.crc, self.deflater.size & zf.U32))


class FolderWriter(Writer):
    """The no-archive format: the files laid out in a folder, manifest included."""

    def open(self) -> None:
        self.path.mkdir()
        self.folders = {str(self.path)}

    def close(self) -> None:
        """Nothing stays open between entries."""

    def add(self, entry: Entry) -> WrittenMember:
        # Strings, unbuffered files and a cache of the folders made: with thousands of small
        # files, the system calls around each copy cost more than the copy.
        target = os.path.join(self.path, *entry.name.split("/"))
        parent = os.path.dirname(target)
        if parent not in self.folders:
            os.makedirs(parent, exist_ok=True)
            self.folders.add(parent)
        with open(target, "wb", buffering=0) as dst:
            if entry.source is not None and entry.size > 0 and self.digests is None:
                copy_file(entry, dst.fileno(), self.progress)
            elif entry.source is not None and entry.size >= KERNEL_COPY_MIN:
                self.copy_beside_read(entry, dst.fileno(), self.progress, None)
            else:
                for chunk in self.chunks(entry):
                    write_fully(dst.fileno(), chunk)
        os.chmod(target, entry_mode(entry))
        if self.plan.timestamp is not None:
            os.utime(target, (self.plan.timestamp, self.plan.timestamp))
        return WrittenMember(entry.name, entry.size, entry.size, "file", None)


#: What copy_file_range/sendfile fail with when they cannot copy between these two files (not
#: a read or write error): the copy then goes through user space.
NO_KERNEL_COPY = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOTSOCK}
)


def _kernel_copy(src: int, dst: int, count: int) -> int:
    """Copy up to `count` bytes between file positions in the kernel; 0 when it cannot."""
    copy_file_range = getattr(os, "copy_file_range", None)
    if copy_file_range is not None:
        # The file system may share or copy the blocks itself, without a trip through user space.
        try:
            return int(copy_file_range(src, dst, count))
        except OSError as exc:
            if exc.errno not in NO_KERNEL_COPY:
                raise
    # Only Linux's sendfile writes to files (macOS's and the BSDs' write to sockets only).
    if sys.platform.startswith("linux"):
        try:
            return int(os.sendfile(dst, src, None, count))
        except OSError as exc:
            if exc.errno not in NO_KERNEL_COPY:
                raise
    return 0


def write_fully(dst: int, data: compress.Buffer) -> None:
    """Write all of `data` to a file descriptor (a raw write may write less)."""
    view = memoryview(data)
    while view:
        view = view[os.write(dst, view) :]


def copy_file(entry: Entry, dst: int, progress: Progress) -> None:
    """Copy a source into the file descriptor `dst` at its position, in the kernel where it can,
    reporting progress. Errors reading the source are InputErrors naming it; errors writing
    `dst` stay OSErrors, which the atomic output reports against the output."""
    assert entry.source is not None
    copied = 0
    with contextlib.ExitStack() as stack:
        with source_errors(entry):
            src = stack.enter_context(open(entry.source, "rb", buffering=0))
        while copied < entry.size:
            step = min(KERNEL_COPY_STEP, entry.size - copied)
            sent = _kernel_copy(src.fileno(), dst, step)
            if sent == 0:
                break
            copied += sent
            progress.advance(sent)
        if copied < entry.size:
            # No kernel copy here (or it stopped early): plain reads finish the job.
            for view in read_views(entry, Progress(entry.size, None), start=copied):
                write_fully(dst, view)
                copied += len(view)
                progress.advance(len(view))
            return  # read_views checked the size
        # The copy stops at the planned size; a file that grew meanwhile must still fail.
        with source_errors(entry):
            now = os.fstat(src.fileno()).st_size
    check_size(entry, copied if now == copied else now)


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
