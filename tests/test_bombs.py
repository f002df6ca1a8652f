"""One rule for likely decompression bombs: what `extract` refuses, `verify` reports (a warning,
an error with --strict), from the listing alone, without inflating the member."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

import mararch
from conftest import Cli
from crafted import HANDLER, MANIFEST_BYTES, ZEntry, deflate, raw_tgz, raw_zip, tar_member
from mararch.errors import ArchiveError

ZEROS = bytes(32 << 20)  # deflates about 1030:1
SMALL_ZEROS = bytes(3 << 20)  # as compressible, but too small to matter


def zip_bomb(path: Path, data: bytes = ZEROS, **lie: int) -> Path:
    return raw_zip(
        path,
        [
            ZEntry("MAR-INF/MANIFEST.json", MANIFEST_BYTES),
            ZEntry("handler.py", HANDLER),
            ZEntry("zeros.bin", data, payload=deflate(data, 9), **lie),
        ],
    )


def tar_bomb(path: Path) -> Path:
    return raw_tgz(
        path.with_name("m.tar.gz"),
        [
            tar_member("m/MAR-INF/MANIFEST.json", MANIFEST_BYTES),
            tar_member("m/handler.py", HANDLER),
            tar_member("m/zeros.bin", ZEROS),
        ],
        level=9,
    )


def ratio_findings(report: mararch.Report) -> list[mararch.Finding]:
    return [f for f in report.findings if f.code == "high-ratio"]


CASES = {
    "zip-bomb": (zip_bomb, True),
    "tar-bomb": (tar_bomb, True),
    "small-zeros": (lambda p: zip_bomb(p, SMALL_ZEROS), False),
}


@pytest.mark.parametrize("case", CASES)
def test_verify_warns_exactly_where_extract_refuses(case: str, tmp_path: Path) -> None:
    build, bomb = CASES[case]
    archive = build(tmp_path / "m.mar")
    report = mararch.verify(archive)
    refused = False
    try:
        mararch.extract(archive, tmp_path / "out")
    except ArchiveError as exc:
        refused = "decompression bomb" in str(exc)
    assert refused is bomb
    assert bool(ratio_findings(report)) is bomb
    assert report.passed  # a warning, not an error
    assert mararch.verify(archive, strict=True).passed is not bomb


def test_the_member_is_judged_from_the_listing_without_inflating_it(tmp_path: Path) -> None:
    # A wrong CRC is found only by reading the data: no member-crc finding means it was not read.
    archive = zip_bomb(tmp_path / "m.mar", crc=zlib.crc32(b"not these bytes"))
    report = mararch.verify(archive)
    assert [f.code for f in report.errors] == []
    (finding,) = ratio_findings(report)
    assert finding.member == "zeros.bin"
    assert finding.message == (
        f"would expand {len(ZEROS) / len(deflate(ZEROS, 9)):,.0f} times "
        f"({len(deflate(ZEROS, 9))} bytes to {len(ZEROS)}), more than the 1000:1 that "
        "`extract` allows: likely a decompression bomb (its data was not read)"
    )


def test_cli_strict_fails_and_json_reports_it(cli: Cli, tmp_path: Path) -> None:
    archive = zip_bomb(tmp_path / "m.mar")
    result = cli("verify", archive)
    assert result.exit_code == 0, result.output
    assert "high-ratio" in result.stdout
    result = cli("verify", archive, "--strict", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert [f["member"] for f in data["findings"] if f["code"] == "high-ratio"] == ["zeros.bin"]
