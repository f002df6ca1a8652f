"""Every attack and corruption `extract` refuses, one crafted archive each (zip and tar variants).

Each test asserts the exit code, the message, that nothing appeared anywhere (no destination, no
temporary folder, nothing outside) and, where it matters, that the target outside stayed absent.
"""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from crafted import (
    MANIFEST_BYTES,
    STORED,
    ZEntry,
    deflate,
    make_mar,
    make_tgz,
    raw_tgz,
    raw_zip,
    snapshot,
    tar_member,
)
from helpers import Cli

Builder = Callable[[Path], Path]


def zip_with(*entries: ZEntry) -> Builder:
    def build(folder: Path) -> Path:
        return raw_zip(
            folder / "m.mar", [ZEntry("MAR-INF/MANIFEST.json", MANIFEST_BYTES), *entries]
        )

    return build


def tgz_with(*members: tuple[tarfile.TarInfo, bytes | None]) -> Builder:
    def build(folder: Path) -> Path:
        return raw_tgz(
            folder / "m.tar.gz", [tar_member("m/MAR-INF/MANIFEST.json", MANIFEST_BYTES), *members]
        )

    return build


def pax_named(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes | None]:
    """A tar member whose real name is only in the PAX header (where NUL can hide)."""
    info, payload = tar_member("m/placeholder", data)
    info.pax_headers = {"path": name}
    return info, payload


def refused(cli: Cli, tmp_path: Path, build: Builder, *extra: str) -> str:
    """Run extract on the crafted archive; assert exit 1 and that the file tree is unchanged."""
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    archive = build(folder)
    before = snapshot(tmp_path)
    result = cli("extract", archive, *extra)
    assert result.exit_code == 1, result.output
    assert snapshot(tmp_path) == before, "extract left something behind"
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stdout == ""
    return result.stderr


OUTSIDE = "outside.txt"

# (id, archive builder, expected message). The tar names carry the model folder "m/", which
# TorchServe's layout rule strips.
UNSAFE_NAMES: list[tuple[str, Builder, str]] = [
    ("zip-absolute", zip_with(ZEntry("/tmp/outside.txt", b"x")), "absolute path"),
    ("tar-absolute", tgz_with(tar_member("/tmp/outside.txt", b"x")), "absolute path"),
    ("zip-drive", zip_with(ZEntry("C:/outside.txt", b"x")), "Windows drive letter"),
    ("tar-drive", tgz_with(tar_member("m/C:/outside.txt", b"x")), "Windows drive letter"),
    ("zip-dotdot", zip_with(ZEntry("../outside.txt", b"x")), "'..' component"),
    ("zip-dotdot-deep", zip_with(ZEntry("a/../../outside.txt", b"x")), "'..' component"),
    ("tar-dotdot", tgz_with(tar_member("m/../outside.txt", b"x")), "'..' component"),
    # Stripping the first component would hide this '..' if only the stripped name were checked.
    ("tar-dotdot-root", tgz_with(tar_member("../outside.txt", b"x")), "'..' component"),
    ("zip-backslash", zip_with(ZEntry("..\\outside.txt", b"x")), "backslash"),
    ("tar-backslash", tgz_with(tar_member("m/..\\outside.txt", b"x")), "backslash"),
    ("zip-nul", zip_with(ZEntry(b"evil\x00.txt", b"x")), "control character"),
    ("tar-nul", tgz_with(pax_named("m/evil\x00.txt")), "control character"),
    ("zip-control", zip_with(ZEntry("evil\x1b[2J.txt", b"x")), "control character"),
    ("tar-newline", tgz_with(pax_named("m/evil\n.txt")), "control character"),
    ("zip-empty-component", zip_with(ZEntry("a//b.txt", b"x")), "empty or '.' path component"),
    (
        "zip-symlink",
        zip_with(ZEntry("link", b"../../outside.txt", method=STORED, mode=stat.S_IFLNK | 0o777)),
        "symlink",
    ),
    (
        "tar-symlink",
        tgz_with(tar_member("m/link", kind=tarfile.SYMTYPE, linkname="../../outside.txt")),
        "symlink",
    ),
    (
        "tar-hardlink",
        tgz_with(tar_member("m/link", kind=tarfile.LNKTYPE, linkname="/etc/passwd")),
        "hardlink",
    ),
    (
        "zip-device",
        zip_with(ZEntry("dev", b"", mode=stat.S_IFCHR | 0o644)),
        "device, FIFO or other special file",
    ),
    (
        "tar-device",
        tgz_with(tar_member("m/dev", kind=tarfile.CHRTYPE)),
        "device, FIFO or other special file",
    ),
    (
        "zip-fifo",
        zip_with(ZEntry("fifo", b"", mode=stat.S_IFIFO | 0o644)),
        "device, FIFO or other special file",
    ),
    (
        "tar-fifo",
        tgz_with(tar_member("m/fifo", kind=tarfile.FIFOTYPE)),
        "device, FIFO or other special file",
    ),
    (
        "zip-duplicate",
        zip_with(ZEntry("handler.py", b"good"), ZEntry("handler.py", b"evil")),
        "duplicate name",
    ),
    (
        "tar-duplicate",
        tgz_with(tar_member("m/handler.py", b"good"), tar_member("m/handler.py", b"evil")),
        "duplicate name",
    ),
    ("zip-duplicate-manifest", zip_with(ZEntry("MAR-INF/MANIFEST.json", b"{}")), "duplicate name"),
    (
        "zip-file-then-folder",
        zip_with(ZEntry("a", b"x"), ZEntry("a/b", b"y")),
        "'a' is a file but this member needs it to be a folder",
    ),
    (
        "tar-file-then-folder",
        tgz_with(tar_member("m/a", b"x"), tar_member("m/a/b", b"y")),
        "'a' is a file but this member needs it to be a folder",
    ),
    ("zip-encrypted", zip_with(ZEntry("secret", b"x", flags=0x1)), "encrypted member"),
    (
        "zip-bzip2",
        zip_with(ZEntry("w.pt", b"x", method=12, payload=b"BZh9")),
        "unsupported compression method 'bzip2'",
    ),
]


@pytest.mark.parametrize(
    ("build", "message"), [c[1:] for c in UNSAFE_NAMES], ids=[c[0] for c in UNSAFE_NAMES]
)
def test_unsafe_member_refused(cli: Cli, tmp_path: Path, build: Builder, message: str) -> None:
    stderr = refused(cli, tmp_path, build)
    assert "refusing to extract" in stderr
    assert message in stderr
    assert "nothing was written" in stderr
    assert not (tmp_path / OUTSIDE).exists()
    assert not Path("/tmp/outside.txt").exists() or Path("/tmp/outside.txt").read_bytes() != b"x"


def test_unsafe_names_are_escaped_in_the_message(cli: Cli, tmp_path: Path) -> None:
    stderr = refused(cli, tmp_path, zip_with(ZEntry("evil\x1b[2J.txt", b"x")))
    assert "\x1b" not in stderr
    assert "\\x1b" in stderr


def test_all_problems_listed_at_once(cli: Cli, tmp_path: Path) -> None:
    stderr = refused(cli, tmp_path, zip_with(ZEntry("../a", b"x"), ZEntry("/b", b"x")))
    assert "2 unsafe members" in stderr
    assert "'../a'" in stderr
    assert "'/b'" in stderr


def test_member_option_does_not_bypass_checks(cli: Cli, tmp_path: Path) -> None:
    # A hostile archive is refused whole, even when only a harmless member is asked for.
    stderr = refused(
        cli, tmp_path, zip_with(ZEntry("ok.txt", b"x"), ZEntry("../a", b"x")), "--member", "ok.txt"
    )
    assert "'..' component" in stderr


# -- lies and corruption --------------------------------------------------------------------

DATA = bytes(range(256)) * 64  # 16 KiB that deflate shrinks

LIES: list[tuple[str, Builder, str]] = [
    (
        "zip-longer-than-declared",
        zip_with(ZEntry("w.pt", DATA, size=100)),
        "holds more data than the 100 bytes it declares",
    ),
    (
        "zip-stored-longer",
        zip_with(ZEntry("w.pt", DATA, method=STORED, size=100)),
        "declares 100 bytes but holds 16384",
    ),
    (
        "zip-shorter-than-declared",
        zip_with(ZEntry("w.pt", DATA, size=len(DATA) + 10)),
        f"holds {len(DATA)} bytes, not the {len(DATA) + 10} it declares",
    ),
    ("zip-crc", zip_with(ZEntry("w.pt", DATA, crc=zlib.crc32(DATA) ^ 1)), "fails its CRC check"),
    (
        "zip-stored-crc",
        zip_with(ZEntry("w.pt", DATA, method=STORED, crc=0x12345678)),
        "fails its CRC check",
    ),
    ("zip-deflate-garbage", zip_with(ZEntry("w.pt", DATA, payload=b"\xff" * 50)), "is corrupt"),
    (
        "zip-deflate-truncated",
        zip_with(ZEntry("w.pt", DATA, payload=deflate(DATA)[:-20])),
        "is truncated",
    ),
    (
        "zip-local-name-differs",
        zip_with(ZEntry("w.pt", DATA, local_name=b"../evil")),
        "local header",
    ),
    (
        "zip-overlapping-members",
        zip_with(ZEntry("a.bin", DATA), ZEntry("b.bin", DATA, same_data_as=1)),
        "overlap",
    ),
]


@pytest.mark.parametrize(("build", "message"), [c[1:] for c in LIES], ids=[c[0] for c in LIES])
def test_lying_or_corrupt_member_fails(
    cli: Cli, tmp_path: Path, build: Builder, message: str
) -> None:
    stderr = refused(cli, tmp_path, build)
    assert message in stderr


def test_failure_after_some_members_leaves_nothing(cli: Cli, tmp_path: Path) -> None:
    # The first members are written fine; the last one fails its CRC: no partial folder stays.
    build = zip_with(ZEntry("a.txt", b"fine"), ZEntry("b.txt", DATA), ZEntry("z.bin", DATA, crc=1))
    stderr = refused(cli, tmp_path, build)
    assert "'z.bin' fails its CRC check" in stderr


def _truncate(build: Builder, keep: float) -> Builder:
    def cut(folder: Path) -> Path:
        path = build(folder)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])
        return path

    return cut


def _flip_last(build: Builder, back: int) -> Builder:
    def flip(folder: Path) -> Path:
        path = build(folder)
        data = bytearray(path.read_bytes())
        data[-back] ^= 0xFF
        path.write_bytes(bytes(data))
        return path

    return flip


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _tar_trailing_data(folder: Path) -> Path:
    # A member hidden after the end-of-archive marker (GNU tar -i would extract it).
    path = make_tgz(folder / "m.tar.gz", {"w.pt": DATA})
    hidden = io.BytesIO()
    with tarfile.open(fileobj=hidden, mode="w") as tar:
        info, data = tar_member("m/hidden.py", b"evil")
        tar.addfile(info, io.BytesIO(data or b""))
    raw = gzip.decompress(path.read_bytes()) + hidden.getvalue()
    return _write(path, gzip.compress(raw))


def _tar_header_bomb(folder: Path) -> Path:
    # A PAX header declaring 64 MiB (of zeros, 64 KiB gzipped): tarfile would read it whole.
    size = 64 << 20
    header = tarfile.TarInfo("m/PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = size
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(header.tobuf(tarfile.USTAR_FORMAT))]
    zeros = bytes(1 << 20)
    parts += [packer.compress(zeros) for _ in range(size >> 20)]
    parts.append(packer.compress(bytes(1024)) + packer.flush())
    return _write(folder / "m.tar.gz", b"".join(parts))


def _tar_padding_bomb(folder: Path) -> Path:
    # A tiny tar followed by 64 MiB of zeros: the end marker comes first, the bomb after it.
    path = make_tgz(folder / "m.tar.gz", {"w.pt": b"x"})
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(gzip.decompress(path.read_bytes()))]
    parts += [packer.compress(bytes(1 << 20)) for _ in range(64)]
    parts.append(packer.flush())
    return _write(path, b"".join(parts))


def _tar_cut_inside_member(folder: Path) -> Path:
    # A well-formed gzip around a tar that stops in the middle of a member's data.
    path = make_tgz(folder / "m.tar.gz", {"w.pt": DATA})
    raw = gzip.decompress(path.read_bytes())
    cut = raw[: raw.index(DATA[:512]) + 1000]
    path.write_bytes(gzip.compress(cut))
    return path


CORRUPT: list[tuple[str, Builder, str]] = [
    (
        "zip-truncated",
        _truncate(lambda f: make_mar(f / "m.mar", {"w.pt": DATA}), 0.6),
        "is not a readable zip archive",
    ),
    (
        "tar-truncated",
        _truncate(lambda f: make_tgz(f / "m.tar.gz", {"w.pt": DATA}), 0.6),
        "is not a readable .tar.gz archive",
    ),
    (
        "tar-gzip-crc",
        _flip_last(lambda f: make_tgz(f / "m.tar.gz", {"w.pt": DATA}), 8),
        "is not a readable .tar.gz archive",
    ),
    ("tar-cut-inside-member", _tar_cut_inside_member, "m.tar.gz"),
    ("garbage", lambda f: _write(f / "m.mar", b"\x00garbage" * 100), "is not a model archive"),
    ("empty-file", lambda f: _write(f / "m.mar", b""), "an empty file"),
    (
        "zip-magic-then-garbage",
        lambda f: _write(f / "m.mar", b"PK\x03\x04" + b"\xff" * 5000),
        "no end of central directory record",
    ),
    (
        "gzip-magic-then-garbage",
        lambda f: _write(f / "m.tar.gz", b"\x1f\x8b" + b"\xff" * 100),
        "is not a readable .tar.gz archive",
    ),
    (
        "gzip-of-non-tar",
        lambda f: _write(f / "m.tar.gz", gzip.compress(b"hello" * 1000)),
        "is not a readable .tar.gz archive",
    ),
    ("tar-data-after-end-marker", _tar_trailing_data, "data after the tar end-of-archive"),
    ("tar-header-bomb", _tar_header_bomb, "has a tar header of 67108864 bytes"),
    ("tar-padding-bomb", _tar_padding_bomb, "bytes of padding after the tar end-of-archive"),
    (
        "zip-bad-directory",
        _flip_last(lambda f: make_mar(f / "m.mar", {"w.pt": DATA}), 10),
        "is not a readable zip archive",
    ),
]


@pytest.mark.parametrize(
    ("build", "message"), [c[1:] for c in CORRUPT], ids=[c[0] for c in CORRUPT]
)
def test_corrupt_archive_fails_cleanly(
    cli: Cli, tmp_path: Path, build: Builder, message: str
) -> None:
    stderr = refused(cli, tmp_path, build)
    assert message in stderr
    # inspect says the same, with the same exit code.
    result = cli("inspect", tmp_path / "in" / build(tmp_path / "in").name)
    assert result.exit_code == 1
    assert message in result.stderr


def test_missing_archive(cli: Cli, tmp_path: Path) -> None:
    result = cli("extract", tmp_path / "nope.mar")
    assert result.exit_code == 1
    assert f"'{tmp_path / 'nope.mar'}' does not exist" in result.stderr


# -- bombs ----------------------------------------------------------------------------------

ZEROS = bytes(32 << 20)


def _zip_bomb(folder: Path) -> Path:
    return raw_zip(
        folder / "m.mar",
        [
            ZEntry("MAR-INF/MANIFEST.json", MANIFEST_BYTES),
            ZEntry("zeros.bin", ZEROS, payload=deflate(ZEROS, 9)),
        ],
    )


def _tar_bomb(folder: Path) -> Path:
    return raw_tgz(folder / "m.tar.gz", [tar_member("m/zeros.bin", ZEROS)], level=9)


@pytest.mark.parametrize("build", [_zip_bomb, _tar_bomb], ids=["zip", "tar"])
def test_high_ratio_refused_then_allowed(cli: Cli, tmp_path: Path, build: Builder) -> None:
    stderr = refused(cli, tmp_path, build)
    assert "more than the 1000:1 allowed" in stderr
    assert "--allow-high-ratio" in stderr
    result = cli("extract", next((tmp_path / "in").iterdir()), "--allow-high-ratio")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "work" / "m" / "zeros.bin").stat().st_size == len(ZEROS)


def test_declared_size_bomb_never_writes_more_than_declared(cli: Cli, tmp_path: Path) -> None:
    # 32 MiB of zeros declared as 1 MiB, with --allow-high-ratio: the cap still holds.
    build = zip_with(ZEntry("zeros.bin", ZEROS, size=1 << 20, payload=deflate(ZEROS, 9)))
    stderr = refused(cli, tmp_path, build, "--allow-high-ratio")
    assert "holds more data than the 1048576 bytes it declares" in stderr


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_not_enough_disk_space(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    import shutil

    from mararch import extraction

    real = shutil.disk_usage

    def tiny(path: str | Path) -> object:
        usage = real(path)
        return type(usage)(usage.total, usage.total - 1000, 1000)

    monkeypatch.setattr(extraction.shutil, "disk_usage", tiny)
    build = (
        (lambda f: make_mar(f / "m.mar", {"w.pt": DATA}))
        if fmt == "zip"
        else (lambda f: make_tgz(f / "m.tar.gz", {"w.pt": DATA}))
    )
    stderr = refused(cli, tmp_path, build)
    assert "not enough free space" in stderr
    assert "1000 are free" in stderr


# -- interruption ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_ctrl_c_mid_extraction_leaves_nothing(tmp_path: Path, fmt: str) -> None:
    import mararch

    folder = tmp_path / "in"
    folder.mkdir()
    files = {f"f{i}.bin": DATA for i in range(5)}
    archive = (
        make_mar(folder / "m.mar", files) if fmt == "zip" else make_tgz(folder / "m.tar.gz", files)
    )
    before = snapshot(tmp_path)
    calls = []

    def interrupt(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mararch.extract(archive, tmp_path / "out", progress=interrupt)
    assert snapshot(tmp_path) == before


def test_output_parents_created_are_removed_on_failure(cli: Cli, tmp_path: Path) -> None:
    stderr = refused(
        cli,
        tmp_path,
        zip_with(ZEntry("w.pt", DATA, crc=1)),
        "--output",
        tmp_path / "new" / "deeper" / "dest",
    )
    assert "fails its CRC check" in stderr


def test_tar_cut_inside_member_message(tmp_path: Path) -> None:
    import mararch
    from mararch.errors import ArchiveError

    (tmp_path / "in").mkdir()
    archive = _tar_cut_inside_member(tmp_path / "in")
    with pytest.raises(ArchiveError) as info:
        mararch.extract(archive, tmp_path / "out")
    assert "w.pt" in str(info.value) or "not a readable" in str(info.value)
    assert not (tmp_path / "out").exists()
