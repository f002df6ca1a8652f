"""The zip format (PKWARE APPNOTE 6.3): record layouts, signatures, limits, flags and methods.

Defined once, as CPython's `zipfile` does, and used by the reader, the writers and `convert`.
"""

from __future__ import annotations

import struct

LOCAL_SIG = b"PK\x03\x04"
CENTRAL_SIG = b"PK\x01\x02"
END_SIG = b"PK\x05\x06"
ZIP64_END_SIG = b"PK\x06\x06"
ZIP64_LOCATOR_SIG = b"PK\x06\x07"

#: signature, version needed, flags, method, time, date, CRC-32, compressed, size, name length,
#: extra length.
LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
#: signature, version made by, host OS, version needed, flags, method, time, date, CRC-32,
#: compressed, size, name, extra and comment lengths, disk, internal and external attributes,
#: local header offset.
CENTRAL_HEADER = struct.Struct("<4sBBHHHHHIIIHHHHHII")
#: signature, disk, directory's disk, entries on this disk, entries, directory size and offset,
#: comment length.
END_RECORD = struct.Struct("<4sHHHHIIH")
#: signature, record size, version made by, version needed, disk, directory's disk, entries on
#: this disk, entries, directory size and offset.
ZIP64_END_RECORD = struct.Struct("<4sQHHIIQQQQ")
#: signature, disk of the ZIP64 end record, its offset, number of disks.
ZIP64_LOCATOR = struct.Struct("<4sIQI")
#: An extra field's tag and body length.
EXTRA_HEADER = struct.Struct("<HH")
ZIP64_EXTRA_TAG = 0x0001
#: A local header's ZIP64 extra field: tag, length, size and compressed size.
ZIP64_LOCAL_EXTRA_SIZE = EXTRA_HEADER.size + 16
#: The ZIP64 end record's size field counts the bytes after it.
ZIP64_END_BODY = ZIP64_END_RECORD.size - 12

#: Largest values of the 32- and 16-bit fields; a field holding U32 defers to ZIP64.
U32 = 0xFFFFFFFF
U16 = 0xFFFF
#: The end record's comment can make it this much longer than its fixed part.
MAX_COMMENT = U16

VERSION_DEFAULT = 20
VERSION_ZIP64 = 45
#: "Version made by" host systems whose external attributes we interpret.
HOST_DOS = 0
HOST_UNIX = 3
DOS_DIRECTORY = 0x10

FLAG_ENCRYPTED = 0x1
FLAG_DATA_DESCRIPTOR = 0x8
FLAG_UTF8 = 0x800

STORED = 0
DEFLATED = 8
METHOD_NAMES = {
    STORED: "stored",
    DEFLATED: "deflated",
    9: "deflate64",
    12: "bzip2",
    14: "lzma",
    93: "zstd",
    95: "xz",
    99: "aes",
}
#: The methods mararch writes, by the name the reader reports.
WRITABLE_METHODS = {METHOD_NAMES[STORED]: STORED, METHOD_NAMES[DEFLATED]: DEFLATED}


def method_name(method: int) -> str:
    """The reader's name for a compression method id."""
    return METHOD_NAMES.get(method, f"method-{method}")


def zip64_extra(values: list[int]) -> bytes:
    """A ZIP64 extra field holding `values` (in the order the format lists them)."""
    if not values:
        return b""
    return EXTRA_HEADER.pack(ZIP64_EXTRA_TAG, 8 * len(values)) + struct.pack(
        f"<{len(values)}Q", *values
    )
