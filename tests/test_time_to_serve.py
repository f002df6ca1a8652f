"""Time to serve: `auto` stores what TorchServe would inflate for little gain, verify and inspect
flag such deflated members, and `convert --compression` re-packs an archive, bytes unchanged.

Pieces are shrunk to 64 KiB (the large-member paths run on small files) and the `slow-inflate`
size to 256 KiB, so that the rules run on archives of a few MiB.
"""

from __future__ import annotations

import json
import random
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from helpers import Cli, write_files
from helpers_java import compile_java_reader, java_read
from mararch import compress, timetoserve
from mararch.digests import DIGESTS_NAME
from mms_model import CASES, FIXTURES

MIB = 1 << 20
WEIGHTS = "weights.bin"
VOCAB = "vocab.json"
BF16 = "bf16.bin"


@pytest.fixture(autouse=True)
def _small_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compress, "PIECE_SIZE", 64 << 10)
    monkeypatch.setattr(timetoserve, "SLOW_INFLATE_SIZE", 256 << 10)


@pytest.fixture(scope="session")
def java_reader(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return compile_java_reader(tmp_path_factory)


def float32(n: int, seed: int) -> bytes:
    """Normal float32 values, as trained weights hold (deflate saves ~7%)."""
    rnd = random.Random(seed)
    return struct.pack(f"<{n // 4}f", *(rnd.gauss(0, 0.02) for _ in range(n // 4)))


def vocabulary(n: int) -> bytes:
    rnd = random.Random(3)
    words = (
        "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 10)))
        for _ in range(n // 8)
    )
    return json.dumps({w: i for i, w in enumerate(words)}).encode()[:n]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    weights = float32(MIB, 1)
    files = {
        WEIGHTS: weights,
        VOCAB: vocabulary(MIB),
        # bfloat16: the top half of each float32 (deflate saves ~20%).
        BF16: b"".join(weights[i + 2 : i + 4] for i in range(0, len(weights), 4)),
        "handler.py": b"def handle(data, context):\n    return data\n",
    }
    return files


def create(cli: Cli, src: Path, out: Path, *flags: str) -> Path:
    result = cli(
        "create",
        "--model-name",
        "m",
        "-v",
        "1.0",
        "--serialized-file",
        src / WEIGHTS,
        "--handler",
        src / "handler.py",
        "--extra-files",
        f"{src / VOCAB},{src / BF16}",
        "--export-path",
        out,
        *flags,
    )
    assert result.exit_code == 0, result.output
    return out / ("m.tar.gz" if "tgz" in flags else "m.mar")


@pytest.fixture
def src(tmp_path: Path, inputs: dict[str, bytes]) -> Path:
    return write_files(tmp_path / "src", inputs)


def members(path: Path) -> dict[str, tuple[int, bytes]]:
    """{name: (method, bytes)} as zipfile reads them (every CRC checked)."""
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        return {i.filename: (i.compress_type, zf.read(i)) for i in zf.infolist()}


def methods(path: Path) -> dict[str, int]:
    return {name: method for name, (method, _) in members(path).items()}


def contents(path: Path) -> dict[str, bytes]:
    return {name: data for name, (_, data) in members(path).items()}


def assert_read_back(cli: Cli, path: Path, java_reader: list[str]) -> None:
    """Java's ZipInputStream (TorchServe), zipfile and `verify --strict` all read every member;
    the only warning allowed is `slow-inflate` (float weights deflated on purpose)."""
    expected = {name: (len(data), zlib.crc32(data)) for name, data in contents(path).items()}
    assert java_read(java_reader, path) == expected
    report = json.loads(cli("verify", "--strict", "--json", path).stdout)
    assert report["counts"]["error"] == 0, report
    assert {f["code"] for f in report["findings"] if f["severity"] == "warning"} <= {"slow-inflate"}
    if not report["counts"]["warning"]:
        assert report["passed"]


def test_the_threshold_is_the_break_even_of_transfer_and_inflate() -> None:
    # Rounded up from the break-even (see timetoserve), never down.
    break_even = timetoserve.LINK_RATE / timetoserve.INFLATE_RATE
    assert break_even <= timetoserve.MIN_SAVING <= break_even + 0.02
    assert timetoserve.deflate_pays(1000, 900)
    assert not timetoserve.deflate_pays(1000, 901)
    assert not timetoserve.deflate_pays(0, 0)


def test_default_stores_float32_and_deflates_text_and_bf16(
    cli: Cli, src: Path, tmp_path: Path, inputs: dict[str, bytes], java_reader: list[str]
) -> None:
    mar = create(cli, src, tmp_path / "auto")
    found = members(mar)
    assert found[WEIGHTS] == (zipfile.ZIP_STORED, inputs[WEIGHTS])
    assert found[VOCAB] == (zipfile.ZIP_DEFLATED, inputs[VOCAB])
    assert found[BF16] == (zipfile.ZIP_DEFLATED, inputs[BF16])
    assert_read_back(cli, mar, java_reader)
    # Storing the float weights costs little room against deflating every member.
    every = create(cli, src, tmp_path / "deflate", "--compression", "deflate")
    assert set(methods(every).values()) == {zipfile.ZIP_DEFLATED}
    assert mar.stat().st_size <= 1.10 * every.stat().st_size


def test_verify_and_inspect_flag_large_members_that_deflate_barely_shrank(
    cli: Cli, src: Path, tmp_path: Path
) -> None:
    mar = create(cli, src, tmp_path / "deflate", "--compression", "deflate")
    report = cli("verify", mar)
    assert report.exit_code == 0, report.output
    assert "slow-inflate" in report.output
    assert "TorchServe inflates 1 MiB at every load" in report.output
    assert "--compression auto" in report.output
    strict = cli("verify", "--strict", mar)
    assert strict.exit_code == 1
    as_json = json.loads(cli("verify", "--json", mar).stdout)
    flagged = [f for f in as_json["findings"] if f["code"] == "slow-inflate"]
    # The text and the bf16 member shrink enough: only the float32 weights are flagged.
    assert [(f["severity"], f["member"]) for f in flagged] == [("warning", WEIGHTS)]

    shown = cli("inspect", mar)
    assert shown.exit_code == 0, shown.output
    assert f"[slow-inflate] {WEIGHTS}: deflated, but deflate saved only" in shown.output
    inspected = json.loads(cli("inspect", "--json", mar).stdout)
    assert [w["member"] for w in inspected["warnings"]] == [WEIGHTS]


def test_small_deflated_members_are_not_flagged(
    cli: Cli, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timetoserve, "SLOW_INFLATE_SIZE", 64 * MIB)
    mar = create(cli, src, tmp_path / "deflate", "--compression", "deflate")
    assert cli("verify", "--strict", mar).exit_code == 0


@pytest.mark.parametrize("policy", ["auto", "store", "deflate"])
def test_convert_compression_repacks_with_bytes_and_digests_kept(
    cli: Cli, src: Path, tmp_path: Path, policy: str, java_reader: list[str]
) -> None:
    # From an every-member-deflated archive (the reference's default) and from a stored one.
    for origin in ("deflate", "store"):
        source = create(cli, src, tmp_path / origin, "--compression", origin)
        result = cli("convert", source, "--compression", policy)
        assert result.exit_code == 0, result.output
        out = source.parent / f"m-{policy}.mar"
        assert contents(out) == contents(source)  # manifest and digests.json included
        assert_read_back(cli, out, java_reader)
        got = methods(out)
        if policy != "deflate":
            assert cli("verify", "--strict", out).exit_code == 0
        if policy == "store":
            assert set(got.values()) == {zipfile.ZIP_STORED}
        elif policy == "deflate":
            assert set(got.values()) == {zipfile.ZIP_DEFLATED}
        else:
            assert got[WEIGHTS] == zipfile.ZIP_STORED
            assert got[VOCAB] == zipfile.ZIP_DEFLATED
            assert got[BF16] == zipfile.ZIP_DEFLATED


def test_convert_auto_copies_members_that_keep_their_method(
    cli: Cli, src: Path, tmp_path: Path
) -> None:
    """Deflated members worth deflating are copied as they are: same compressed bytes."""
    source = create(cli, src, tmp_path / "deflate", "--compression", "deflate")
    out = tmp_path / "fixed.mar"
    assert cli("convert", source, "--compression", "auto", "-o", out).exit_code == 0
    with zipfile.ZipFile(source) as before, zipfile.ZipFile(out) as after:
        old, new = before.getinfo(VOCAB), after.getinfo(VOCAB)
        assert (new.compress_type, new.compress_size, new.CRC) == (
            old.compress_type,
            old.compress_size,
            old.CRC,
        )
        assert after.getinfo(WEIGHTS).compress_type == zipfile.ZIP_STORED
        assert after.read(DIGESTS_NAME) == before.read(DIGESTS_NAME)


def test_convert_needs_to_or_compression(cli: Cli, src: Path, tmp_path: Path) -> None:
    source = create(cli, src, tmp_path / "a")
    result = cli("convert", source)
    assert result.exit_code == 2
    assert "convert needs --to (the server to convert for), --compression" in result.output
    assert not (tmp_path / "a" / "m-torchserve.mar").exists()


def test_convert_compression_refuses_a_tgz(cli: Cli, src: Path, tmp_path: Path) -> None:
    out = tmp_path / "t"
    tgz = create(cli, src, out, "--archive-format", "tgz")
    refused = cli("convert", tgz, "--compression", "auto")
    assert refused.exit_code == 2
    assert "--compression re-packs .mar (zip) archives" in refused.output
    assert sorted(p.name for p in out.iterdir()) == ["m.tar.gz"]


def test_convert_to_torchserve_and_repack_at_once(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "mms.mar"
    source.write_bytes((FIXTURES / "default" / CASES["default"][0]).read_bytes())
    out = tmp_path / "ts.mar"
    result = cli("convert", source, "--to", "torchserve", "--compression", "store", "-o", out)
    assert result.exit_code == 0, result.output
    assert set(methods(out).values()) == {zipfile.ZIP_STORED}
    before, after = contents(source), contents(out)
    for name in ("MAR-INF/MANIFEST.json", DIGESTS_NAME):
        before.pop(name, None)
        after.pop(name, None)
    assert after == before
    assert json.loads(contents(out)["MAR-INF/MANIFEST.json"])["runtime"] == "python"
    assert cli("verify", "--strict", out).exit_code == 0
