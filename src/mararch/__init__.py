"""mararch: build, inspect, verify and extract model archives for TorchServe and MMS.

The public API is importable from here; heavy modules load on first use so that the CLI starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .version import __version__

__all__ = [
    "ArchiveError",
    "ArchiveFormat",
    "ArchiveView",
    "BuildResult",
    "Compression",
    "Conversion",
    "ExtractResult",
    "Finding",
    "MararchError",
    "Report",
    "Runtime",
    "__version__",
    "build",
    "build_all",
    "convert",
    "create",
    "create_legacy",
    "create_workflow",
    "extract",
    "open_archive",
    "plan_create",
    "plan_legacy",
    "plan_workflow",
    "sign",
    "verify",
]

_LAZY = {
    "ArchiveFormat": "mararch.plans",
    "Compression": "mararch.plans",
    "Runtime": "mararch.plans",
    "MararchError": "mararch.errors",
    "ArchiveError": "mararch.errors",
    "ArchiveView": "mararch.reader",
    "open_archive": "mararch.reader",
    "ExtractResult": "mararch.extraction",
    "extract": "mararch.extraction",
    "BuildResult": "mararch.builder",
    "build": "mararch.builder",
    "build_all": "mararch.batch",
    "create": "mararch.builder",
    "plan_create": "mararch.builder",
    "create_legacy": "mararch.legacy",
    "Conversion": "mararch.conversion",
    "convert": "mararch.conversion",
    "plan_legacy": "mararch.legacy",
    "create_workflow": "mararch.workflow",
    "plan_workflow": "mararch.workflow",
    "Finding": "mararch.errors",
    "Report": "mararch.checks",
    "verify": "mararch.checks",
    "sign": "mararch.signing.engine",
}

if TYPE_CHECKING:
    from .batch import build_all
    from .builder import BuildResult, build, create, plan_create
    from .checks import Report, verify
    from .conversion import Conversion, convert
    from .errors import ArchiveError, Finding, MararchError
    from .extraction import ExtractResult, extract
    from .legacy import create_legacy, plan_legacy
    from .plans import ArchiveFormat, Compression, Runtime
    from .reader import ArchiveView, open_archive
    from .signing.engine import sign
    from .workflow import create_workflow, plan_workflow


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mararch' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
