"""The CLI's allocator tuning: freed build buffers are reused instead of faulted in afresh."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Two threads each holding a few 4 MiB buffers at a time, as the deflate workers do.
PROBE = """
import resource, sys
from concurrent.futures import ThreadPoolExecutor
from mararch.allocator import keep_freed_buffers

if sys.argv[1] == "tuned":
    assert keep_freed_buffers()


def work(_):
    held = [bytes(4 << 20) for _ in range(3)]
    return len(held)


before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
with ThreadPoolExecutor(2) as pool:
    list(pool.map(work, range(32)))
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(proc.stdout)


@pytest.mark.skipif(
    not sys.platform.startswith("linux")
    or "glibc" not in " ".join(__import__("platform").libc_ver()),
    reason="mallopt is glibc's",
)
def test_freed_buffers_are_reused() -> None:
    # 96 buffers of 4 MiB are 98,304 pages: by default most are faulted in afresh.
    default, tuned = page_faults("default"), page_faults("tuned")
    assert default > 50_000
    assert tuned < default / 4
