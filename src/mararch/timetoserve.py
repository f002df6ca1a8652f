"""When deflating a member pays: the rule of `--compression auto`, and of verify's `slow-inflate`.

TorchServe unpacks a `.mar` at every registration, on every replica, at every restart, and Java
inflates deflated members at a fixed rate (measured in TorchServe 0.12: see docs/time-to-serve.md).
Deflate pays when the transfer it saves takes longer than that inflate: with a member of `n`
bytes that deflate shrinks by a fraction `s`, when `s * n / LINK_RATE > n / INFLATE_RATE`, i.e.
when `s > LINK_RATE / INFLATE_RATE`. The size cancels out, so the rule is one fraction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .errors import Finding, Severity

if TYPE_CHECKING:
    from .reader import Member

#: The link the rule assumes an archive is fetched over (bytes/s): 100 Mbit/s, a slow cloud
#: download. On faster links storing pays even more; on slower ones deflate pays a little sooner.
LINK_RATE = 100e6 / 8
#: What registering a deflated member in TorchServe 0.12 costs over a stored one, as bytes of
#: inflated output per CPU second: 3.8 CPU s more per 512 MiB, float32 and bf16 alike (about twice
#: what a bare Java ZipInputStream loop spends); docs/time-to-serve.md.
INFLATE_RATE = 140e6
#: `auto` deflates a member only when that saves at least this fraction of it. The break-even,
#: LINK_RATE / INFLATE_RATE, is 0.089 on an idle core; rounded up because a busy server inflates
#: slower still (wall time under load: 11 s more per 512 MiB), and so that float16 weights (8%)
#: do not sit on the edge. Code, text, bf16 (~20%), quantised and sparse tensors shrink more and
#: are deflated; float32 and float16 weights (7-8%) are stored.
MIN_SAVING = 0.10
#: verify flags deflated members at least this large that deflate barely shrank: below it the
#: inflate costs well under a second.
SLOW_INFLATE_SIZE = 64 << 20


def deflate_pays(size: int, compressed_size: int) -> bool:
    """True when deflating `size` bytes to `compressed_size` saves at least MIN_SAVING."""
    return size > 0 and compressed_size <= size * (1 - MIN_SAVING)


def inflate_seconds(size: int) -> float:
    """The seconds TorchServe spends inflating `size` bytes at every load (measured rate)."""
    return size / INFLATE_RATE


def slow_inflate(size: int, compressed_size: int) -> str | None:
    """The `slow-inflate` message for a deflated member, or None when its deflate pays."""
    if size < SLOW_INFLATE_SIZE or deflate_pays(size, compressed_size):
        return None
    mib = size / (1 << 20)
    larger = max(size - compressed_size, 0) / max(compressed_size, 1)
    return (
        f"deflated, but deflate saved only {1 - compressed_size / size:.0%}: TorchServe inflates "
        f"{mib:.0f} MiB at every load (~{inflate_seconds(size):.1f} s at the "
        f"{INFLATE_RATE / 1e6:.0f} MB/s measured in TorchServe 0.12); rebuild with "
        f"`--compression auto` or repack with `mararch convert --compression auto` "
        f"(the member grows {larger:.0%})"
    )


def slow_inflate_findings(members: Iterable[Member]) -> list[Finding]:
    """A `slow-inflate` warning for each large zip member that is deflated but should not be."""
    return [
        Finding(Severity.WARNING, "slow-inflate", message, m.name)
        for m in members
        if m.is_file
        and m.method == "deflated"
        and (message := slow_inflate(m.size, m.compressed_size)) is not None
    ]


__all__ = [
    "INFLATE_RATE",
    "LINK_RATE",
    "MIN_SAVING",
    "SLOW_INFLATE_SIZE",
    "deflate_pays",
    "inflate_seconds",
    "slow_inflate",
    "slow_inflate_findings",
]
