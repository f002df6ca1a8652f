"""The two manifest flavours (TorchServe and MMS): building, serialising and recognising them."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from .version import __version__

#: torch-model-archiver writes `createdOn` in this format (day first, no zone).
CREATED_ON_FORMAT = "%d/%m/%Y %H:%M:%S"
MMS_SPEC_VERSION = "1.0"


class Flavour(str, Enum):
    """Which server an archive is for; a build spec's `kind` calls MMS "legacy" (buildspec.py)."""

    TORCHSERVE = "torchserve"
    MMS = "mms"


def created_on(timestamp: int | None) -> str:
    """`createdOn` as the reference writes it: local time now, or UTC of SOURCE_DATE_EPOCH."""
    if timestamp is None:
        return datetime.now().strftime(CREATED_ON_FORMAT)
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime(CREATED_ON_FORMAT)


def torchserve_manifest(
    *,
    model_name: str,
    version: str,
    handler: str,
    runtime: str,
    serialized_file: str | None = None,
    model_file: str | None = None,
    requirements_file: str | None = None,
    config_file: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """The manifest torch-model-archiver 0.12 writes, key for key and in its order."""
    model: dict[str, Any] = {"modelName": model_name}
    if serialized_file:
        model["serializedFile"] = serialized_file
    model["handler"] = handler
    if model_file:
        model["modelFile"] = model_file
    if version:
        model["modelVersion"] = version
    if requirements_file:
        model["requirementsFile"] = requirements_file
    if config_file:
        model["configFile"] = config_file
    return {
        "createdOn": created_on(timestamp),
        "runtime": runtime,
        "model": model,
        "archiverVersion": __version__,
    }


def mms_manifest(*, model_name: str, handler: str, runtime: str) -> dict[str, Any]:
    """The manifest MMS's model-archiver 1.0 writes (it never has a modelVersion)."""
    return {
        "runtime": runtime,
        "model": {"modelName": model_name, "handler": handler},
        "modelServerVersion": MMS_SPEC_VERSION,
        "implementationVersion": MMS_SPEC_VERSION,
        "specificationVersion": MMS_SPEC_VERSION,
    }


def dumps(manifest: dict[str, Any]) -> bytes:
    """Serialise as the reference tools do (indent 2, ASCII), so the bytes compare equal."""
    return json.dumps(manifest, indent=2).encode("utf-8")


def detect_flavour(manifest: dict[str, Any]) -> Flavour:
    """MMS manifests carry spec-version keys; TorchServe's carry archiverVersion, modelVersion."""
    if "specificationVersion" in manifest or "modelServerVersion" in manifest:
        return Flavour.MMS
    return Flavour.TORCHSERVE


#: model.<key> entries that name a file in the archive.
FILE_KEYS = ("serializedFile", "modelFile", "configFile", "requirementsFile")
