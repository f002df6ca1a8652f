"""Progress reporting without a UI: the engine calls back, the CLI draws."""

from __future__ import annotations

from typing import Callable, Optional

#: Called with (bytes done, bytes total) as data is written. Must be cheap.
ProgressCallback = Callable[[int, int], None]
OptionalProgress = Optional[ProgressCallback]
