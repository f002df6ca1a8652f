"""MMS 1.1 serves what `mararch legacy` builds, and TorchServe serves it after `mararch convert`."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import mararch
from .legacy_models import legacy, mms_model_folder
from .servers import Server

INPUT = [[0.5, -1.25, 2.0, 0.125], [1.0, 0.0, -0.5, 3.0]]
EXPECTED = {"sums": [1.375, 3.5], "label": "cat"}


def serve_once(server: Server, url: str, name: str) -> object:
    # What the server accepts, `mararch verify` must pass too (no false alarms).
    verified = mararch("verify", server.model_store / url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    registered = server.register(url, name)
    assert registered.status == 200, f"registration of {url} failed: {registered.text}"
    try:
        answer = server.predict(name, {"input": INPUT})
        assert answer.status == 200, f"prediction on {name} failed: {answer.text}"
        return answer.json()
    finally:
        removed = server.unregister(name)
        assert removed.status == 200, removed.text


@pytest.mark.parametrize(
    ("archive_format", "url"), [("default", "mms_tiny.mar"), ("no-archive", "mms_tiny")]
)
def test_legacy_archive_served_by_mms(
    mms: Server, tmp_path: Path, archive_format: str, url: str
) -> None:
    folder = mms_model_folder(tmp_path / "model")
    legacy(folder, "mms_tiny", mms.model_store, archive_format)

    assert serve_once(mms, url, f"mms_tiny_{archive_format.replace('-', '_')}") == EXPECTED


def test_converted_legacy_archive_served_by_torchserve(torchserve: Server, tmp_path: Path) -> None:
    folder = mms_model_folder(tmp_path / "model")
    legacy(folder, "mms_tiny", tmp_path)
    converted = torchserve.model_store / "mms_tiny_converted.mar"
    result = mararch("convert", tmp_path / "mms_tiny.mar", "--to", "torchserve", "-o", converted)
    assert result.returncode == 0, result.stdout + result.stderr

    assert serve_once(torchserve, converted.name, "mms_tiny_converted") == EXPECTED
