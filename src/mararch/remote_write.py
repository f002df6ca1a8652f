"""Writing archives into object stores: a multipart upload fed by the ordinary writers.

The zip writer leaves room for each local header, writes the member, then seeks back to fill the
header in. `PartSink` gives it that seekable file over an upload: the object is cut in fixed-size
parts, and a part is uploaded as soon as it is complete and no pending header (a "hole") can come
back to it. Memory is a few parts however large the model; nothing is staged on disk. The object
appears only when the upload is completed after a successful build; any failure or Ctrl-C aborts
it (S3: AbortMultipartUpload; stores without multipart uploads: the part objects are deleted).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .errors import OutputError
from .plans import ArchiveFormat, Plan
from .progress import OptionalProgress, Progress
from .remote import Scheme, filesystem, redact, remote_errors, scheme_of
from .writers import TarGzWriter, Writer, WrittenMember, ZipWriter

#: S3 refuses parts under 5 MiB (but the last) and more than 10,000 parts.
MIN_PART = 8 << 20
MAX_PARTS = 10_000
#: Parts being uploaded while the writer goes on.
IN_FLIGHT = 4
#: Sources one compose call of a store may join (Google Cloud Storage: 32).
COMPOSE_LIMIT = 32


def part_size(total: int) -> int:
    """A part size that fits `total` bytes (with room for headers) in MAX_PARTS parts."""
    need = -(-(total + (total >> 6) + (64 << 20)) // (MAX_PARTS - 1))
    return max(MIN_PART, -(-need // (1 << 20)) << 20)


class PartStore(ABC):
    """Where the parts of one object go, numbered from 1."""

    def start(self) -> None:  # noqa: B027 - most stores need no set-up
        """Called once, before the first part, from the writing thread."""

    @abstractmethod
    def upload_part(self, number: int, data: bytes) -> None: ...

    @abstractmethod
    def complete(self, count: int) -> None:
        """Make the object from parts 1..count."""

    @abstractmethod
    def put(self, data: bytes) -> None:
        """Write a small object in one request (no part was uploaded)."""

    @abstractmethod
    def abort(self) -> None:
        """Forget every part uploaded; nothing may remain."""


class S3PartStore(PartStore):
    """S3's multipart upload, through s3fs's client."""

    def __init__(self, fs: Any, path: str) -> None:
        self.fs = fs
        self.bucket, self.key, _ = fs.split_path(path)
        self.upload_id: str | None = None
        self.etags: dict[int, str] = {}

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self.fs.call_s3(method, Bucket=self.bucket, Key=self.key, **kwargs)

    def start(self) -> None:
        self.upload_id = self._call("create_multipart_upload")["UploadId"]

    def upload_part(self, number: int, data: bytes) -> None:
        reply = self._call("upload_part", PartNumber=number, UploadId=self.upload_id, Body=data)
        self.etags[number] = reply["ETag"]

    def complete(self, count: int) -> None:
        parts = [{"PartNumber": n, "ETag": self.etags[n]} for n in range(1, count + 1)]
        self._call(
            "complete_multipart_upload",
            UploadId=self.upload_id,
            MultipartUpload={"Parts": parts},
        )
        self.upload_id = None
        self.fs.invalidate_cache(f"{self.bucket}/{self.key}")

    def put(self, data: bytes) -> None:
        self._call("put_object", Body=data)
        self.fs.invalidate_cache(f"{self.bucket}/{self.key}")

    def abort(self) -> None:
        if self.upload_id is not None:
            upload_id, self.upload_id = self.upload_id, None
            self._call("abort_multipart_upload", UploadId=upload_id)


class ComposePartStore(PartStore):
    """Stores without multipart uploads but with server-side concatenation (`fs.merge`, as
    gcsfs's compose): parts are hidden objects beside the target, joined, then deleted."""

    def __init__(self, fs: Any, path: str) -> None:
        self.fs = fs
        self.path = path
        self.temps: list[str] = []

    def _temp(self, label: str) -> str:
        name = f"{self.path}.mararch-part-{label}"
        self.temps.append(name)
        return name

    def upload_part(self, number: int, data: bytes) -> None:
        self.fs.pipe_file(self._temp(f"{number:05d}"), data)

    def complete(self, count: int) -> None:
        sources = [f"{self.path}.mararch-part-{n:05d}" for n in range(1, count + 1)]
        level = 0
        while len(sources) > COMPOSE_LIMIT:
            level += 1
            groups = [sources[i : i + COMPOSE_LIMIT] for i in range(0, len(sources), COMPOSE_LIMIT)]
            sources = []
            for i, group in enumerate(groups):
                joined = self._temp(f"join{level}-{i:05d}")
                self.fs.merge(joined, group)
                sources.append(joined)
        self.fs.merge(self.path, sources)
        self._remove_temps()

    def put(self, data: bytes) -> None:
        self.fs.pipe_file(self.path, data)

    def abort(self) -> None:
        self._remove_temps()

    def _remove_temps(self) -> None:
        temps, self.temps = self.temps, []
        if temps:
            self.fs.rm(temps)


def part_store(fs: Any, path: str, scheme: Scheme) -> PartStore:
    if scheme is Scheme.S3:
        return S3PartStore(fs, path)
    return ComposePartStore(fs, path)


class PartSink(io.RawIOBase):
    """A writable, seekable file over a `PartStore`, holding only the parts still needed."""

    def __init__(self, store: PartStore, size: int, url: str = "") -> None:
        self.store = store
        #: Named (without secrets) in the OutputError a failed upload becomes.
        self.url = url
        self.part = size
        self.parts: dict[int, bytearray] = {}
        self.uploaded: set[int] = set()
        #: Byte ranges [start, end) skipped by a forward seek and not yet written.
        self.holes: list[tuple[int, int]] = []
        self.pos = 0
        self.end = 0
        self.pool = ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="mararch-upload")
        self.pending: deque[Future[None]] = deque()
        self.committed = False
        self.started = False

    # -- file interface ---------------------------------------------------------------------------
    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.end}[whence]
        target = base + offset
        if target < 0:
            raise ValueError("negative seek position")
        if target > self.end:
            self.holes.append((self.end, target))
            self.end = target
        self.pos = target
        return target

    def write(self, b: Any) -> int:
        data = memoryview(b).cast("B")
        n = len(data)
        start = self.pos
        done = 0
        while done < n:
            index, offset = divmod(start + done, self.part)
            if index in self.uploaded:
                raise AssertionError(f"part {index + 1} was rewritten after its upload")
            buf = self.parts.get(index)
            if buf is None:
                buf = self.parts[index] = bytearray(self.part)
            take = min(self.part - offset, n - done)
            buf[offset : offset + take] = data[done : done + take]
            done += take
        self._fill(start, start + n)
        self.pos = start + n
        self.end = max(self.end, self.pos)
        self._upload_ready()
        return n

    def truncate(self, size: int | None = None) -> int:
        size = self.pos if size is None else size
        keep = size // self.part
        if keep in self.uploaded:
            raise AssertionError(f"cannot truncate inside uploaded part {keep + 1}")
        for index in [i for i in self.parts if i > keep]:
            del self.parts[index]
        # Parts past the end are uploaded again (same number) if written again, or left out.
        self.uploaded = {i for i in self.uploaded if i < keep}
        if keep in self.parts:
            buf = self.parts[keep]
            buf[size - keep * self.part :] = bytes(self.part - (size - keep * self.part))
        self.holes = [(a, min(b, size)) for a, b in self.holes if a < size]
        self.end = size
        return size

    def close(self) -> None:
        """Closing only ends writing: `commit` or `abort` decide what becomes of the object."""
        super().close()

    # -- parts -------------------------------------------------------------------------------------
    def _fill(self, start: int, end: int) -> None:
        holes = []
        for a, b in self.holes:
            if end <= a or start >= b:
                holes.append((a, b))
                continue
            if a < start:
                holes.append((a, start))
            if end < b:
                holes.append((end, b))
        self.holes = holes

    def _held(self, index: int) -> bool:
        # A part overlapping a hole is written again when the hole is filled; the part holding
        # a hole's end too (the zip writer may truncate there to rewrite a member stored).
        lo, hi = index * self.part, (index + 1) * self.part
        return any(a < hi and b >= lo for a, b in self.holes)

    def _upload_ready(self) -> None:
        for index in sorted(self.parts):
            if (index + 1) * self.part > self.end or self._held(index):
                continue
            self._send(index, bytes(self.parts.pop(index)))

    def _send(self, index: int, data: bytes) -> None:
        while len(self.pending) >= IN_FLIGHT:
            self._wait(self.pending.popleft())
        if not self.started:
            # Here, not in a worker: two workers would each start an upload.
            with remote_errors(self.url, OutputError, "write"):
                self.store.start()
            self.started = True
        self.uploaded.add(index)
        self.pending.append(self.pool.submit(self.store.upload_part, index + 1, data))

    def _wait(self, job: Future[None]) -> None:
        with remote_errors(self.url, OutputError, "write"):
            job.result()

    def _drain(self) -> None:
        while self.pending:
            self._wait(self.pending.popleft())

    def commit(self) -> int:
        """Upload what is left and make the object; returns its size."""
        if self.holes:
            raise AssertionError(f"unwritten ranges at commit: {self.holes}")
        last = max(self.end - 1, 0) // self.part
        try:
            if not self.started:
                buf = self.parts.pop(0, bytearray())
                self.store.put(bytes(buf[: self.end]))
            else:
                for index in range(last + 1):
                    if index in self.parts:
                        size = min(self.part, self.end - index * self.part)
                        self._send(index, bytes(self.parts.pop(index)[:size]))
                self._drain()
                self.store.complete(last + 1)
        finally:
            self.pool.shutdown(wait=True)
        self.committed = True
        return self.end

    def abort(self) -> None:
        """Stop uploading and leave nothing in the store."""
        for job in self.pending:
            job.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pending.clear()
        self.parts.clear()
        self.store.abort()


class _RemoteOutput:
    """Mixin for the file writers: write into an `object_writer` file, not a local file."""

    out: BinaryIO
    kernel_copy = False

    def output_file(self) -> BinaryIO:
        return self.out


class RemoteZipWriter(_RemoteOutput, ZipWriter):
    def __init__(self, out: BinaryIO, plan: Plan, progress: Progress) -> None:
        super().__init__(Path(plan.output.name), plan, progress)
        self.out = out


class RemoteTarGzWriter(_RemoteOutput, TarGzWriter):
    def __init__(self, out: BinaryIO, plan: Plan, progress: Progress) -> None:
        super().__init__(Path(plan.output.name), plan, progress)
        self.out = out


class RemoteFolderWriter(Writer):
    """The no-archive format as objects below a prefix; on failure, what was written is removed."""

    def __init__(self, fs: Any, prefix: str, url: str, plan: Plan, progress: Progress) -> None:
        super().__init__(Path(plan.output.name), plan, progress)
        self.fs = fs
        self.prefix = prefix.rstrip("/")
        self.url = url.rstrip("/")
        self.written: list[str] = []

    def open(self) -> None:
        """Objects are opened one at a time."""

    def close(self) -> None:
        """Nothing stays open between entries."""

    def add(self, entry: Any) -> WrittenMember:
        target = f"{self.prefix}/{entry.name}"
        # Each file as one upload that appears whole or not at all (a Ctrl-C mid-file leaves
        # no partial object and no pending upload behind).
        with _object_file(self.fs, target, f"{self.url}/{entry.name}", entry.size) as out:
            for chunk in self.chunks(entry):
                out.file.write(chunk)
        self.written.append(target)
        return WrittenMember(entry.name, entry.size, entry.size, "file", None)

    def remove_written(self) -> None:
        written, self.written = self.written, []
        if written:
            with contextlib.suppress(Exception):
                self.fs.rm(written)


def output_url(plan: Plan) -> str:
    """The URL of the object (or prefix, for no-archive) a remote plan writes."""
    assert plan.export_url is not None
    return plan.export_url.rstrip("/") + "/" + plan.output.name


def check_remote_destination(fs: Any, path: str, url: str, force: bool) -> bool:
    """Refuse an existing object without --force (before any upload); True when one exists."""
    with remote_errors(url, OutputError, "check"):
        bucket = path.lstrip("/").split("/", 1)[0]
        if not fs.exists(bucket):
            raise OutputError(
                f"cannot write {redact(url)!r}: the bucket {bucket!r} does not exist (or these "
                "credentials cannot see it)",
                path=redact(url),
                hint="Create the bucket first, or check the credentials and endpoint.",
            )
        exists = bool(fs.exists(path))
    if exists and not force:
        raise OutputError(
            f"{redact(url)!r} already exists",
            path=redact(url),
            hint="Use -f/--force to replace it, or choose another --export-path.",
        )
    return exists


def sha256_remote(url: str) -> str:
    """SHA-256 of a written object, read back in order (as the local build re-reads its file)."""
    from .remote_read import STREAM_CHUNK, RemoteObject

    obj = RemoteObject(url)
    digest = hashlib.sha256()
    try:
        for start in range(0, obj.size, STREAM_CHUNK):
            digest.update(obj.fetch(start, STREAM_CHUNK))
    finally:
        obj.close()
    return digest.hexdigest()


def write_remote(
    plan: Plan, progress: OptionalProgress = None
) -> tuple[str, int, list[WrittenMember]]:
    """Write `plan` to its URL; returns the URL, the size written and the members."""
    url = output_url(plan)
    tracker = Progress(plan.total_size, progress)
    if plan.archive_format is ArchiveFormat.NO_ARCHIVE:
        fs, path = filesystem(url)
        existed = check_remote_destination(fs, path, url, plan.force)
        return url, *_write_folder(fs, path, url, plan, tracker, existed)
    writer_type = RemoteTarGzWriter if plan.archive_format is ArchiveFormat.TGZ else RemoteZipWriter
    with object_writer(url, force=plan.force, size_hint=plan.total_size) as out:
        members = writer_type(out.file, plan, tracker).write_all()
    return url, out.size, members


@dataclass
class ObjectOutput:
    """What `object_writer` yields: `file` to write (seekable); `size` once committed."""

    url: str
    file: BinaryIO
    size: int = 0


@contextlib.contextmanager
def object_writer(url: str, *, force: bool = False, size_hint: int = 0) -> Iterator[ObjectOutput]:
    """Write one object at an s3:// or gs:// URL as if it were a local file (seeks included).

    The object appears only when the block ends without error; any failure or Ctrl-C leaves
    nothing (not even a pending upload). An existing object is an OutputError unless `force`,
    checked before anything is sent. `size_hint` (the expected size) picks the part size.
    """
    fs, path = filesystem(url)
    check_remote_destination(fs, path, url, force)
    with _object_file(fs, path, url, size_hint) as out:
        yield out


def object_writer_on(
    fs: Any, path: str, url: str, *, size_hint: int = 0
) -> contextlib.AbstractContextManager[ObjectOutput]:
    """`object_writer` on a store the caller has opened (`remote.filesystem`) and checked: many
    objects through one client, with no existence check per object."""
    return _object_file(fs, path, url, size_hint)


@contextlib.contextmanager
def _object_file(fs: Any, path: str, url: str, size_hint: int) -> Iterator[ObjectOutput]:
    """`object_writer` on an open file system, without the existence check."""
    sink = PartSink(part_store(fs, path, scheme_of(url)), part_size(size_hint), url)
    out = ObjectOutput(redact(url), io.BufferedWriter(sink, buffer_size=1 << 20))
    try:
        # The caller's own errors pass through as they are; the store's are OutputErrors.
        yield out
        if not out.file.closed:
            out.file.close()  # flushes what the buffer holds
        with remote_errors(url, OutputError, "write"):
            out.size = sink.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            sink.abort()
        raise


def _write_folder(
    fs: Any, path: str, url: str, plan: Plan, tracker: Progress, existed: bool
) -> tuple[int, list[WrittenMember]]:
    old: set[str] = set()
    if existed:
        with remote_errors(url, OutputError, "list"):
            old = {str(p) for p in fs.find(path)}
    writer = RemoteFolderWriter(fs, path, url, plan, tracker)
    try:
        with remote_errors(url, OutputError, "write"):
            members = writer.write_all()
    except BaseException:
        writer.remove_written()
        raise
    # Replaced (--force): objects of the previous build that this one does not have.
    stale = sorted(old - {f"{path.rstrip('/')}/{m.name}" for m in members})
    if stale:
        with remote_errors(url, OutputError, "clean up"):
            fs.rm(stale)
    return sum(m.size for m in members), members


def build_remote(
    plan: Plan, *, progress: OptionalProgress, digest: bool
) -> tuple[str, int, str | None, list[WrittenMember]]:
    """`builder.build` for an `s3://`/`gs://` export path: URL (redacted), size, SHA-256 (with
    `digest`, for archives) and members."""
    url, size, members = write_remote(plan, progress)
    sha = None
    if digest and plan.archive_format is not ArchiveFormat.NO_ARCHIVE:
        sha = sha256_remote(url)
    return redact(url), size, sha, members


__all__ = [
    "ComposePartStore",
    "ObjectOutput",
    "PartSink",
    "PartStore",
    "S3PartStore",
    "build_remote",
    "object_writer",
    "object_writer_on",
    "part_size",
    "write_remote",
]
