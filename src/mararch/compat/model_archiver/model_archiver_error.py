"""The reference's one error type; a MararchError too, with mararch's message and hint."""

from __future__ import annotations

from ...errors import MararchError


class ModelArchiverError(MararchError):
    """The archive cannot be built: bad inputs, an existing output without force, ..."""


__all__ = ["ModelArchiverError"]
