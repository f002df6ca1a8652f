"""A real process interrupted mid-build (Ctrl-C, SIGTERM) leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import create_args, sigint_default

SIZE = 384 << 20


@pytest.fixture(scope="module")
def big_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "weights.bin"
    block = os.urandom(1 << 20)
    with path.open("wb") as fh:
        for _ in range(SIZE >> 20):
            fh.write(block)
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_build(sig: signal.Signals, big_weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    previous = out / "m.mar"
    previous.write_bytes(b"the previous archive")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mararch",
            *create_args(
                "m",
                "1",
                "image_classifier",
                serialized_file=big_weights,
                export_path=out,
                force=True,
                compression="deflate",
                level="9",
            ),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_default,  # noqa: PLW1509 - one signal call between fork and exec
    )
    deadline = time.monotonic() + 30
    while not any(p.name.startswith(".m.mar.mararch-tmp-") for p in out.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted; nothing was left behind" in stderr
    assert "Traceback" not in stderr
    assert sorted(p.name for p in out.iterdir()) == ["m.mar"]
    assert previous.read_bytes() == b"the previous archive"
