"""Reading the small files signing takes: keys, certificates, passwords, signatures."""

from __future__ import annotations

from pathlib import Path

from ..errors import SignatureError


def read_small(path: Path, what: str, limit: int, hint: str | None = None) -> bytes:
    """The whole of a file that must be small; SignatureError naming it when it cannot be read
    (with `hint` when it does not exist) or is larger than `limit`."""
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise SignatureError(
            f"{what} {str(path)!r} does not exist", path=str(path), hint=hint
        ) from None
    except OSError as exc:
        raise SignatureError(
            f"cannot read {what} {str(path)!r}: {exc.strerror}", path=str(path)
        ) from None
    if len(data) > limit:
        raise SignatureError(f"{what} {str(path)!r} is larger than {limit} bytes", path=str(path))
    return data
