"""The server side of a deployment tree: TorchServe 0.12's `model_snapshot` and the
`config.properties` settings KServe's TorchServe runtime relies on. Both `deploy` (writing) and
`tree` (checking) take their names and defaults from here.

Facts from TorchServe 0.12's sources: `SnapshotManager.validate` needs every `marName` in the
model store; `initModels` loads nothing when `modelCount <= 0`; `Model.setModelState` reads
`minWorkers`, `maxWorkers`, `batchSize`, `maxBatchDelay` as required ints (`responseTimeout`,
`startupTimeout` optional); `registerAndUpdateModel` reads `defaultVersion` as a required boolean,
registers the archive under the snapshot's model name and under the *archive's* version.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

CONFIG_DIR = "config"
CONFIG_NAME = "config.properties"
STORE_DIR = "model-store"
SNAPSHOT_KEY = "model_snapshot"
SNAPSHOT_NAME = "startup.cfg"

MAR_NAME = "marName"
DEFAULT_VERSION = "defaultVersion"
#: Per-version ints the server requires, and the optional ones; values used when neither the
#: archive's model-config.yaml nor a flag sets them (TorchServe's own registration defaults:
#: batch size 1, batch delay 100 ms, `default_response_timeout`/`default_startup_timeout` 120 s).
REQUIRED_INTS = ("minWorkers", "maxWorkers", "batchSize", "maxBatchDelay")
OPTIONAL_INTS = ("responseTimeout", "startupTimeout")
SETTING_DEFAULTS = {
    "minWorkers": 1,
    "maxWorkers": 1,
    "batchSize": 1,
    "maxBatchDelay": 100,
    "responseTimeout": 120,
}
SETTINGS = tuple(SETTING_DEFAULTS)


class Envelope(str, Enum):
    """`service_envelope` values TorchServe 0.12 knows (`kfserving` was removed)."""

    BODY = "body"
    JSON = "json"
    KSERVE = "kserve"
    KSERVEV2 = "kservev2"


#: Envelopes that older docs and KServe's own examples still name, and what replaced them.
RETIRED_ENVELOPES = {"kfserving": Envelope.KSERVE, "kfservingv2": Envelope.KSERVEV2}

#: KServe's TorchServe runtime: its wrapper listens on 8080 (REST) and 8081 (gRPC) and talks to
#: TorchServe on 8085; the container starts TorchServe with these paths.
KSERVE_WRAPPER_PORTS = (8080, 8081)
KSERVE_TS_PORT = 8085
KSERVE_MOUNT = "/mnt/models"
KSERVE_START = (
    "torchserve --start --model-store={root}/model-store"
    " --ts-config={root}/config/config.properties"
)

#: Settings a KServe tree needs: the value, why (a `verify` finding's text when it is off), and
#: whether it being off breaks serving (an error) or only some operations (a warning).
KSERVE_REQUIRED = {
    "enable_envvars_config": (
        "true",
        "KServe passes TS_SERVICE_ENVELOPE (and any TS_* override) as environment variables, "
        "which TorchServe reads only with enable_envvars_config=true",
        False,
    ),
    "disable_token_authorization": (
        "true",
        "token authorization is on by default since TorchServe 0.11.1 and KServe's wrapper "
        "sends no token (pytorch/serve#3301): its readiness check gets 401",
        True,
    ),
    "enable_model_api": (
        "true",
        "TorchServe 0.12 refuses to register or unregister models over the management API "
        "without enable_model_api=true (the way KServe's docs add models to a running server)",
        False,
    ),
}


def kserve_settings(envelope: Envelope, install_deps: bool) -> list[tuple[str, str]]:
    """The config.properties lines (but the snapshot) of a KServe tree, in file order."""
    address = f"http://0.0.0.0:{KSERVE_TS_PORT}"
    return [
        ("inference_address", address),
        ("management_address", address),
        ("metrics_address", "http://0.0.0.0:8082"),
        ("grpc_inference_port", "7070"),
        ("grpc_management_port", "7071"),
        *((key, value) for key, (value, _, _) in KSERVE_REQUIRED.items()),
        ("service_envelope", envelope.value),
        ("install_py_dep_per_model", "true" if install_deps else "false"),
        ("model_store", f"{KSERVE_MOUNT}/{STORE_DIR}"),
    ]


def snapshot_json(models: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The one-line JSON of `model_snapshot`: `modelCount` an int (every version counts, as
    TorchServe's own snapshots count them), plain ASCII so that no properties escape applies."""
    count = sum(len(versions) for versions in models.values())
    snapshot = {"name": SNAPSHOT_NAME, "modelCount": count, "models": models}
    return json.dumps(snapshot, separators=(",", ":"), ensure_ascii=True)


__all__ = [
    "CONFIG_DIR",
    "CONFIG_NAME",
    "STORE_DIR",
    "Envelope",
    "kserve_settings",
    "snapshot_json",
]
