"""Progress reporting without a UI: the engine calls back, the CLI draws."""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

#: Called with (bytes done, bytes total) as data is written. Must be cheap.
ProgressCallback = Callable[[int, int], None]
OptionalProgress = Optional[ProgressCallback]


class Progress:
    """Counts bytes across all entries and reports them to the optional callback."""

    def __init__(self, total: int, callback: OptionalProgress) -> None:
        self.total = total
        self.done = 0
        self.callback = callback

    def advance(self, n: int) -> None:
        self.done += n
        if self.callback is not None:
            self.callback(self.done, self.total)
