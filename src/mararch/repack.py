"""`convert --compression`: choose, per member of an existing zip, how the new archive holds it.

The members' bytes never change, so the archive's own `MAR-INF/digests.json` stays true. Nothing
is compressed twice: a member already held the way the policy wants is copied still compressed,
a deflated member to be stored is inflated straight into the new archive (its CRC is checked on
the way), and only stored members that deflate shrinks are deflated anew.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace

from . import compress
from . import zipformat as zf
from .plans import Compression, Entry, StoredData
from .reader import Member, ZipView
from .timetoserve import MIN_SAVING, deflate_pays

#: `auto` samples this many chunks from the start of a large stored member.
SAMPLE_CHUNKS = 3


def _inflated(view: ZipView, member: Member) -> StoredData:
    """A deflated member's plain bytes, as a stored member's data (same CRC, same length)."""
    assert member.crc is not None

    def chunks() -> Iterator[bytes]:
        return view.iter_member(member)

    return StoredData(zf.STORED, member.crc, member.size, chunks)


def _deflate_shrinks(view: ZipView, member: Member) -> bool:
    """`auto` on a stored member: small ones are left to the writer, which deflates them in
    memory and keeps what the rule says; large ones are judged from a sample of their start."""
    if member.size <= compress.PIECE_SIZE:
        return True
    chunks = view.iter_member(member, compress.CHUNK_SIZE)
    try:
        sample = list(itertools.islice(chunks, SAMPLE_CHUNKS))
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return compress.sample_ratio(sample, compress.policy()) <= 1 - MIN_SAVING


def repack_entry(view: ZipView, member: Member, entry: Entry, compression: Compression) -> Entry:
    """`entry` (a member copied as it is) changed so that the writer holds it per `compression`.

    The plan that carries it must have `compression` too: entries left without `stored` are
    compressed by the writer as the plan says.
    """
    deflated = member.method == "deflated"
    if compression is Compression.STORE or (
        compression is Compression.AUTO
        and deflated
        and not deflate_pays(member.size, member.compressed_size)
    ):
        return replace(entry, stored=_inflated(view, member)) if deflated else entry
    if deflated or member.size == 0:
        return entry  # DEFLATE or AUTO keep a deflated member's bytes as they are
    if compression is Compression.AUTO and not _deflate_shrinks(view, member):
        return entry
    return replace(entry, stored=None)


__all__ = ["repack_entry"]
