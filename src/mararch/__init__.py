"""mararch: build, inspect, verify and extract model archives for TorchServe and MMS.

The public API is importable from here; heavy modules load on first use so that the CLI starts fast.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "ArchiveError",
    "ArchiveFormat",
    "ArchiveView",
    "BuildResult",
    "Compression",
    "ExtractResult",
    "MararchError",
    "Runtime",
    "__version__",
    "build",
    "create",
    "extract",
    "open_archive",
    "plan_create",
]

_LAZY = {
    "ArchiveFormat": "mararch.spec",
    "Compression": "mararch.spec",
    "Runtime": "mararch.spec",
    "MararchError": "mararch.errors",
    "ArchiveError": "mararch.errors",
    "ArchiveView": "mararch.reader",
    "open_archive": "mararch.reader",
    "ExtractResult": "mararch.extract",
    "extract": "mararch.extract",
    "BuildResult": "mararch.create",
    "build": "mararch.create",
    "create": "mararch.create",
    "plan_create": "mararch.create",
}

if TYPE_CHECKING:
    from .create import BuildResult, build, create, plan_create
    from .errors import ArchiveError, MararchError
    from .extract import ExtractResult, extract
    from .reader import ArchiveView, open_archive
    from .spec import ArchiveFormat, Compression, Runtime


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mararch' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


class _Package(types.ModuleType):
    """Keeps `mararch.create`/`mararch.extract` the functions once their same-named submodules
    are imported (the import system would otherwise replace them with the modules)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == f"{__name__}.{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
