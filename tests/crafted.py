"""Hand-made archives for tests: every byte under the test's control, so that lies (sizes, CRCs,
names that differ between headers), links, devices and bombs can be built in a few lines."""

from __future__ import annotations

import io
import json
import stat
import struct
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = {
    "createdOn": "01/01/2024 00:00:00",
    "runtime": "python",
    "model": {"modelName": "m", "handler": "handler.py", "modelVersion": "1.0"},
    "archiverVersion": "0.12.0",
}
MANIFEST_BYTES = json.dumps(MANIFEST, indent=2).encode()
STORED = 0
DEFLATED = 8


def deflate(data: bytes, level: int = 6) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


@dataclass
class ZEntry:
    """One zip member; every field the archive declares can be overridden to lie."""

    name: str | bytes
    data: bytes = b""
    method: int = DEFLATED
    size: int | None = None  # declared uncompressed size (default: the real one)
    crc: int | None = None  # declared CRC (default: the real one)
    flags: int = 0
    mode: int | None = stat.S_IFREG | 0o644  # None: made on MS-DOS, no Unix mode
    local_name: bytes | None = None  # a different name in the local header
    payload: bytes | None = None  # the stored bytes (default: data, compressed by method)
    same_data_as: int | None = None  # point at an earlier member's local header (overlap)
    extra: dict[str, int] = field(default_factory=dict)
    local_size: int | None = None  # a different uncompressed size in the local header only


def raw_zip(path: Path, entries: list[ZEntry]) -> Path:
    """Write a zip exactly as described: local headers, data, central directory, end record."""
    out = io.BytesIO()
    central = []
    offsets: list[int] = []
    for e in entries:
        name = e.name if isinstance(e.name, bytes) else e.name.encode("utf-8")
        flags = e.flags | (0x800 if not name.isascii() else 0)
        payload = e.payload
        if payload is None:
            payload = deflate(e.data) if e.method == DEFLATED else e.data
        size = len(e.data) if e.size is None else e.size
        crc = zlib.crc32(e.data) if e.crc is None else e.crc
        if e.same_data_as is not None:
            offset = offsets[e.same_data_as]
            payload_len = len(
                entries[e.same_data_as].payload or deflate(entries[e.same_data_as].data)
            )
            offsets.append(offset)
            central.append((name, flags, e.method, crc, payload_len, size, offset, e.mode))
            continue
        offset = out.tell()
        offsets.append(offset)
        local = e.local_name if e.local_name is not None else name
        out.write(
            struct.pack(
                "<4sHHHHHIIIHH",
                b"PK\x03\x04",
                20,
                flags,
                e.method,
                0,
                0x21,
                crc,
                len(payload),
                size if e.local_size is None else e.local_size,
                len(local),
                0,
            )
        )
        out.write(local)
        out.write(payload)
        central.append((name, flags, e.method, crc, len(payload), size, offset, e.mode))
    cd_start = out.tell()
    for name, flags, method, crc, csize, size, offset, mode in central:
        made_os = 3 if mode is not None else 0
        out.write(
            struct.pack(
                "<4sBBHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                20,
                made_os,
                20,
                flags,
                method,
                0,
                0x21,
                crc,
                csize,
                size,
                len(name),
                0,
                0,
                0,
                0,
                (mode or 0) << 16,
                offset,
            )
        )
        out.write(name)
    cd_end = out.tell()
    out.write(
        struct.pack(
            "<4sHHHHIIH",
            b"PK\x05\x06",
            0,
            0,
            len(central),
            len(central),
            cd_end - cd_start,
            cd_start,
            0,
        )
    )
    path.write_bytes(out.getvalue())
    return path


#: A handler `verify` accepts: a module-level `handle`.
HANDLER = b"def handle(data, context):\n    return data\n"


def manifest_bytes(**changes: object) -> bytes:
    """MANIFEST with top-level keys replaced (None deletes); `model` merges into the model."""
    doc: dict[str, object] = {**MANIFEST, "model": dict(MANIFEST["model"])}  # type: ignore[dict-item]
    for key, value in changes.items():
        if key == "model":
            model = doc["model"]
            assert isinstance(model, dict) and isinstance(value, dict)
            for k, v in value.items():
                if v is None:
                    model.pop(k, None)
                else:
                    model[k] = v
        elif value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return json.dumps(doc, indent=2).encode()


def make_mar(
    path: Path,
    files: dict[str, bytes],
    *,
    manifest: bytes | None = MANIFEST_BYTES,
    method: int = DEFLATED,
) -> Path:
    """A well-formed .mar holding `files` (and a manifest unless None)."""
    entries = [ZEntry(n, d, method=method) for n, d in files.items()]
    if manifest is not None:
        entries.insert(0, ZEntry("MAR-INF/MANIFEST.json", manifest, method=method))
    return raw_zip(path, entries)


def tar_member(
    name: str,
    data: bytes = b"",
    *,
    kind: bytes = tarfile.REGTYPE,
    linkname: str = "",
    mode: int = 0o644,
) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    if kind == tarfile.CHRTYPE:
        info.devmajor, info.devminor = 1, 3
    return info, (data if kind == tarfile.REGTYPE else None)


def raw_tgz(
    path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], *, level: int = 6
) -> Path:
    """A gzipped PAX tar holding exactly these members, names as given."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path.write_bytes(_gzip(buf.getvalue(), level))
    return path


def _gzip(data: bytes, level: int) -> bytes:
    header = struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, 0, 0, 0, 255)
    trailer = struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
    return header + deflate(data, level) + trailer


def make_tgz(
    path: Path, files: dict[str, bytes], *, root: str = "m", manifest: bytes | None = MANIFEST_BYTES
) -> Path:
    members = [tar_member(f"{root}/{n}", d) for n, d in files.items()]
    if manifest is not None:
        members.insert(0, tar_member(f"{root}/MAR-INF/MANIFEST.json", manifest))
    return raw_tgz(path, members)


def snapshot(root: Path) -> set[str]:
    """Every path below `root` (files, folders, links), to prove nothing else appeared."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def sparse_mar(path: Path, size: int, *, name: str = "weights.bin") -> Path:
    """A zip-store .mar with a manifest and one `size`-byte member of zeros, written sparse (the
    data is a hole in the file), with ZIP64 records: a huge archive that costs no disk.
    The member's CRC is that of its zeros only when `size` is small; listing never reads it."""
    member = name.encode()
    with path.open("wb") as fh:
        records = []
        offset = fh.tell()
        fh.write(
            struct.pack(
                "<4sHHHHHIIIHH",
                b"PK\x03\x04",
                20,
                0,
                STORED,
                0,
                0x21,
                zlib.crc32(MANIFEST_BYTES),
                len(MANIFEST_BYTES),
                len(MANIFEST_BYTES),
                21,
                0,
            )
        )
        fh.write(b"MAR-INF/MANIFEST.json" + MANIFEST_BYTES)
        records.append(
            (b"MAR-INF/MANIFEST.json", zlib.crc32(MANIFEST_BYTES), len(MANIFEST_BYTES), offset)
        )
        offset = fh.tell()
        extra = struct.pack("<HHQQ", 1, 16, size, size)
        fh.write(
            struct.pack(
                "<4sHHHHHIIIHH",
                b"PK\x03\x04",
                45,
                0,
                STORED,
                0,
                0x21,
                0,
                0xFFFFFFFF,
                0xFFFFFFFF,
                len(member),
                len(extra),
            )
        )
        fh.write(member + extra)
        fh.seek(size, io.SEEK_CUR)
        records.append((member, 0, size, offset))
        cd_start = fh.tell()
        for rname, crc, rsize, roffset in records:
            big = rsize >= 0xFFFFFFFF
            cextra = struct.pack("<HHQQ", 1, 16, rsize, rsize) if big else b""
            shown = 0xFFFFFFFF if big else rsize
            fh.write(
                struct.pack(
                    "<4sBBHHHHHIIIHHHHHII",
                    b"PK\x01\x02",
                    45,
                    3,
                    45,
                    0,
                    STORED,
                    0,
                    0x21,
                    crc,
                    shown,
                    shown,
                    len(rname),
                    len(cextra),
                    0,
                    0,
                    0,
                    (stat.S_IFREG | 0o644) << 16,
                    roffset,
                )
            )
            fh.write(rname + cextra)
        cd_end = fh.tell()
        fh.write(
            struct.pack(
                "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, 2, 2, cd_end - cd_start, cd_start
            )
        )
        fh.write(struct.pack("<4sIQI", b"PK\x06\x07", 0, cd_end, 1))
        fh.write(
            struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 2, 2, cd_end - cd_start, 0xFFFFFFFF, 0)
        )
    return path
