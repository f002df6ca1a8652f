"""`MAR-INF/digests.json`: the SHA-256 of every other member, recorded while an archive is written.

The servers ignore the file; `mararch verify` checks it. It is written last (it covers every other
member, as a wheel's RECORD does), sorted by name, so builds stay reproducible.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from typing import TypeVar

from .plans import MAR_INF

#: Chunks as the writers stream them: bytes, or views of a reused buffer.
Chunk = TypeVar("Chunk", bytes, memoryview)

DIGESTS_NAME = f"{MAR_INF}/digests.json"
ALGORITHM = "sha256"
#: Chunks handed to the hashing thread and not hashed yet, at most (memory stays flat).
HASH_AHEAD = 4
#: digests.json larger than this is refused (200,000 members take about 20 MiB).
MAX_DIGESTS_SIZE = 64 << 20


class DigestRecorder:
    """Hashes each entry's bytes as the writer streams them: no second read of any file."""

    def __init__(self) -> None:
        self.hashes: dict[str, str] = {}

    def tee(self, name: str, chunks: Iterator[Chunk]) -> Iterator[Chunk]:
        """Yield `chunks` unchanged; once they are exhausted, `name`'s digest is recorded."""
        digest = hashlib.sha256()
        for chunk in chunks:
            digest.update(chunk)
            yield chunk
        self.hashes[name] = digest.hexdigest()

    def tee_bytes(self, name: str, chunks: Iterator[bytes], executor: Executor) -> Iterator[bytes]:
        """Like `tee`, but the hashing runs on `executor` (one thread: the updates stay in order)
        while the caller works on the chunks; for immutable chunks only."""
        digest = hashlib.sha256()
        pending: deque[Future[None]] = deque()
        for chunk in chunks:
            pending.append(executor.submit(digest.update, chunk))
            if len(pending) > HASH_AHEAD:
                pending.popleft().result()
            yield chunk
        while pending:
            pending.popleft().result()
        self.hashes[name] = digest.hexdigest()

    def record(self, name: str, hexdigest: str) -> None:
        """A digest computed elsewhere (a worker reading the file beside a kernel copy)."""
        self.hashes[name] = hexdigest

    def render(self) -> bytes:
        return render(self.hashes)


def render(hashes: dict[str, str]) -> bytes:
    """The file's bytes: sorted names, indent 2, a final newline."""
    doc = {"algorithm": ALGORITHM, "members": {k: hashes[k] for k in sorted(hashes)}}
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")


def parse(data: bytes) -> dict[str, str]:
    """{member name: hex digest}; ValueError saying what is wrong with the file."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"not a JSON document: {exc}") from None
    if not isinstance(doc, dict) or doc.get("algorithm") != ALGORITHM:
        raise ValueError(f'expected an object with "algorithm": "{ALGORITHM}"')
    members = doc.get("members")
    if not isinstance(members, dict) or not all(
        isinstance(v, str) and len(v) == 64 for v in members.values()
    ):
        raise ValueError('expected "members": {name: 64 hex digits}')
    return members


__all__ = ["DIGESTS_NAME", "MAX_DIGESTS_SIZE", "DigestRecorder", "parse", "render"]
