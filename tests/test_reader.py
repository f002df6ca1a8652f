"""The reader's CRC check runs on the deflate engine `compress` picks, and on its fallbacks."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from crafted import DEFLATED, STORED, ZEntry, raw_zip
from mararch import compress
from mararch.errors import ArchiveError
from mararch.reader import open_archive

DATA = bytes(range(256)) * 4096


def _read(path: Path) -> bytes:
    with open_archive(path) as view:
        (member,) = view.members
        return b"".join(view.iter_member(member))


@pytest.fixture(params=["isal", "zlib", "no-such-engine", ""])
def deflate_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """$MARARCH_DEFLATE: an engine, one that names nothing (reading falls back to zlib), unset."""
    if request.param == "isal" and compress.engine().name != "isal":
        pytest.skip("isal is not installed")
    monkeypatch.setenv(compress.ENGINE_VARIABLE, request.param)
    return str(request.param)


@pytest.mark.parametrize("method", [STORED, DEFLATED])
def test_crc_checked_with_every_engine(tmp_path: Path, deflate_engine: str, method: int) -> None:
    good = raw_zip(tmp_path / "good.mar", [ZEntry("w.bin", DATA, method=method)])
    assert _read(good) == DATA
    wrong = zlib.crc32(DATA) ^ 1
    bad = raw_zip(tmp_path / "bad.mar", [ZEntry("w.bin", DATA, method=method, crc=wrong)])
    with pytest.raises(ArchiveError) as caught:
        _read(bad)
    assert caught.value.code == "member-crc"
    assert caught.value.message == (
        f"member 'w.bin' fails its CRC check (declared {wrong:08x}, actual {zlib.crc32(DATA):08x})"
    )
