"""Every compression path writes archives that zipfile, tarfile, mararch's reader and Java read.

Pieces are shrunk to 64 KiB so that the parallel paths (several pieces per member, pieces in
flight on the pool, piece boundaries) run on small files.
"""

from __future__ import annotations

import errno
import gzip
import os
import random
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mararch
from helpers import Cli, create_args, missing_tool, write_files
from mararch import compress, writers

PIECE = 64 * 1024
JAVA_SOURCE = Path(__file__).parent / "java" / "ZipRead.java"


@pytest.fixture(autouse=True)
def _small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compress, "PIECE_SIZE", PIECE)


@pytest.fixture(params=["isal", "zlib-ng", "zlib"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name: str = request.param
    monkeypatch.setenv(compress.ENGINE_VARIABLE, name)
    return name


def weights(n: int, seed: int = 0) -> bytes:
    """Float32 values of a normal distribution: what trained weights look like (~7% deflatable)."""
    rnd = random.Random(seed)
    return struct.pack(f"<{n // 4}f", *(rnd.gauss(0, 0.02) for _ in range(n // 4))) + b"\1" * (
        n % 4
    )


def text(n: int) -> bytes:
    line = b"the quick brown fox jumps over the lazy dog 0123456789\n"
    return (line * (n // len(line) + 1))[:n]


#: Sizes around the piece boundaries, and an empty file.
SIZES = [0, 1, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE, 3 * PIECE + 5]


def make_inputs(root: Path) -> dict[str, bytes]:
    """Members of every shape: weights, text, random bytes, at every boundary size."""
    files: dict[str, bytes] = {}
    for size in SIZES:
        files[f"weights/w{size}.bin"] = weights(size, size)
        files[f"text/t{size}.txt"] = text(size)
    files["random.bin"] = random.Random(7).randbytes(5 * PIECE + 3)
    files["big_weights.bin"] = weights(20 * PIECE + 12, 99)
    write_files(root / "extra", files)
    (root / "model.pt").write_bytes(weights(9 * PIECE + 1, 5))
    return files


def build(tmp_path: Path, fmt: str = "default", **options: object) -> tuple[Path, dict[str, bytes]]:
    src = tmp_path / "src"
    files = make_inputs(src)
    out = mararch.create(
        model_name="m",
        version="1.0",
        handler="image_classifier",
        serialized_file=src / "model.pt",
        extra_files=[src / "extra"],
        export_path=tmp_path / "out",
        archive_format=fmt,
        **options,  # type: ignore[arg-type]
    )
    expected = dict(files)
    expected["model.pt"] = (src / "model.pt").read_bytes()
    return out, expected


def read_zip(path: Path) -> tuple[dict[str, bytes], dict[str, int]]:
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        infos = [i for i in zf.infolist() if not i.filename.startswith("MAR-INF/")]
        return (
            {i.filename: zf.read(i) for i in infos},
            {i.filename: i.compress_type for i in infos},
        )


def read_with_mararch(path: Path) -> dict[str, bytes]:
    with mararch.open_archive(path) as view:
        return {
            m.name: b"".join(view.iter_member(m))
            for m in view.members
            if not m.name.startswith("MAR-INF/") and m.is_file
        }


def assert_verifies(path: Path) -> None:
    """`mararch verify --strict` passes: every CRC, length and SHA-256 digest checks out."""
    report = mararch.verify(path, strict=True)
    assert report.passed, [f"{f.code} {f.member}: {f.message}" for f in report.findings]
    assert not report.warnings


@pytest.mark.parametrize(
    ("compression", "level"),
    [("auto", None), ("deflate", None), ("deflate", 0), ("deflate", 1), ("auto", 9)],
)
def test_zip_paths_read_back_byte_exact(
    tmp_path: Path, engine: str, compression: str, level: int | None
) -> None:
    out, expected = build(tmp_path, compression=compression, level=level)
    members, methods = read_zip(out)
    assert members == expected
    assert read_with_mararch(out) == expected
    assert_verifies(out)
    if compression == "deflate":
        assert set(methods.values()) == {zipfile.ZIP_DEFLATED}
    else:
        # auto: random bytes do not shrink and are stored; weights and text shrink.
        assert methods["random.bin"] == zipfile.ZIP_STORED
        assert methods["big_weights.bin"] == zipfile.ZIP_DEFLATED
        assert methods["text/t65536.txt"] == zipfile.ZIP_DEFLATED
        assert methods["weights/w0.bin"] == zipfile.ZIP_STORED  # nothing to gain on 0 bytes


def test_zip_store_reads_back_byte_exact(tmp_path: Path) -> None:
    out, expected = build(tmp_path, "zip-store")
    members, methods = read_zip(out)
    assert members == expected
    assert set(methods.values()) == {zipfile.ZIP_STORED}
    assert_verifies(out)


def test_auto_is_never_larger_than_store(tmp_path: Path) -> None:
    auto, _ = build(tmp_path / "a")
    store, _ = build(tmp_path / "s", compression="store")
    assert auto.stat().st_size <= store.stat().st_size


def test_auto_stores_a_large_member_that_deflate_grew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A sample can promise more than the whole file keeps: then the member is rewritten stored.
    monkeypatch.setattr(compress, "sample_ratio", lambda samples, pol: 0.5)
    out, expected = build(tmp_path)
    members, methods = read_zip(out)
    assert members == expected
    assert methods["random.bin"] == zipfile.ZIP_STORED
    assert methods["big_weights.bin"] == zipfile.ZIP_DEFLATED
    assert_verifies(out)


def test_default_level_is_no_larger_than_zlib_level_6_on_weights(tmp_path: Path) -> None:
    out, expected = build(tmp_path, compression="deflate")
    with zipfile.ZipFile(out) as zf:
        ours = zf.getinfo("big_weights.bin").compress_size
    reference = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = expected["big_weights.bin"]
    assert ours <= len(reference.compress(data) + reference.flush())


def test_tgz_reads_back_byte_exact(tmp_path: Path, engine: str) -> None:
    out, expected = build(tmp_path, "tgz")
    # gzip checks the trailer's CRC-32 and length of the joined stream.
    raw = gzip.decompress(out.read_bytes())
    assert len(raw) % tarfile.RECORDSIZE == 0
    with tarfile.open(out) as tf:
        members = {
            m.name.removeprefix("m/"): tf.extractfile(m).read()  # type: ignore[union-attr]
            for m in tf.getmembers()
            if m.isfile() and not m.name.startswith("m/MAR-INF/")
        }
    assert members == expected
    assert read_with_mararch(out) == expected
    assert_verifies(out)


def test_no_archive_copies_byte_exact(tmp_path: Path) -> None:
    out, expected = build(tmp_path, "no-archive")
    assert {n: (out / n).read_bytes() for n in expected} == expected
    assert_verifies(out)


def test_unknown_engine_is_a_usage_error(
    model: object, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "w.bin").write_bytes(b"x")
    result = cli(
        *create_args(
            "m",
            "1",
            "image_classifier",
            serialized_file=tmp_path / "w.bin",
            export_path=tmp_path / "out",
        ),
        env={compress.ENGINE_VARIABLE: "brotli"},
    )
    assert result.exit_code == 2
    assert "MARARCH_DEFLATE='brotli' names no deflate engine" in result.output
    assert not list((tmp_path / "out").iterdir())


def test_levels_map_onto_isal_range() -> None:
    assert compress.policy(None, "isal").codec.level == 1
    assert [compress.policy(lv, "isal").codec.level for lv in range(1, 10)] == [
        1, 1, 1, 2, 2, 2, 3, 3, 3,
    ]  # fmt: skip
    zero = compress.policy(0, "isal").codec
    assert (zero.engine.name, zero.level) == ("zlib", 0)
    assert compress.policy(None, "zlib").codec.level == 6


@given(st.binary(max_size=300), st.binary(max_size=3000))
def test_crc32_combine_matches_zlib(a: bytes, b: bytes) -> None:
    assert compress.crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_crc32_combine_long_second_part() -> None:
    a, b = b"abc", bytes(range(256)) * 40_000
    assert compress.crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


# --- Java's ZipInputStream, as TorchServe and MMS read archives -----------------------------------


@pytest.fixture(scope="session")
def java_reader(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    if shutil.which("javac") is None or shutil.which("java") is None:
        missing_tool("needs a JDK (javac, java) on PATH; .ci/jdk-setup.sh installs one")
    classes = tmp_path_factory.mktemp("java")
    subprocess.run(["javac", "-d", str(classes), str(JAVA_SOURCE)], check=True)
    return ["java", "-cp", str(classes), "ZipRead"]


@pytest.mark.parametrize(
    ("ci", "outcome"), [("", pytest.skip.Exception), ("true", pytest.fail.Exception)]
)
def test_a_missing_jdk_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.delenv("MARARCH_E2E_REQUIRED", raising=False)
    with pytest.raises(outcome, match="needs a JDK"):
        missing_tool("needs a JDK")


def java_read(reader: list[str], archive: Path) -> dict[str, tuple[int, int]]:
    proc = subprocess.run(
        [*reader, str(archive)], capture_output=True, text=True, check=False, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    return {name: (int(size), int(crc, 16)) for name, size, crc in rows}


def test_java_zip_input_stream_reads_every_member(tmp_path: Path, java_reader: list[str]) -> None:
    out, expected = build(tmp_path)
    seen = java_read(java_reader, out)
    assert {n: v for n, v in seen.items() if not n.startswith("MAR-INF/")} == {
        name: (len(data), zlib.crc32(data)) for name, data in expected.items()
    }


# --- ZIP64: members and offsets past 4 GiB (sparse input: fast to make, no disk) ----------------

BIG = (4 << 30) + 12345


def sparse(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        fh.truncate(size)
    return path


@pytest.mark.slow
def test_zip64_deflated_member_over_4_gib(
    tmp_path: Path, java_reader: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compress, "PIECE_SIZE", 4 << 20)
    big = sparse(tmp_path / "zeros.bin", BIG)
    (tmp_path / "after.txt").write_text("after the big one\n")
    out = mararch.create(
        model_name="z",
        version="1.0",
        handler="image_classifier",
        serialized_file=big,
        extra_files=[tmp_path / "after.txt"],
        export_path=tmp_path / "out",
    )
    with zipfile.ZipFile(out) as zf:
        info = zf.getinfo("zeros.bin")
        assert (info.file_size, info.compress_type) == (BIG, zipfile.ZIP_DEFLATED)
        assert zf.read("after.txt") == b"after the big one\n"
    with mararch.open_archive(out) as view:
        member = view.get("zeros.bin")
        assert member is not None
        assert member.size == BIG
    # Java checks each member's CRC-32 and sizes against the headers as it reads.
    seen = java_read(java_reader, out)
    assert seen["zeros.bin"][0] == BIG
    assert seen["after.txt"] == (18, zlib.crc32(b"after the big one\n"))


@pytest.mark.slow
def test_zip64_stored_member_and_offsets_over_4_gib(tmp_path: Path, java_reader: list[str]) -> None:
    big = sparse(tmp_path / "zeros.bin", BIG)
    # Sorted after zeros.bin: its local header starts past 4 GiB.
    (tmp_path / "zz.txt").write_text("after the big one\n")
    out = mararch.create(
        model_name="z",
        version="1.0",
        handler="image_classifier",
        serialized_file=big,
        extra_files=[tmp_path / "zz.txt"],
        export_path=tmp_path / "out",
        archive_format="zip-store",
    )
    try:
        with zipfile.ZipFile(out) as zf:
            assert zf.getinfo("zeros.bin").file_size == BIG
            assert zf.getinfo("zz.txt").header_offset > BIG
            assert zf.read("zz.txt") == b"after the big one\n"
        with mararch.open_archive(out) as view:
            member = view.get("zz.txt")
            assert member is not None
            assert b"".join(view.iter_member(member)) == b"after the big one\n"
        assert_verifies(out)  # ZIP64 records, offsets past 4 GiB and the digests all check out
        seen = java_read(java_reader, out)
        assert seen["zeros.bin"][0] == BIG  # Java checked its CRC-32 as it read
        assert seen["zz.txt"] == (18, zlib.crc32(b"after the big one\n"))
    finally:
        os.unlink(out)


def test_version_and_completion_import_no_heavy_modules() -> None:
    # Start-up time: completion runs mararch on every Tab, so nothing heavy may load on that path.
    probe = (
        "import sys\n"
        "from mararch.__main__ import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = {'rich', 'isal', 'zlib_ng', 'pydantic', 'mararch.compress', 'mararch.writers',\n"
        "         'cryptography', 'mararch.signing', 'model_signing'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    for args, env in [
        (["--version"], {}),
        ([], {"_MARARCH_COMPLETE": "complete_bash", "COMP_WORDS": "mararch cr", "COMP_CWORD": "1"}),
    ]:
        proc = subprocess.run(
            [sys.executable, "-c", probe, *args],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            check=False,
        )
        assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout + proc.stderr


def test_zip_store_without_kernel_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # copy_file_range refuses some pairs of file systems (EXDEV): the plain copy takes over.
    def refuse(*args: object) -> int:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", refuse)
    out, expected = build(tmp_path, "zip-store")
    members, methods = read_zip(out)
    assert members == expected
    assert set(methods.values()) == {zipfile.ZIP_STORED}


@pytest.mark.parametrize("fmt", ["zip-store", "no-archive"])
def test_copies_without_any_kernel_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    # macOS has no copy_file_range, and its sendfile writes to sockets only (ENOTSOCK on a file):
    # the copy goes through user space instead of failing the build.
    monkeypatch.delattr(os, "copy_file_range", raising=False)

    def sockets_only(*args: object) -> int:
        raise OSError(errno.ENOTSOCK, "Socket operation on non-socket")

    monkeypatch.setattr(os, "sendfile", sockets_only)
    out, expected = build(tmp_path, fmt)
    if fmt == "zip-store":
        assert read_zip(out)[0] == expected
    else:
        assert {n: (out / n).read_bytes() for n in expected} == expected
    assert_verifies(out)


def test_output_write_error_names_the_output_and_stops_the_hashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full disk is the output's problem, not the input's; and the worker hashing the input
    # beside the failed copy gives up instead of reading the rest of the file.
    def disk_full(*args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "copy_file_range", disk_full)
    read = []
    real_read_views = writers.read_views

    def counting(*args: object, **kwargs: object) -> Iterator[memoryview]:
        for view in real_read_views(*args, **kwargs):  # type: ignore[arg-type]
            read.append(len(view))
            time.sleep(0.01)
            yield view

    monkeypatch.setattr(writers, "read_views", counting)
    src = tmp_path / "src"
    src.mkdir()
    weights_file = src / "w.bin"
    weights_file.write_bytes(random.Random(3).randbytes(64 << 20))
    with pytest.raises(mararch.MararchError) as caught:
        mararch.create(
            model_name="m",
            version="1",
            handler="image_classifier",
            serialized_file=weights_file,
            export_path=tmp_path / "out",
            archive_format="zip-store",
        )
    message = str(caught.value)
    assert "No space left on device" in message
    assert str(tmp_path / "out" / "m.mar") in message
    assert "cannot read" not in message
    assert sum(read) < weights_file.stat().st_size // 2
    assert not list((tmp_path / "out").iterdir())
