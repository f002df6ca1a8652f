"""`generate_model_archive(config)`, as the reference's module of that name offers it."""

from __future__ import annotations

from dataclasses import fields
from typing import Optional

from ...errors import MararchError
from .model_archiver_config import ModelArchiverConfig
from .model_archiver_error import ModelArchiverError


def generate_model_archive(config: Optional[ModelArchiverConfig] = None) -> None:
    """Build the archive `config` describes, as `mararch create` would from the same flags.

    Raises ModelArchiverError (a MararchError) with mararch's message and hint when it cannot;
    nothing is written then. Unlike the reference, nothing is logged.
    """
    if config is None:
        raise ModelArchiverError(
            "generate_model_archive() needs a ModelArchiverConfig",
            hint="Reading the command line is `mararch create`'s job.",
        )
    from ...builder import create

    try:
        # The config's fields are create()'s keyword arguments, by name.
        create(**{f.name: getattr(config, f.name) for f in fields(ModelArchiverConfig)})
    except ModelArchiverError:
        raise
    except MararchError as exc:
        raise ModelArchiverError(exc.message, hint=exc.hint) from exc


__all__ = ["ModelArchiverConfig", "generate_model_archive"]
