"""torch-model-archiver's Python API on mararch's engine: change the import, keep the script.

    from mararch.compat.model_archiver import ModelArchiver, ModelArchiverConfig

    ModelArchiver.generate_model_archive(ModelArchiverConfig(model_name="m", ...))

The modules mirror the reference's (`model_packaging`, `model_archiver_config`,
`model_archiver_error`), so `from ....model_packaging import generate_model_archive` works too.
The archives are the ones `mararch create` makes from the same values: torch-model-archiver's,
plus MAR-INF/digests.json.
"""

from __future__ import annotations

from .model_archiver_config import ModelArchiverConfig
from .model_archiver_error import ModelArchiverError
from .model_packaging import generate_model_archive


class ModelArchiver:
    """The reference's entry point: one static method."""

    @staticmethod
    def generate_model_archive(config: ModelArchiverConfig) -> None:
        """Build the archive `config` describes (ModelArchiverError when it cannot)."""
        generate_model_archive(config)


__all__ = ["ModelArchiver", "ModelArchiverConfig", "ModelArchiverError", "generate_model_archive"]
