"""The reader: its CRC check on every deflate engine; a remote zip read only from its source."""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import BinaryIO

import pytest

from crafted import DEFLATED, STORED, ZEntry, raw_zip
from mararch import compress
from mararch.errors import ArchiveError
from mararch.reader import ZipView, open_archive

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


class _Remote:
    """A zip read through a `RandomAccess` source (as `remote_read` gives one), from memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.display = "s3://bucket/model.mar"
        self.size = len(data)

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data)


def test_a_remote_zip_never_reads_a_local_file_of_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = raw_zip(tmp_path / "remote.mar", [ZEntry("w.pt", b"A" * 100, method=STORED)])
    # A local file of the remote archive's base name, its member declaring the remote's CRC.
    monkeypatch.chdir(tmp_path)
    raw_zip(
        tmp_path / "model.mar",
        [ZEntry("w.pt", b"B" * 100, method=STORED, crc=zlib.crc32(b"A" * 100))],
    )
    with ZipView(Path("model.mar"), _Remote(remote.read_bytes())) as view:
        (member,) = view.members
        window = view.open_window(member)
        assert window is None or window.read() == b"A" * 100
