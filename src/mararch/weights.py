"""What a weights member is, from its bytes: torch zip, TorchScript, legacy torch pickle, plain
pickle, safetensors or ONNX; and every pickle inside it, scanned (`pickles.scan_pickle`).

A torch zip nested in the archive is read through its own central directory with seeks when the
container allows it (a stored zip member, a folder's file: `open_window`); otherwise (deflated
member, tar.gz) it is followed record by record as the bytes stream past, and its central
directory, which comes last, confirms that every pickle torch would read was scanned. Tensor data
is skipped, never kept; a legacy pickle is scanned as a stream up to its raw tensor data.
"""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import BinaryIO, Optional

from . import zipformat as zf
from .errors import ArchiveError, Finding, Severity
from .pickles import (
    ByteSource,
    PickleScan,
    Verdict,
    looks_like_pickle,
    plausible,
    scan_pickle,
    stream_chunks,
)
from .plans import Entry
from .reader import ArchiveView, OffsetReader

#: A zip's end record sits in its last bytes: the fixed part and the longest comment.
ZIP_TAIL = zf.END_RECORD.size + zf.MAX_COMMENT
#: The first pickle of a legacy (pre-1.6) torch.save file: protocol 2, LONG1 of torch's magic.
LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
#: torch's legacy format writes five pickles (magic, protocol, sys_info, the object, storage
#: keys) and then the raw storages.
LEGACY_PICKLES = 5
#: Extensions whose members are scanned as pickles even without a PROTO opcode (protocols 0, 1).
PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".dat", ".p")
#: safetensors' own limit on its JSON header.
MAX_SAFETENSORS_HEADER = 100 << 20
SAFETENSORS_DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16,
    "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64,
    "F64": 64, "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}  # fmt: skip
#: Bits per element of torch's storage dtypes (pickles.STORAGE_DTYPES).
DTYPE_BITS = {
    "float32": 32, "float16": 16, "bfloat16": 16, "float64": 64, "int64": 64, "int32": 32,
    "int16": 16, "int8": 8, "uint8": 8, "bool": 8, "complex64": 64, "complex128": 128,
    "qint8": 8, "quint8": 8, "qint32": 32, "quint4x2": 8, "quint2x4": 8,
}  # fmt: skip
#: The same dtypes under torch's names, so that inspect shows one vocabulary.
SAFETENSORS_TORCH_DTYPES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16", "F16": "float16",
    "BF16": "bfloat16", "I32": "int32", "U32": "uint32", "F32": "float32", "I64": "int64",
    "U64": "uint64", "F64": "float64", "C64": "complex64",
}  # fmt: skip
#: Errors of Python's zipfile (and of the bytes under it) on a hostile nested zip.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error,
               ValueError, NotImplementedError, struct.error, KeyError)  # fmt: skip


class WeightsFormat(str, Enum):
    """How a weights member is serialized."""

    TORCH_ZIP = "torch-zip"
    TORCHSCRIPT = "torchscript"
    TORCH_LEGACY = "torch-legacy"
    PICKLE = "pickle"
    SAFETENSORS = "safetensors"
    ONNX = "onnx"
    ZIP = "zip"


@dataclass
class NestedPickle:
    """One pickle of a member: `inner` names the record inside a nested zip (None: the member)."""

    inner: Optional[str]
    scan: PickleScan


@dataclass
class WeightsInfo:
    """What `scan_member` learned about one member."""

    member: str
    format: WeightsFormat
    pickles: list[NestedPickle] = field(default_factory=list)
    tensors: Optional[int] = None
    parameters: Optional[int] = None
    dtypes: set[str] = field(default_factory=set)
    #: (code, message) problems of the container itself (safetensors header, nested zip).
    problems: list[tuple[str, str]] = field(default_factory=list)

    def imports(self) -> list[str]:
        """Every distinct callable the member's pickles import, in order."""
        seen: dict[str, None] = {}
        for p in self.pickles:
            for i in p.scan.imports:
                seen.setdefault(i.dotted, None)
        return list(seen)

    def to_json(self) -> dict[str, object]:
        """The stable JSON form of `inspect --weights --json`."""
        verdicts: dict[str, str] = {}
        for p in self.pickles:
            for i in p.scan.imports:
                verdicts.setdefault(i.dotted, i.verdict.value)
        return {
            "member": self.member,
            "format": self.format.value,
            "tensors": self.tensors,
            "parameters": self.parameters,
            "dtypes": sorted(self.dtypes),
            "pickles": [p.inner or self.member for p in self.pickles],
            "imports": [{"name": k, "verdict": v} for k, v in verdicts.items()],
            "problems": [{"code": c, "message": m} for c, m in self.problems],
        }

    def add_counts(self, scan: PickleScan) -> None:
        self.tensors = (self.tensors or 0) + scan.tensors
        self.parameters = (self.parameters or 0) + scan.parameters
        self.dtypes |= scan.dtypes


Window = Callable[[], Optional[BinaryIO]]


def scannable(name: str) -> bool:
    """Every member may be weights or a pickle, by content; only the archive's own files are not."""
    return not name.startswith("MAR-INF/")


def _no_window() -> BinaryIO | None:
    return None


class _RangedInput(OffsetReader):
    """An input read by offset (a URL's range requests) as a seekable stream."""

    def __init__(self, read_at: Callable[[int, int], bytes], size: int) -> None:
        super().__init__()
        self._read, self._size = read_at, size

    def _end(self) -> int:
        return self._size

    def _read_at(self, start: int, length: int) -> bytes:
        length = min(length, self._size - start)
        return self._read(start, length) if length > 0 else b""


def scan_entry(entry: Entry) -> WeightsInfo | None:
    """`scan_member` for what `create` is about to write (a file read in place, seekable)."""
    if entry.data is not None:
        return scan_member(entry.name, entry.size, iter([entry.data]), _no_window)
    if entry.read_at is not None:
        # A remote input: read what the scan needs by ranges, not by streaming the object.
        read_at, size = entry.read_at, entry.size

        def ranged() -> BinaryIO:
            return io.BufferedReader(_RangedInput(read_at, size))

        with ranged() as fh:
            try:
                return scan_member(entry.name, size, stream_chunks(fh), ranged)
            except ArchiveError:
                return None  # the writer reports it, with the URL
    if entry.stream is not None:
        chunks = entry.stream()
        try:
            return scan_member(entry.name, entry.size, chunks, _no_window)
        except ArchiveError:
            return None  # the writer reports it, with the path
        finally:
            getattr(chunks, "close", lambda: None)()
    assert entry.source is not None
    source = entry.source

    def window() -> BinaryIO | None:
        try:
            return source.open("rb")
        except OSError:
            return None

    try:
        with source.open("rb") as fh:
            return scan_member(entry.name, entry.size, stream_chunks(fh), window)
    except OSError:
        return None  # the writer reports it, with the path


def scan_member(
    name: str, size: int, chunks: Iterator[bytes], window: Window
) -> WeightsInfo | None:
    """Identify and scan one member; None when it is not weights (nor a pickle).

    Reads from `chunks` only as far as it needs (the caller drains the rest); `window`, when it
    returns a seekable stream of the member's data, lets a nested zip be read by seeking.
    """
    src = ByteSource(chunks, size)
    head = src.peek(16)
    lower = name.lower()
    if head[:4] == zf.LOCAL_SIG:
        return _scan_zip(name, src, window)
    if head.startswith(LEGACY_MAGIC):
        meant = lower.endswith(PICKLE_SUFFIXES)
        return _scan_pickles(name, src, WeightsFormat.TORCH_LEGACY, LEGACY_PICKLES, strict=meant)
    pickle_named = lower.endswith(PICKLE_SUFFIXES)
    if looks_like_pickle(head):
        # A broken pickle is reported only where one is clearly meant (PROTO and a pickle name);
        # any other file whose first bytes happen to look like a pickle is left alone unless
        # what was read imports something.
        return _scan_pickles(name, src, WeightsFormat.PICKLE, 1, strict=pickle_named)
    if lower.endswith(".safetensors"):
        return _scan_safetensors(name, size, src)
    if _safetensors_head(head, size):
        info = _scan_safetensors(name, size, src)
        # Found by its first bytes only: it counts if its header is at least a JSON object.
        return info if info.tensors is not None else None
    if pickle_named:
        return _scan_pickles(name, src, WeightsFormat.PICKLE, 1, strict=False)
    if lower.endswith(".onnx"):
        # An ONNX ModelProto starts with field 1 (ir_version, a varint): tag byte 0x08.
        fmt = WeightsFormat.ONNX
        return WeightsInfo(name, fmt, problems=[] if head[:1] == b"\x08" else [_not_onnx])
    # Protocol 0 and 1 pickles have no magic: a member counts only if it is, whole, one pickle.
    if head and head[0] in _FIRST_OPCODES:
        scan = scan_pickle(src)
        if scan.complete and src.at_end():
            info = WeightsInfo(name, WeightsFormat.PICKLE, [NestedPickle(None, scan)])
            info.add_counts(scan)
            return info
    return None


def _safetensors_head(head: bytes, size: int) -> bool:
    """An 8-byte header length that fits the member, then the JSON header's "{"."""
    return len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] <= size - 8


_not_onnx = ("weights-format", "named .onnx but not an ONNX model (no ir_version field first)")
#: Opcodes a protocol 0/1 pickle written by Python starts with.
_FIRST_OPCODES = frozenset(b"(]})cNILFSVXUTJKMG")


def _scan_pickles(
    name: str, src: ByteSource, fmt: WeightsFormat, count: int, strict: bool = True
) -> WeightsInfo | None:
    info = WeightsInfo(name, fmt)
    for i in range(count):
        scan = scan_pickle(src)
        if not (i or strict or scan.complete or any(map(plausible, scan.imports))):
            # A .bin or .pt that is not a pickle (protocol 0 and 1 have no magic): not ours.
            # Imports before the break still count: pickle.load runs them before failing.
            return None
        info.pickles.append(NestedPickle(None, scan))
        info.add_counts(scan)
        if not scan.complete:
            break
    return info


# ---------------------------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------------------------


def _scan_safetensors(name: str, size: int, src: ByteSource) -> WeightsInfo:
    info = WeightsInfo(name, WeightsFormat.SAFETENSORS)
    problems = safetensors_problems(size, src, info)
    info.problems += [("safetensors-invalid", p) for p in problems]
    return info


class _BadHeader(Exception):
    """A safetensors header that cannot be read at all (the one problem reported)."""


def safetensors_problems(size: int, src: ByteSource, info: WeightsInfo) -> list[str]:
    """The header checked as safetensors' loader checks it, from the header alone."""
    try:
        header, buffer = _safetensors_header(size, src)
    except _BadHeader as exc:
        return [str(exc)]
    info.tensors, info.parameters = 0, 0
    spans: list[tuple[int, int, str]] = []
    out = _entry_problems(header, buffer, info, spans)
    out += _layout_problems(sorted(spans), buffer, clean=not out)
    return out


def _safetensors_header(size: int, src: ByteSource) -> tuple[dict[str, object], int]:
    """The JSON header and the size of the data buffer after it."""
    raw_len = src.read(8)
    if len(raw_len) < 8:
        raise _BadHeader(f"{size} bytes: too short for the 8-byte header length")
    length = struct.unpack("<Q", raw_len)[0]
    if length > MAX_SAFETENSORS_HEADER or length > size - 8:
        raise _BadHeader(
            f"the header declares {length} bytes, more than the file or the 100 MiB limit"
        )
    try:
        header = json.loads(src.read(length).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _BadHeader(f"the header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise _BadHeader("the header is not a JSON object")
    return header, size - 8 - length


def _entry_problems(
    header: dict[str, object], buffer: int, info: WeightsInfo, spans: list[tuple[int, int, str]]
) -> list[str]:
    """Check each entry of the header; count the good tensors into `info`, their byte ranges
    into `spans`."""
    out: list[str] = []
    for key, entry in header.items():
        if key == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                out.append("__metadata__ must map strings to strings")
            continue
        problem = _tensor_problem(entry, buffer)
        if problem is not None:
            out.append(f"tensor {key!r}: {problem}")
            continue
        assert isinstance(entry, dict)
        begin, end = entry["data_offsets"]
        spans.append((begin, end, key))
        info.tensors = (info.tensors or 0) + 1
        info.parameters = (info.parameters or 0) + math.prod(entry["shape"])
        info.dtypes.add(SAFETENSORS_TORCH_DTYPES.get(entry["dtype"], entry["dtype"].lower()))
    return out


def _layout_problems(spans: list[tuple[int, int, str]], buffer: int, clean: bool) -> list[str]:
    """Overlaps and gaps between the tensors (sorted by offset), and, when the entries were
    `clean`, a buffer they do not cover exactly."""
    out: list[str] = []
    at, previous = 0, None
    for begin, end, key in spans:
        if begin < at:
            out.append(f"tensor {key!r} overlaps {previous!r} (bytes {begin}..{end})")
        elif begin > at:
            out.append(f"{begin - at} unused bytes before tensor {key!r}: safetensors refuses gaps")
        at, previous = max(at, end), key
    if clean and not out and at != buffer:
        out.append(f"the tensors cover {at} of the {buffer} data bytes: safetensors refuses that")
    return out


def _tensor_problem(entry: object, buffer: int) -> str | None:
    if not isinstance(entry, dict):
        return "not an object"
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in SAFETENSORS_DTYPE_BITS:
        return f"unknown dtype {dtype!r}"
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        return f"shape {shape!r} is not a list of sizes"
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
    ):
        return f"data_offsets {offsets!r} is not [begin, end]"
    begin, end = offsets
    if not 0 <= begin <= end <= buffer:
        return f"data_offsets {offsets} fall outside the {buffer} data bytes"
    numel = math.prod(shape)
    bits = numel * SAFETENSORS_DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != end - begin:
        return f"{end - begin} bytes for {numel} {dtype} values"
    return None


# ---------------------------------------------------------------------------------------------
# nested zips (torch's serialization)
# ---------------------------------------------------------------------------------------------


def _zip_format(names: list[str]) -> WeightsFormat:
    """torch.save writes <root>/data.pkl; TorchScript also <root>/code/."""
    if any(n.split("/", 1)[-1].startswith("code/") for n in names):
        return WeightsFormat.TORCHSCRIPT
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return WeightsFormat.TORCH_ZIP
    return WeightsFormat.ZIP


def _scan_zip(name: str, src: ByteSource, window: Window) -> WeightsInfo | None:
    fh = window()
    if fh is not None:
        with fh:
            return _scan_zip_seeking(name, fh)
    return _ZipStream(name, src).run()


def _scan_zip_seeking(name: str, fh: BinaryIO) -> WeightsInfo | None:
    info = WeightsInfo(name, WeightsFormat.ZIP)
    try:
        zf = zipfile.ZipFile(fh)
    except _ZIP_ERRORS:
        return None  # no central directory: torch (which reads it) cannot open it either
    try:
        with zf:
            infos = zf.infolist()
            info.format = _zip_format([i.filename for i in infos])
            for entry in infos:
                if entry.filename.endswith(".pkl"):
                    with zf.open(entry) as stream:
                        scan = scan_pickle(ByteSource(stream_chunks(stream)))
                    _add_nested(info, entry.filename, scan)
    except _ZIP_ERRORS as exc:
        info.problems.append(("pickle-unscanned", f"the nested zip cannot be read: {exc}"))
    return info


def _add_nested(info: WeightsInfo, inner: str, scan: PickleScan) -> None:
    info.pickles.append(NestedPickle(inner, scan))
    # constants.pkl and the code's debug pickles hold no weights.
    if inner.endswith("data.pkl"):
        info.add_counts(scan)


class _Lost(Exception):
    """The record walk cannot follow the nested zip."""


@dataclass
class _Record:
    """A nested zip record's local header, as far as the walk needs it."""

    inner: str
    flags: int
    method: int
    csize: int
    #: Whether `csize` is the data's length (a data descriptor may leave it 0 in the header).
    known: bool


class _ZipStream:
    """A nested zip followed record by record as its bytes stream past."""

    def __init__(self, name: str, src: ByteSource) -> None:
        self.src = src
        src.start_tail(ZIP_TAIL)
        self.info = WeightsInfo(name, WeightsFormat.ZIP)
        self.scanned: set[int] = set()
        self.names: list[str] = []
        #: Record name -> byte size of the storages data.pkl declared (torch.save writes data.pkl
        #: first), so that their records are skipped without searching for their end.
        self.sizes: dict[str, int] = {}

    def run(self) -> WeightsInfo | None:
        try:
            while self.src.peek(4) == zf.LOCAL_SIG:
                self.record()
            if self.src.peek(4) != zf.CENTRAL_SIG:
                raise _Lost(f"no zip record at byte {self.src.pos}")
            self.central()
        except _Lost as exc:
            if self.has_end_record():
                self.info.problems.append(
                    ("pickle-unscanned", f"the nested zip's records cannot be followed: {exc}")
                )
            elif not self.info.pickles:
                return None  # not a zip torch can open (it reads the central directory)
        self.info.format = _zip_format(self.names)
        return self.info

    def has_end_record(self) -> bool:
        """Whether the data ends with a zip's end-of-central-directory record (which sits in
        the last 64 KiB + 22 bytes)."""
        while self.src.skip(1 << 20):
            pass
        return zf.END_SIG in self.src.tail

    def record(self) -> None:
        """Follow one record: its header, its data (a pickle is scanned on the way), its data
        descriptor."""
        offset = self.src.pos
        rec = self.local_header()
        self.names.append(rec.inner)
        start = self.src.pos
        if rec.inner.endswith(".pkl"):
            self.scanned.add(offset)
        guessed = False
        if rec.method == zf.DEFLATED:
            self.deflated(rec, start)
        else:
            guessed = self.stored(rec, start)
        if rec.flags & zf.FLAG_DATA_DESCRIPTOR:
            self.descriptor(start, rec.known, rec.csize, guessed=guessed)

    def local_header(self) -> _Record:
        src = self.src
        header = src.read(30)
        if len(header) < 30:
            raise _Lost("truncated local header")
        (_, _, flags, method, _, _, _, csize, size, n_len, e_len) = zf.LOCAL_HEADER.unpack(header)
        inner = src.read(n_len).decode("utf-8", "replace")
        extra = src.read(e_len)
        if zf.U32 in (csize, size):
            csize, size = _zip64_sizes(extra, size, csize)
        known = not flags & zf.FLAG_DATA_DESCRIPTOR or csize != 0
        if method not in (zf.STORED, zf.DEFLATED):
            raise _Lost(f"{inner!r} uses compression method {method}")
        return _Record(inner, flags, method, csize, known)

    def deflated(self, rec: _Record, start: int) -> None:
        """Inflate the record to its end (scanning a pickle on the way)."""
        inflated = _inflate(self.src)
        if rec.inner.endswith(".pkl"):
            self.scan_nested(rec.inner, ByteSource(inflated))
        for _ in inflated:
            pass  # to the end of the deflate stream, which marks the record's end
        if rec.known and self.src.pos != start + rec.csize:
            raise _Lost(f"{rec.inner!r} does not hold the {rec.csize} bytes it declares")

    def stored(self, rec: _Record, start: int) -> bool:
        """Scan a stored pickle, skip to the data's end when its size is known (or declared by
        data.pkl: True, the size is `guessed`)."""
        src = self.src
        if rec.inner.endswith(".pkl"):
            self.scan_nested(rec.inner, src)
        guessed = not rec.known and rec.inner in self.sizes
        if guessed:
            rec.csize, rec.known = self.sizes[rec.inner], True
        if rec.known:
            if src.pos > start + rec.csize:
                raise _Lost(f"the pickle {rec.inner!r} runs past its record")
            src.skip(start + rec.csize - src.pos)
        return guessed

    def scan_nested(self, inner: str, src: ByteSource) -> None:
        scan = scan_pickle(src)
        _add_nested(self.info, inner, scan)
        self.expect(inner, scan)

    def expect(self, inner: str, scan: PickleScan) -> None:
        if not inner.endswith("/data.pkl"):
            return
        folder = inner[: -len("data.pkl")] + "data/"
        for key, (dtype, numel) in scan.storages.items():
            bits = DTYPE_BITS.get(dtype)
            if bits is not None and numel is not None:
                self.sizes[folder + key] = numel * bits // 8

    def descriptor(self, start: int, known: bool, csize: int, guessed: bool = False) -> None:
        """Step over a data descriptor; for stored data of unknown size, find the one whose
        compressed size matches the distance from the data's start (from the size data.pkl
        declared, when `guessed`: if no descriptor is there, the search goes on from there)."""
        src = self.src
        if guessed and not self.matches(csize):
            known = False
        while True:
            at = (
                src.pos
                if known or src.peek(4) == zf.DESCRIPTOR_SIG
                else src.find(zf.DESCRIPTOR_SIG)
            )
            if at < 0:
                raise _Lost("no data descriptor")
            length = self.matches(csize if known else at - start)
            if length:
                src.skip(length)
                return
            if known:
                raise _Lost(f"a bad data descriptor at byte {at}")
            src.skip(1)

    def matches(self, csize: int) -> int:
        """The length of the data descriptor at the current position if it records `csize`
        compressed bytes, else 0."""
        raw = self.src.peek(24)
        has_sig = raw[:4] == zf.DESCRIPTOR_SIG
        body = raw[4:] if has_sig else raw
        if len(body) >= 12 and struct.unpack("<I", body[4:8])[0] == csize:
            return (4 if has_sig else 0) + 12
        if len(body) >= 20 and struct.unpack("<Q", body[4:12])[0] == csize:
            return (4 if has_sig else 0) + 20
        return 0

    def central(self) -> None:
        """Read the central directory: every pickle it lists must have been scanned."""
        src = self.src
        listed: list[str] = []
        while src.peek(4) == zf.CENTRAL_SIG:
            header = src.read(46)
            if len(header) < 46:
                raise _Lost("truncated central directory")
            n_len, e_len, c_len = struct.unpack("<HHH", header[28:34])
            offset = struct.unpack("<I", header[42:46])[0]
            inner = src.read(n_len).decode("utf-8", "replace")
            extra = src.read(e_len)
            src.skip(c_len)
            if offset == zf.U32:
                offset = _zip64_offset(extra, header)
            listed.append(inner)
            if inner.endswith(".pkl") and offset not in self.scanned:
                raise _Lost(f"{inner!r} (at byte {offset}) was not among the records followed")
        self.names = listed


def _zip64_sizes(extra: bytes, size: int, csize: int) -> tuple[int, int]:
    i = 0
    while i + 4 <= len(extra):
        tag, length = zf.EXTRA_HEADER.unpack(extra[i : i + 4])
        body = extra[i + 4 : i + 4 + length]
        if tag == zf.ZIP64_EXTRA_TAG:
            values = [struct.unpack("<Q", body[j : j + 8])[0] for j in range(0, len(body) - 7, 8)]
            if size == zf.U32 and values:
                size = values.pop(0)
            if csize == zf.U32 and values:
                csize = values.pop(0)
        i += 4 + length
    return csize, size


def _zip64_offset(extra: bytes, header: bytes) -> int:
    csize, size = struct.unpack("<II", header[20:28])
    i = 0
    while i + 4 <= len(extra):
        tag, length = zf.EXTRA_HEADER.unpack(extra[i : i + 4])
        body = extra[i + 4 : i + 4 + length]
        if tag == zf.ZIP64_EXTRA_TAG:
            skip = 8 * ((size == zf.U32) + (csize == zf.U32))
            if len(body) >= skip + 8:
                return int(struct.unpack("<Q", body[skip : skip + 8])[0])
        i += 4 + length
    raise _Lost("a zip64 offset without its extra field")


def _inflate(src: ByteSource) -> Iterator[bytes]:
    """Inflate a raw deflate stream from `src`, leaving `src` just after it."""
    inflater = zlib.decompressobj(-15)
    try:
        while not inflater.eof:
            data = src.read(64 << 10)
            if not data:
                raise _Lost("a deflated record ends early")
            out = inflater.decompress(data)
            if inflater.eof:
                src.unread(inflater.unused_data)
            if out:
                yield out
    except zlib.error as exc:
        raise _Lost(f"a corrupt deflated record: {exc}") from None


def inspect_weights(view: ArchiveView) -> list[WeightsInfo]:
    """Every weights or pickle member of an open archive, scanned (for `inspect --weights`)."""
    out: list[WeightsInfo] = []
    for m in view.members:
        if not m.is_file or not scannable(m.name):
            continue
        chunks = view.iter_member(m)
        try:
            info = scan_member(m.name, m.size, chunks, partial(view.open_window, m))
        finally:
            getattr(chunks, "close", lambda: None)()
        if info is not None:
            out.append(info)
    return out


# ---------------------------------------------------------------------------------------------
# findings
# ---------------------------------------------------------------------------------------------


def pickle_findings(info: WeightsInfo) -> list[Finding]:
    """pickle-unsafe-import, pickle-unknown-import, pickle-invalid and the container problems."""
    out = [
        Finding(
            Severity.ERROR if code != "weights-format" else Severity.WARNING, code, msg, info.member
        )
        for code, msg in info.problems
    ]
    for nested in info.pickles:
        where = f"its pickle {nested.inner!r}" if nested.inner else "the pickle"
        seen: set[str] = set()
        for imp in nested.scan.imports:
            if imp.dotted in seen:
                continue
            seen.add(imp.dotted)
            at = f"{imp.opcode} at byte {imp.pos}"
            if imp.verdict is Verdict.UNSAFE:
                out.append(
                    Finding(
                        Severity.ERROR,
                        "pickle-unsafe-import",
                        f"{where} imports {imp.dotted} ({at}): unpickling it (torch.load) can run "
                        "code or touch the system; do not deploy it, re-save the weights as a "
                        "state_dict or safetensors",
                        info.member,
                    )
                )
            elif imp.verdict is Verdict.UNKNOWN:
                out.append(
                    Finding(
                        Severity.WARNING,
                        "pickle-unknown-import",
                        f"{where} imports {imp.dotted} ({at}), which weights do not need: "
                        "torch.load(weights_only=True) refuses it and a full unpickle imports "
                        "and may run it; save a state_dict instead",
                        info.member,
                    )
                )
        if not nested.scan.complete:
            out.append(
                Finding(
                    Severity.WARNING,
                    "pickle-invalid",
                    f"{where} is not a complete pickle ({nested.scan.error}): loading it fails",
                    info.member,
                )
            )
    return out


__all__ = [
    "NestedPickle",
    "WeightsFormat",
    "WeightsInfo",
    "inspect_weights",
    "pickle_findings",
    "scan_entry",
    "scan_member",
    "scannable",
]
