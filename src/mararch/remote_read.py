"""Reading archives at URLs: range requests for zips, one streamed pass where ranges cannot work.

A `.mar` is a zip: its directory sits at the end, so `inspect` needs the last 64 KiB, the central
directory and the manifest, each fetched by a range request; member data is fetched only when it
is read (`verify` without --fast, `extract`). A `.tar.gz` has no index: it is streamed once into
an anonymous temporary file (deleted when closed, never visible by name). So is a zip on an HTTP
server that ignores Range. `Transfer` counts what came over the network.
"""

from __future__ import annotations

import io
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Any, BinaryIO

from . import zipformat as zf
from .errors import ArchiveError, InputError, MararchError
from .reader import GZIP_MAGIC, ArchiveView, OffsetReader, TarView, ZipView
from .remote import basename, filesystem, redact, remote_errors, scheme_of
from .sources import Source

#: Smallest range asked for: the zip reader's small reads (headers, names) share one request.
READAHEAD = 64 << 10
#: Requests made while streaming a whole object.
STREAM_CHUNK = 8 << 20


class TransferMode(str, Enum):
    """How a remote archive was read."""

    RANGES = "ranges"
    STREAM = "stream"


@dataclass
class Transfer:
    """What reading a remote archive fetched: `bytes_fetched` over `requests` range requests
    (mode "ranges"), or the whole object once (mode "stream", with `note` saying why)."""

    url: str
    size: int
    mode: TransferMode = TransferMode.RANGES
    bytes_fetched: int = 0
    requests: int = 0
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "size": self.size,
            "mode": self.mode.value,
            "bytes_fetched": self.bytes_fetched,
            "requests": self.requests,
            "note": self.note,
        }


class NoRanges(Exception):
    """The server answered a range request with the whole object."""


class RemoteObject:
    """One object in a store, read by offset through one fsspec file shared by every reader.

    `error` is the error type opening it raises (ArchiveError for an archive, InputError for
    an input file)."""

    def __init__(self, url: str, error: type[MararchError] = ArchiveError) -> None:
        self.url = url
        self.display = redact(url)
        self._scheme = scheme_of(url)
        self.fs, self.path = filesystem(url)
        self._error = error
        with remote_errors(url, error):
            info = self.fs.info(self.path)
        if info.get("type") == "directory":
            raise error(
                f"{self.display!r} is a folder (a prefix), not a file",
                hint="Name one object below it (an archive's URL). A deployment tree is "
                "checked locally: deploy the same archives to a folder and verify that.",
            )
        size = info.get("size")
        self.size = int(size) if size is not None else -1
        self.mtime = modified(info)
        self.transfer = Transfer(self.display, self.size)
        self._lock = threading.Lock()
        self._file: Any = None
        #: The last few blocks fetched: the zip reader reads the tail, then the directory and
        #: headers inside it, and reads a member's header then its data.
        self._recent: list[tuple[int, bytes]] = []

    def _handle(self) -> Any:
        if self._file is None:
            with remote_errors(self.url, self._error):
                # No fsspec cache: each read below is one request, counted here.
                self._file = self.fs.open(
                    self.path, "rb", block_size=READAHEAD, cache_type="none", size=self.size
                )
        return self._file

    def fetch(self, start: int, length: int) -> bytes:
        """Bytes [start, start+length) of the object (fewer only at its end)."""
        length = max(0, min(length, self.size - start))
        if length == 0:
            return b""
        for at, block in self._recent:
            if at <= start and start + length <= at + len(block):
                return block[start - at : start - at + length]
        data: bytes | None = None
        with self._lock, remote_errors(self.url, self._error):
            handle = self._handle()
            try:
                handle.seek(start)
                data = bytes(handle.read(length))
            except ValueError as exc:
                # fsspec's HTTP file, when a range request is answered with the whole object.
                if "range" not in str(exc).lower():
                    raise
        if data is None:
            raise NoRanges
        self.transfer.requests += 1
        self.transfer.bytes_fetched += len(data)
        if len(data) != length:
            raise self._error(
                f"{self.display!r}: the server sent {len(data)} of the {length} bytes asked for "
                f"at offset {start} (the object changed or the transfer was cut short)",
                hint="Try again; if it persists, check the object on the server.",
            )
        if length <= READAHEAD * 2:
            self._recent = [(start, data), *self._recent[:3]]
        return data

    def open(self) -> BinaryIO:
        return io.BufferedReader(RangedFile(self), buffer_size=READAHEAD)

    def chunks(self, error: Callable[[str], MararchError] = ArchiveError) -> Iterator[bytes]:
        """The whole object in order, one request (a plain GET over HTTP)."""
        with remote_errors(self.url, error):
            # HTTP: a plain GET (ranges may be what failed); stores: their default reader.
            kwargs = {"block_size": 0} if self._scheme.ranged_stream_only else {}
            with self.fs.open(self.path, "rb", **kwargs) as src:
                while chunk := src.read(STREAM_CHUNK):
                    yield chunk

    def spool(self, note: str) -> IO[bytes]:
        """Stream the whole object once into an anonymous temporary file."""
        self.transfer.mode = TransferMode.STREAM
        self.transfer.note = note
        out = tempfile.TemporaryFile()  # noqa: SIM115 - returned open, closed by the view
        try:
            self.transfer.requests += 1
            for chunk in self.chunks():
                out.write(chunk)
                self.transfer.bytes_fetched += len(chunk)
            if self.size >= 0 and self.transfer.bytes_fetched < self.size:
                raise ArchiveError(
                    f"{self.display!r}: the transfer ended after {self.transfer.bytes_fetched} "
                    f"of {self.size} bytes",
                    hint="Try again; if it persists, check the object on the server.",
                )
        except BaseException:
            out.close()
            raise
        self.transfer.size = out.tell()
        out.seek(0)
        return out

    def close(self) -> None:
        if self._file is not None:
            with remote_errors(self.url, ArchiveError):
                self._file.close()
            self._file = None


class RangedFile(OffsetReader):
    """A `RemoteObject` as a stream: each read is one range request (or a recent block)."""

    def __init__(self, obj: RemoteObject) -> None:
        super().__init__()
        self._obj = obj

    def _end(self) -> int:
        return self._obj.size

    def _read_at(self, start: int, length: int) -> bytes:
        return self._obj.fetch(start, length)


class _SpooledZip:
    """A spooled zip as the zip reader's random-access source."""

    def __init__(self, fh: IO[bytes], display: str, size: int) -> None:
        self._fh = fh
        self.display = display
        self.size = size
        self._lock = threading.Lock()

    def open(self) -> BinaryIO:
        # One open file: readers get their own positioned view of it.
        return io.BufferedReader(_Positioned(self._fh, self._lock))


class _Positioned(OffsetReader):
    def __init__(self, fh: IO[bytes], lock: threading.Lock) -> None:
        super().__init__()
        self._fh = fh
        self._lock = lock

    def _end(self) -> int:
        with self._lock:
            return self._fh.seek(0, io.SEEK_END)

    def _read_at(self, start: int, length: int) -> bytes:
        with self._lock:
            self._fh.seek(start)
            return self._fh.read(length)


def modified(info: dict[str, Any]) -> float:
    """An object's modification time from its listing (when a build has no SOURCE_DATE_EPOCH)."""
    for key in ("mtime", "LastModified", "updated", "last_modified"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        stamp = getattr(value, "timestamp", None)
        if callable(stamp):
            return float(stamp())
    return time.time()


def _container_error(display: str, head: bytes) -> ArchiveError:
    what = "an empty object" if not head else "neither a zip (.mar) nor a gzip (.tar.gz) file"
    return ArchiveError(
        f"{display!r} is not a model archive: it is {what}",
        hint="Give the URL of a .mar or .tar.gz object.",
        code="not-an-archive",
    )


def _open_spooled(obj: RemoteObject, name: Path, note: str) -> ArchiveView:
    fh = obj.spool(note)
    try:
        head = fh.read(4)
        fh.seek(0)
        view: ArchiveView
        if head in (zf.LOCAL_SIG, zf.END_SIG):
            view = ZipView(name, _SpooledZip(fh, obj.display, obj.transfer.size))
            view.close = fh.close  # type: ignore[method-assign]
        elif head[:2] == GZIP_MAGIC:
            view = TarView(name, fh, obj.display)  # type: ignore[arg-type]
        else:
            raise _container_error(obj.display, head)
    except BaseException:
        fh.close()
        raise
    return view


def open_remote_archive(url: str) -> ArchiveView:
    """List the archive at `url`: a zip by range requests, anything else streamed once."""
    scheme = scheme_of(url)
    obj = RemoteObject(url)
    name = Path(basename(url) or "archive")
    try:
        if obj.size < 0:
            return _open_spooled(obj, name, "the server does not give the size: streamed once")
        head = obj.fetch(0, 4)
        if scheme.ranged_stream_only and obj.size > 4:
            obj.fetch(obj.size - 1, 1)  # does the server honour Range?
        if head in (zf.LOCAL_SIG, zf.END_SIG):
            view: ArchiveView = ZipView(name, obj)
            view.close = obj.close  # type: ignore[method-assign]
        elif head[:2] == GZIP_MAGIC:
            obj.close()
            view = _open_spooled(
                obj, name, "a .tar.gz has no index to read by ranges: streamed once"
            )
        else:
            raise _container_error(obj.display, head)
    except NoRanges:
        obj.close()
        view = _open_spooled(obj, name, "the server ignores Range requests: streamed once")
    except BaseException:
        obj.close()
        raise
    view.transfer = obj.transfer
    return view


def remote_source(url: str, origin: str) -> Source:
    """An input file in a store (--serialized-file s3://...): streamed into the archive when
    written, checked against the size it had when planned."""
    shown = redact(url)
    obj = RemoteObject(url, InputError)
    size = obj.size
    if size < 0:
        raise InputError(
            f"{shown!r} ({origin}): the server does not give its size",
            hint="Download it first, or serve it with a Content-Length.",
        )

    def stream() -> Iterator[bytes]:
        seen = 0
        for chunk in obj.chunks(InputError):
            seen += len(chunk)
            if seen > size:
                break
            yield chunk
        if seen != size:
            raise InputError(
                f"{shown!r} changed while it was being packaged (expected {size} bytes, "
                f"read {seen})",
                hint="Run the build again once nothing writes to the object.",
            )

    return Source(
        basename(url), Path(shown), size, False, origin, obj.mtime, stream=stream, read_at=obj.fetch
    )


__all__ = ["RangedFile", "RemoteObject", "Transfer", "open_remote_archive", "remote_source"]
