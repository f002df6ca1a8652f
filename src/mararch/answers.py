"""Judging answers typed at `create`'s prompts: why one is not usable, and what was probably
meant (a built-in handler name or a file close to what was typed). The CLI asks; this decides."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from .handlers import (
    BUILTIN_HANDLERS,
    LSP_BUILTIN_HANDLERS,
    builtin_suggestion,
    resolve_handler,
)
from .plans import Runtime, model_name_problem


@dataclass(frozen=True)
class Refusal:
    """Why an answer cannot be used, and the closest usable answer, if any."""

    reason: str
    offer: str | None = None


def model_name_refusal(answer: str) -> Refusal | None:
    problem = model_name_problem(answer)
    return None if problem is None else Refusal(problem)


def handler_refusal(answer: str, runtime: Runtime | str = Runtime.PYTHON) -> Refusal | None:
    """None for a built-in name or an existing handler file; else the reason, with a close
    built-in name or a close file of the same kind in the folder it names."""
    runtime = Runtime(runtime)
    spec = resolve_handler(answer, runtime)
    if spec.file is None or spec.file.is_file():
        return None
    return Refusal(
        f"handler file {str(spec.file)!r} does not exist",
        # A built-in name begun, then a file mistyped, then a built-in name mistyped.
        builtin_completion(answer, runtime)
        or close_file(spec.file)
        or builtin_suggestion(answer, runtime),
    )


def builtin_completion(answer: str, runtime: Runtime) -> str | None:
    """The one built-in handler name that starts with `answer` (`image_cl` -> image_classifier)."""
    names = LSP_BUILTIN_HANDLERS if runtime is Runtime.LSP else BUILTIN_HANDLERS
    started = [n for n in names if n.startswith(answer)]
    return started[0] if len(started) == 1 else None


def close_file(missing: Path) -> str | None:
    """A file beside `missing` with the same suffix and a close name (as it would be typed)."""
    folder = missing.parent
    try:
        names = [p.name for p in folder.glob(f"*{missing.suffix}") if p.is_file()]
    except OSError:
        return None
    match = difflib.get_close_matches(missing.name, sorted(names), n=1, cutoff=0.75)
    if not match:
        return None
    return match[0] if folder == Path() else str(folder / match[0])


__all__ = ["Refusal", "builtin_completion", "close_file", "handler_refusal", "model_name_refusal"]
