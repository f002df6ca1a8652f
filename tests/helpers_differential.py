"""The two scanners side by side: picklescan (the reference, a test dependency) and mararch."""

from __future__ import annotations

from pathlib import Path

from mararch.errors import Severity
from mararch.pickles import stream_chunks
from mararch.weights import pickle_findings, scan_member


def picklescan_dangerous(path: Path) -> bool:
    """Whether picklescan calls the file dangerous (an infected file or a dangerous import)."""
    from picklescan.scanner import SafetyLevel, scan_file_path

    result = scan_file_path(str(path))
    return result.infected_files > 0 or any(
        g.safety is SafetyLevel.Dangerous for g in result.globals
    )


def mararch_verdict(path: Path) -> str:
    """ "fail" (an error finding), "warn" (warnings only) or "pass", for one file on its own."""
    with path.open("rb") as fh:
        info = scan_member(path.name, path.stat().st_size, stream_chunks(fh), lambda: None)
    severities = {f.severity for f in pickle_findings(info)} if info is not None else set()
    if Severity.ERROR in severities:
        return "fail"
    return "warn" if Severity.WARNING in severities else "pass"
