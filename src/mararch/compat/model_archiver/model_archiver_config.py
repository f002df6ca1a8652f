"""The reference's build description: the command line's values, by field name."""

from __future__ import annotations

import os
from argparse import Namespace
from dataclasses import dataclass, field, fields
from typing import Optional


@dataclass
class ModelArchiverConfig:
    """torch-model-archiver's flags; `extra_files` is its comma-separated string."""

    model_name: str
    handler: str
    version: str
    serialized_file: Optional[str] = None
    model_file: Optional[str] = None
    extra_files: Optional[str] = None
    runtime: str = "python"
    # The working folder when the config is made (the reference's is the one at import time).
    export_path: str = field(default_factory=os.getcwd)
    archive_format: str = "default"
    force: bool = False
    requirements_file: Optional[str] = None
    config_file: Optional[str] = None

    @classmethod
    def from_args(cls, args: Namespace) -> ModelArchiverConfig:
        """A config from parsed arguments with the same names (others are ignored)."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


__all__ = ["ModelArchiverConfig"]
