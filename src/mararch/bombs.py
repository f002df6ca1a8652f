"""The one rule for likely decompression bombs, judged from an archive's listing alone (no data
read): `extract` refuses what it finds (unless --allow-high-ratio), `verify` reports it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .reader import ArchiveView, Container, Member

#: A member expanding more than this many times is a likely bomb...
RATIO_LIMIT = 1000
#: ...when it is larger than this; small members of zeros compress absurdly well and are harmless.
RATIO_MIN_SIZE = 4 << 20


@dataclass(frozen=True)
class Expansion:
    """A member (None: a tar.gz as a whole) that would expand from `packed` to `size` bytes."""

    member: str | None
    packed: int
    size: int

    @property
    def ratio(self) -> float:
        return self.size / max(self.packed, 1)

    def describe(self) -> str:
        return f"would expand {self.ratio:,.0f} times ({self.packed} bytes to {self.size})"


def _too_high(size: int, packed: int) -> bool:
    return size > RATIO_MIN_SIZE and size > RATIO_LIMIT * packed


def likely_bombs(view: ArchiveView, members: Iterable[Member] | None = None) -> list[Expansion]:
    """Every member of `members` (default: all) expanding beyond the limit, from the listing."""
    chosen = [m for m in (view.members if members is None else members) if m.is_file]
    if view.container is Container.TGZ:
        # gzip compresses the tar as a whole: judge the archive, not the members.
        total = sum(m.size for m in chosen)
        packed = max(view.archive_size, 1)
        return [Expansion(None, packed, total)] if _too_high(total, packed) else []
    if view.container is not Container.ZIP:
        return []  # a folder is already expanded
    return [
        Expansion(m.name, m.compressed_size, m.size)
        for m in chosen
        if _too_high(m.size, m.compressed_size)
    ]


__all__ = ["RATIO_LIMIT", "RATIO_MIN_SIZE", "Expansion", "likely_bombs"]
