"""Deflate and CRC-32 behind one small interface, so the writers do not care which library runs.

Engines, fastest first: isal (python-isal), zlib-ng, the standard library's zlib. All of them emit
standard raw deflate streams, so every zip and gzip reader can read the result. The first one that
imports is used; `MARARCH_DEFLATE=isal|zlib-ng|zlib` forces one (tests use it for the fallbacks).

Large inputs are cut into pieces that are compressed independently on a thread pool (every engine
releases the GIL while it works) and joined into one deflate stream, the way pigz does: every piece
but the last ends with a sync flush, which byte-aligns the stream without ending it, and the
per-piece CRC-32s are combined. At most a few pieces are in flight, so memory stays flat.
"""

from __future__ import annotations

import os
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Protocol, Union

from .errors import UsageError

#: Files are read in chunks this large (sampled too): big enough for disk speed, small enough
#: for flat memory.
CHUNK_SIZE = 1 << 20
#: Inputs are compressed in independent pieces this large. Big enough that the per-piece cost
#: (a Python call, a flush, a fresh dictionary) is lost in the noise, small enough that a few
#: pieces in flight per core keep memory well under 150 MB.
PIECE_SIZE = 4 << 20
#: Smaller inputs to a piece are gathered into one part before they are deflated.
SMALL_PART = 64 << 10
#: torch-model-archiver's level (zlib's default), and the default of engines without isal's speed.
REFERENCE_LEVEL = 6
#: A piece that the fast level shrinks below this fraction is text-like and gets a second pass
#: with the reference's own codec (zlib level 6): text is what `auto` deflates, and the faster
#: engines leave it a few percent larger than the reference's (docs/performance.md).
TEXT_LIKE = 0.5
ENGINE_VARIABLE = "MARARCH_DEFLATE"
#: What the engines accept as input.
Buffer = Union[bytes, bytearray, memoryview]
ENGINE_NAMES = ("isal", "zlib-ng", "zlib")


class Deflater(Protocol):
    """The subset of `zlib.compressobj` the writers use."""

    def compress(self, data: Buffer, /) -> bytes: ...

    def flush(self, mode: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class Engine:
    """One deflate library: its module (zlib's API) and how `--level` 1-9 maps onto its levels."""

    name: str
    module: ModuleType
    #: The engine level for each user level 1-9 (index 0 is level 1).
    levels: tuple[int, ...]
    #: The level used when the user gives none: the fastest that is no larger than zlib level 6
    #: on float weights (the measurements are in docs/performance.md).
    fast_level: int
    #: zlib's memLevel argument (8 is zlib's default).
    mem_level: int = 8

    def crc32(self, data: Buffer, value: int = 0) -> int:
        return int(self.module.crc32(data, value))

    def crc32_combine(self, crc1: int, crc2: int, len2: int) -> int:
        combine = getattr(self.module, "crc32_combine", None)
        if combine is not None:
            return int(combine(crc1, crc2, len2))
        return crc32_combine(crc1, crc2, len2)


ZLIB = Engine("zlib", zlib, tuple(range(1, 10)), fast_level=REFERENCE_LEVEL)


def _load(name: str) -> Engine | None:
    try:
        if name == "isal":
            from isal import isal_zlib

            # isal has levels 0-3; its level 0 is a Huffman-only mode that can grow float data,
            # so user levels start at 1, and level 1 is the default: on float weights it is
            # already as small as zlib 6. memLevel 9 (isal's largest level buffer) is faster on
            # weights and no larger. The measurements are in docs/performance.md.
            return Engine(
                "isal",
                isal_zlib,
                (1, 1, 1, 2, 2, 2, 3, 3, 3),
                fast_level=1,
                mem_level=9,
            )
        if name == "zlib-ng":
            from zlib_ng import zlib_ng

            # zlib-ng's level 1 grows float weights (docs/performance.md), so the default is 6.
            return Engine("zlib-ng", zlib_ng, tuple(range(1, 10)), fast_level=REFERENCE_LEVEL)
    except ImportError:
        return None
    return ZLIB


def engine(name: str | None = None) -> Engine:
    """The engine named (or in $MARARCH_DEFLATE), else the fastest one installed."""
    wanted = name or os.environ.get(ENGINE_VARIABLE, "").strip() or None
    if wanted is not None and wanted not in ENGINE_NAMES:
        raise UsageError(
            f"{ENGINE_VARIABLE}={wanted!r} names no deflate engine: "
            f"choose one of {', '.join(ENGINE_NAMES)}"
        )
    return _engine(wanted)


@cache
def _engine(wanted: str | None) -> Engine:
    if wanted is not None:
        found = _load(wanted)
        if found is None:
            raise UsageError(
                f"{ENGINE_VARIABLE}={wanted!r} but that engine is not installed",
                hint=f"pip install {'isal' if wanted == 'isal' else 'zlib-ng'}, or unset it.",
            )
        return found
    for candidate in ENGINE_NAMES:
        found = _load(candidate)
        if found is not None:
            return found
    return ZLIB  # pragma: no cover - zlib always loads


@dataclass(frozen=True)
class Codec:
    """One way to deflate: an engine at one of its own levels."""

    engine: Engine
    level: int

    def deflater(self) -> Deflater:
        compressobj = self.engine.module.compressobj
        deflater: Deflater = compressobj(self.level, zlib.DEFLATED, -15, self.engine.mem_level)
        return deflater


@dataclass(frozen=True)
class Policy:
    """How to deflate one stream: the codec, and whether text-like pieces get a second pass."""

    codec: Codec
    #: The second, stronger pass for text-like pieces; None when the user chose a level.
    strong: Codec | None

    @property
    def engine(self) -> Engine:
        return self.codec.engine


def check_level(level: int | None) -> None:
    """Refuse a `--level` outside 0-9 (None: mararch chooses)."""
    if level is not None and not 0 <= level <= 9:
        raise UsageError(f"invalid --level {level}: choose a whole number from 0 to 9")


def policy(level: int | None = None, engine_name: str | None = None) -> Policy:
    """The policy for a user's `--level` (0-9, or None for mararch's choice).

    Level 0 writes deflate's stored blocks (through zlib: isal has no such level). Levels 1-9 map
    onto the engine's range (isal: 1-3 -> 1, 4-6 -> 2, 7-9 -> 3). No level: the engine's fastest
    level that is as small as zlib 6 on weights (isal 1, else 6), and, unless the engine is zlib,
    a second pass with zlib level 6 on text-like pieces, so that text is as small as the
    reference's.
    """
    eng = engine(engine_name)
    if level is None:
        strong = None if eng is ZLIB else Codec(ZLIB, REFERENCE_LEVEL)
        return Policy(Codec(eng, eng.fast_level), strong)
    check_level(level)
    if level == 0:
        return Policy(Codec(ZLIB, 0), None)
    return Policy(Codec(eng, eng.levels[level - 1]), None)


# CRC-32 combination in GF(2) (the algorithm of zlib's crc32_combine, for engines without it).
_POLY = 0xEDB88320


def _multmodp(a: int, b: int) -> int:
    """a * b modulo the CRC polynomial (reflected bit order)."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _x2n_table() -> tuple[int, ...]:
    table = []
    p = 1 << 30  # x^1
    for _ in range(32):
        table.append(p)
        p = _multmodp(p, p)
    return tuple(table)


_X2N = _x2n_table()


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC-32 of A + B from crc32(A), crc32(B) and len(B)."""
    # Multiply crc1 by x^(8 * len2): the table holds x^(2^k); starting at k = 3 counts bytes.
    n = len2
    p = 1 << 31  # x^0
    k = 3
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return _multmodp(p, crc1) ^ crc2


@dataclass(frozen=True)
class Piece:
    """One compressed piece: its raw deflate bytes (in the parts the engine returned: joining
    them would copy every byte once more), and the CRC-32 and length of its input."""

    parts: tuple[bytes, ...]
    crc: int
    size: int

    @property
    def compressed_size(self) -> int:
        return sum(map(len, self.parts))


def deflate_piece(parts: Sequence[bytes | bytearray], pol: Policy, final: bool) -> Piece:
    """Deflate one piece, given as consecutive parts (no copy to join them); every piece but the
    last ends byte-aligned, so the next piece's stream can follow it."""
    mode = zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH
    crc = size = 0
    d = pol.codec.deflater()
    out = []
    for part in parts:
        crc = pol.engine.crc32(part, crc)
        size += len(part)
        out.append(d.compress(part))
    out.append(d.flush(mode))
    packed = sum(map(len, out))
    if pol.strong is not None and packed < size * TEXT_LIKE:
        d = pol.strong.deflater()
        second = [*(d.compress(part) for part in parts), d.flush(mode)]
        if sum(map(len, second)) < packed:
            out = second
    return Piece(tuple(out), crc, size)


def deflate_bytes(data: bytes, pol: Policy) -> Piece:
    """Deflate a whole (small) input in the calling thread."""
    return deflate_piece((data,), pol, final=True)


def workers() -> int:
    """Compression threads: one per core, capped so in-flight pieces stay well under 150 MB."""
    return max(1, min(os.cpu_count() or 1, 8))


def new_executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="mararch-deflate")


class PieceWriter:
    """Deflates a stream on a thread pool, piece by piece, and writes the results in order.

    `feed` takes data of any size; `finish` ends the deflate stream. At most two pieces per
    worker are in flight, so memory does not grow with the input.
    """

    def __init__(self, pol: Policy, executor: Executor, write: Callable[[bytes], object]) -> None:
        self.policy = pol
        self.executor = executor
        self.write = write
        self.limit = 2 * workers()
        self.pending: deque[Future[Piece]] = deque()
        self.parts: list[bytes | bytearray] = []
        self.parts_size = 0
        self.crc = 0
        self.size = 0
        self.compressed = 0
        #: Bytes fed so far, deflated yet or not (tar pads its end to a record from it).
        self.fed = 0

    def feed(self, data: bytes) -> None:
        self.fed += len(data)
        if len(data) < SMALL_PART and self.parts and isinstance(self.parts[-1], bytearray):
            self.parts[-1] += data  # tar headers and small files: one part, not thousands
        else:
            self.parts.append(bytearray(data) if len(data) < SMALL_PART else data)
        self.parts_size += len(data)
        if self.parts_size >= PIECE_SIZE:
            self._submit(final=False)

    def finish(self) -> None:
        """Deflate what is left as the final piece and wait for every piece to be written."""
        self._submit(final=True)
        while self.pending:
            self._write_next()

    def _submit(self, *, final: bool) -> None:
        # Pieces are cut at part boundaries (a piece is PIECE_SIZE or a little more): the parts
        # go to the worker as they are, with no copy to join them.
        parts, self.parts, self.parts_size = tuple(self.parts), [], 0
        self.pending.append(self.executor.submit(deflate_piece, parts, self.policy, final))
        while len(self.pending) >= self.limit:
            self._write_next()

    def _write_next(self) -> None:
        piece = self.pending.popleft().result()
        for part in piece.parts:
            self.write(part)
        self.crc = self.policy.engine.crc32_combine(self.crc, piece.crc, piece.size)
        self.size += piece.size
        self.compressed += piece.compressed_size


def sample_ratio(samples: Iterable[bytes], pol: Policy) -> float:
    """Compressed / original size of a few samples, with the fast codec only."""
    size = packed = 0
    for data in samples:
        d = pol.codec.deflater()
        packed += len(d.compress(data)) + len(d.flush())
        size += len(data)
    return packed / size if size else 0.0
