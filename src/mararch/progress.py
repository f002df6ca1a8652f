"""Progress reporting without a UI: the engine calls back, the CLI draws."""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

#: Called with (bytes done, bytes total) as data is written. Must be cheap.
ProgressCallback = Callable[[int, int], None]
OptionalProgress = Optional[ProgressCallback]
