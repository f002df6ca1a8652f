"""A real `mararch extract` interrupted mid-way (Ctrl-C, SIGTERM) leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from crafted import MANIFEST_BYTES
from helpers import sigint_default

SIZE = 384 << 20


@pytest.fixture(scope="module")
def big_mar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bigmar")
    weights = folder / "weights.bin"
    block = os.urandom(1 << 20)
    with weights.open("wb") as fh:
        for _ in range(SIZE >> 20):
            fh.write(block)
    path = folder / "m.mar"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("MAR-INF/MANIFEST.json", MANIFEST_BYTES)
        zf.write(weights, "weights.bin")
    weights.unlink()
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_extract(sig: signal.Signals, big_mar: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mararch", "extract", str(big_mar), "--output", str(out / "m")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_default,  # noqa: PLW1509 - one signal call between fork and exec
    )
    deadline = time.monotonic() + 30
    # Wait until the big member is being written into the temporary folder.
    while not any(out.glob(".m.mararch-tmp-*/weights.bin")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted; nothing was left behind" in stderr
    assert "Traceback" not in stderr
    assert list(out.iterdir()) == []
