"""Deflate and CRC-32 behind one small interface, so the writers do not care which library runs.

This is the baseline (the standard library's zlib). Faster engines plug in here.
"""

from __future__ import annotations

import zlib
from typing import Protocol

#: Read and write in chunks this large: big enough for disk speed, small enough for flat memory.
CHUNK_SIZE = 1 << 20
DEFAULT_LEVEL = 6


class Deflater(Protocol):
    """The subset of `zlib.compressobj` the writers use."""

    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self, mode: int = ..., /) -> bytes: ...


def raw_deflater(level: int | None = None) -> Deflater:
    """A compressor emitting a raw deflate stream (no zlib/gzip wrapper), as zip and gzip hold."""
    return zlib.compressobj(DEFAULT_LEVEL if level is None else level, zlib.DEFLATED, -15)


def crc32(data: bytes, value: int = 0) -> int:
    return zlib.crc32(data, value)
