"""The real-torch corpus of the `torch` tier, made by tests/torch_corpus.py with a Python that has
torch (`$MARARCH_TORCH_PYTHON`, default: the TorchServe venv .ci/e2e-setup.sh makes)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).parent
DEFAULT_PYTHON = HERE.parent / ".ci" / "venvs" / "torchserve" / "bin" / "python"


@dataclass(frozen=True)
class Corpus:
    root: Path
    #: relative path -> {"verdict": "pass" | "warn" | "fail", "callable"?, "format"?, ...}
    files: dict[str, dict[str, object]]

    def of(self, verdict: str) -> dict[str, dict[str, object]]:
        return {k: v for k, v in self.files.items() if v["verdict"] == verdict}


def torch_python() -> Path:
    """The Python with torch; skips the tier without one (fails with MARARCH_TORCH_REQUIRED=1)."""
    python = Path(os.environ.get("MARARCH_TORCH_PYTHON", DEFAULT_PYTHON))
    if not python.is_file():
        message = f"no Python with torch at {python} (set MARARCH_TORCH_PYTHON)"
        if os.environ.get("MARARCH_TORCH_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return python


def make_corpus(out: Path) -> Corpus:
    subprocess.run(
        [str(torch_python()), str(HERE / "torch_corpus.py"), str(out)], check=True, timeout=600
    )
    return Corpus(out, json.loads((out / "corpus.json").read_text()))
