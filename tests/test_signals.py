"""A real process interrupted mid-build (Ctrl-C, SIGTERM) leaves nothing behind."""

from __future__ import annotations

import contextlib
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


def writing_into(pid: int, folder: Path) -> bool:
    """Whether process `pid` has a file open in `folder` (named or not: /proc shows
    `folder/#inode (deleted)` for an O_TMPFILE); elsewhere, whether its temporary is there."""
    if not sys.platform.startswith("linux"):
        return any(p.name.startswith(".m.mar.mararch-tmp-") for p in folder.iterdir())
    fds = Path(f"/proc/{pid}/fd")
    with contextlib.suppress(OSError):
        for fd in fds.iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd).startswith(f"{folder}/"):
                    return True
    return False


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
    # The archive is written into an unnamed file in `out`: wait until the child has it open.
    while not writing_into(proc.pid, out):
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
