"""Deployment trees as the server sees them: recognise one (`config/config.properties` plus
`model-store/`, a bare `config.properties` beside a model store, or a model-store folder alone),
apply TorchServe 0.12's start-up rules and KServe's expectations to it, and list its models.

Findings name the file and the key (`config/config.properties:7`, `model_snapshot.models.NAME.
VERSION.marName`); every archive the snapshot names gets the usual archive checks too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import modelconfig, properties
from .checks import Report, verify_view
from .errors import ArchiveError, Finding, Severity
from .manifest import Flavour
from .modelconfig import JAVA_INT_MAX
from .plans import PathLike, model_name_problem
from .reader import ArchiveView, Container, open_archive
from .snapshot import (
    CONFIG_DIR,
    CONFIG_NAME,
    DEFAULT_VERSION,
    KSERVE_REQUIRED,
    KSERVE_TS_PORT,
    KSERVE_WRAPPER_PORTS,
    MAR_NAME,
    OPTIONAL_INTS,
    REQUIRED_INTS,
    RETIRED_ENVELOPES,
    SETTING_DEFAULTS,
    SETTINGS,
    SNAPSHOT_KEY,
    STORE_DIR,
    Envelope,
)

MAX_CONFIG_SIZE = 1 << 20
#: Files in a model store that TorchServe can register by name.
ARCHIVE_SUFFIXES = (".mar", ".tar.gz", ".tgz", ".model")
#: config.properties keys TorchServe reads with Integer.parseInt: anything else fails start-up.
INT_PROPERTIES = (
    "default_workers_per_model",
    "default_response_timeout",
    "default_startup_timeout",
    "unregister_model_timeout",
    "number_of_netty_threads",
    "netty_client_threads",
    "job_queue_size",
    "number_of_gpu",
    "max_request_size",
    "max_response_size",
    "grpc_inference_port",
    "grpc_management_port",
    "initial_worker_port",
    "initial_distribution_port",
)
#: Keys read with Boolean.parseBoolean: anything but "true" (any case) is silently false.
BOOL_PROPERTIES = (
    "enable_envvars_config",
    "disable_token_authorization",
    "enable_model_api",
    "install_py_dep_per_model",
    "enable_metrics_api",
    "async_logging",
    "disable_system_metrics",
    "use_native_io",
    "enable_grpc_ssl",
    "prefer_direct_buffer",
)
#: Connector addresses and TorchServe's defaults for them (ConfigManager, Connector.parse).
ADDRESSES = {
    "inference_address": "http://127.0.0.1:8080",
    "management_address": "http://127.0.0.1:8081",
    "metrics_address": "http://127.0.0.1:8082",
}
SHAREABLE = {"inference_address", "management_address"}
GRPC_PORTS = {"grpc_inference_port": 7070, "grpc_management_port": 7071}
ADDRESS_PATTERN = re.compile(r"(https?)://([^:/]+)(?::([0-9]+))?|unix:(/.*)", re.IGNORECASE)
#: The keys KServe's wrapper reads from the file with its own split-on-'=' parser.
WRAPPER_KEYS = ("inference_address", "management_address", "grpc_inference_port", SNAPSHOT_KEY)


@dataclass(frozen=True)
class Tree:
    """Where a deployment's parts are: `root` is the folder findings are named relative to."""

    root: Path
    config: Path | None
    store: Path

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def _is_store(folder: Path) -> bool:
    """A folder of archives, not a no-archive model (which has MAR-INF at its top, or is a
    folder holding exactly one folder: TorchServe reads those as one model)."""
    if (folder / "MAR-INF").exists():
        return False
    try:
        children = list(folder.iterdir())
    except OSError:
        return False
    files = [c for c in children if c.is_file() and c.name.endswith(ARCHIVE_SUFFIXES)]
    models = [c for c in children if c.is_dir() and (c / "MAR-INF").is_dir()]
    return bool(files) or len(models) >= 2


def find_tree(path: PathLike) -> Tree | None:
    """The tree at `path` (a tree's root, a config.properties, a model-store folder), or None
    when `path` is a single archive."""
    p = Path(path)
    if p.is_file() and p.name.endswith(".properties"):
        return Tree(p.parent, p, _store_for(p))
    if not p.is_dir():
        return None
    # A no-archive model may carry a config.properties of its own: MAR-INF says it is a model.
    model = (p / "MAR-INF").is_dir()
    for config in (p / CONFIG_DIR / CONFIG_NAME, p / CONFIG_NAME):
        if config.is_file() and not model:
            store = p / STORE_DIR
            return Tree(p, config, store if store.is_dir() else _store_for(config))
    if _is_store(p):
        return Tree(p, None, p)
    return None


def _store_for(config: Path) -> Path:
    for candidate in (config.parent / STORE_DIR, config.parent.parent / STORE_DIR):
        if candidate.is_dir():
            return candidate
    try:
        props = properties.to_dict(properties.parse(config.read_bytes()[:MAX_CONFIG_SIZE]))
    except (OSError, ValueError):
        props = {}
    store = props.get("model_store")
    if store is not None and Path(store.value).is_dir():
        return Path(store.value)
    return config.parent


@dataclass(frozen=True)
class ArchiveFacts:
    """What a snapshot entry needs from an archive: its manifest's name and version, and the
    worker/batch settings its model-config.yaml sets (ints only: the server ignores the rest)."""

    model_name: str | None
    version: str | None
    handler: str | None
    requirements: bool
    settings: dict[str, int] = field(default_factory=dict)


def empty_file_findings(view: ArchiveView) -> list[Finding]:
    """Empty files of a no-archive model: kserve-storage skips zero-size objects when it
    downloads a model from S3, so the model arrives without them."""
    if view.container is not Container.FOLDER:
        return []
    return [
        Finding(
            Severity.WARNING,
            "empty-file",
            "an empty file: kserve-storage skips zero-size objects when it downloads a model "
            "from S3, so the model arrives without it; put something in it",
            m.name,
        )
        for m in view.members
        if m.is_file and m.size == 0
    ]


def read_facts(view: ArchiveView) -> ArchiveFacts:
    """An open archive's facts; an unreadable manifest or config gives empty facts (`verify`
    reports why)."""
    try:
        manifest = view.manifest() or {}
    except ArchiveError:
        manifest = {}
    model = manifest.get("model")
    model = model if isinstance(model, dict) else {}

    def text(key: str) -> str | None:
        value = model.get(key)
        return value if isinstance(value, str) and value else None

    settings: dict[str, int] = {}
    config_name = text("configFile")
    member = view.get(config_name) if config_name else None
    if member is not None and member.is_file:
        try:
            config = modelconfig.load(view.read_member(member, modelconfig.MAX_CONFIG_SIZE))
        except (ArchiveError, modelconfig.ConfigParseError):
            config = None
        if isinstance(config, dict):
            settings = {
                key: value
                for key in SETTINGS
                if isinstance(value := config.get(key), int) and not isinstance(value, bool)
            }
    return ArchiveFacts(
        model_name=text("modelName"),
        version=text("modelVersion"),
        handler=text("handler"),
        requirements=text("requirementsFile") is not None,
        settings=settings,
    )


# ---------------------------------------------------------------------------------------------
# config.properties
# ---------------------------------------------------------------------------------------------


@dataclass
class _Check:
    tree: Tree
    findings: list[Finding] = field(default_factory=list)
    #: Per snapshot entry (name, version) -> its archive's verify status, for inspect.
    statuses: dict[str, str] = field(default_factory=dict)

    def add(self, severity: Severity, code: str, message: str, where: str | None) -> None:
        self.findings.append(Finding(severity, code, message, where))

    def error(self, code: str, message: str, where: str | None) -> None:
        self.add(Severity.ERROR, code, message, where)

    def warning(self, code: str, message: str, where: str | None) -> None:
        self.add(Severity.WARNING, code, message, where)


def _where(tree: Tree, prop: properties.Property | None) -> str:
    assert tree.config is not None
    name = tree.rel(tree.config)
    return f"{name}:{prop.line}" if prop is not None else name


def _read_config(c: _Check) -> dict[str, properties.Property] | None:
    assert c.tree.config is not None
    where = _where(c.tree, None)
    try:
        with c.tree.config.open("rb") as fh:
            data = fh.read(MAX_CONFIG_SIZE + 1)
    except OSError as exc:
        c.error("config-unreadable", f"cannot read it: {exc.strerror}", where)
        return None
    if len(data) > MAX_CONFIG_SIZE:
        c.error("config-unreadable", f"larger than {MAX_CONFIG_SIZE} bytes", where)
        return None
    try:
        return properties.to_dict(properties.parse(data))
    except ValueError as exc:
        c.error("properties-syntax", f"{exc}: TorchServe refuses to start", where)
        return None


def _port_of(key: str, value: str) -> tuple[int | None, str | None]:
    """A connector address's port, or why TorchServe refuses the address."""
    match = ADDRESS_PATTERN.fullmatch(value)
    if match is None:
        return None, f"{key}={value!r} is not an address TorchServe reads (http://HOST:PORT)"
    if match.group(4) is not None:
        return None, None
    port = match.group(3)
    if port is None:
        return (443 if match.group(1).lower() == "https" else 80), None
    if int(port) >= 65535 or int(port) == 0:
        return None, f"{key}={value!r}: port {port} is out of range (1-65534)"
    return int(port), None


def _check_types(c: _Check, props: dict[str, properties.Property]) -> None:
    for key in INT_PROPERTIES:
        prop = props.get(key)
        if prop is not None and not re.fullmatch(r"[+-]?[0-9]+", prop.value):
            c.error(
                "property-int",
                f"{key}={prop.value!r} is not an integer: TorchServe fails to start",
                _where(c.tree, prop),
            )
    for key in BOOL_PROPERTIES:
        prop = props.get(key)
        if prop is not None and prop.value.lower() not in ("true", "false"):
            c.warning(
                "property-bool",
                f"{key}={prop.value!r}: TorchServe reads anything but 'true' as false",
                _where(c.tree, prop),
            )


def _check_ports(c: _Check, props: dict[str, properties.Property]) -> None:
    used: dict[int, tuple[str, str]] = {}

    def claim(key: str, port: int, value: str, prop: properties.Property | None) -> None:
        other = used.get(port)
        # Inference and management may share one address: TorchServe serves both on it.
        shared = {key, other[0]} <= SHAREABLE and other[1] == value if other else False
        if other is not None and not shared:
            c.error(
                "port-conflict",
                f"{key} uses port {port}, as {other[0]} does: TorchServe fails to bind it",
                _where(c.tree, prop),
            )
        used.setdefault(port, (key, value))

    for key, default in ADDRESSES.items():
        prop = props.get(key)
        value = prop.value if prop is not None else default
        port, problem = _port_of(key, value)
        if problem is not None:
            c.error(
                "property-address", problem + ": TorchServe fails to start", _where(c.tree, prop)
            )
        elif port is not None:
            claim(key, port, value, prop)
    for key, default_port in GRPC_PORTS.items():
        prop = props.get(key)
        if prop is None:
            claim(key, default_port, key, None)
        elif re.fullmatch(r"[0-9]+", prop.value):
            claim(key, int(prop.value), key, prop)


def _is_true(props: dict[str, properties.Property], key: str) -> bool:
    prop = props.get(key)
    return prop is not None and prop.value.lower() == "true"


def _meant_for_kserve(props: dict[str, properties.Property], envelope: Envelope | None) -> bool:
    """A tree for KServe: a KServe envelope, or TorchServe on the port KServe's wrapper forwards
    to (the layout alone says nothing: a plain TorchServe tree looks the same)."""
    if envelope in (Envelope.KSERVE, Envelope.KSERVEV2):
        return True
    prop = props.get("inference_address")
    return prop is not None and _port_of("inference_address", prop.value)[0] == KSERVE_TS_PORT


def _check_kserve(c: _Check, props: dict[str, properties.Property]) -> None:
    for key, (value, why, breaks) in KSERVE_REQUIRED.items():
        if _is_true(props, key):
            continue
        prop = props.get(key)
        now = f"{key}={prop.value}" if prop is not None else f"{key} is not set"
        c.add(
            Severity.ERROR if breaks else Severity.WARNING,
            "kserve-setting",
            f"{now}; KServe needs {key}={value}: {why}",
            _where(c.tree, prop),
        )
    prop = props.get("inference_address")
    port, _ = _port_of("inference_address", prop.value if prop else ADDRESSES["inference_address"])
    if port in KSERVE_WRAPPER_PORTS:
        c.error(
            "kserve-port",
            f"inference_address on port {port}: KServe's wrapper listens on "
            f"{' and '.join(map(str, KSERVE_WRAPPER_PORTS))} and forwards to TorchServe on 8085",
            _where(c.tree, prop),
        )
    for key in WRAPPER_KEYS:
        prop = props.get(key)
        if prop is not None and properties.wrapper_value(prop) != prop.value:
            c.error(
                "kserve-wrapper-parse",
                f"{key}: KServe's wrapper splits each line on its first '=' and reads a "
                "different value here; write it as one line `key=value` without escapes",
                _where(c.tree, prop),
            )


def _check_envelope(c: _Check, props: dict[str, properties.Property]) -> Envelope | None:
    prop = props.get("service_envelope")
    if prop is None or not prop.value:
        return None
    if prop.value in RETIRED_ENVELOPES:
        c.error(
            "envelope-retired",
            f"service_envelope={prop.value}: TorchServe 0.12 has no such envelope (removed; "
            f"kserve issue 2441), use {RETIRED_ENVELOPES[prop.value].value}",
            _where(c.tree, prop),
        )
        return None
    try:
        return Envelope(prop.value)
    except ValueError:
        known = ", ".join(e.value for e in Envelope)
        c.error(
            "envelope-unknown",
            f"service_envelope={prop.value!r}: not an envelope TorchServe 0.12 knows ({known}); "
            "every model fails to load",
            _where(c.tree, prop),
        )
        return None


# ---------------------------------------------------------------------------------------------
# model_snapshot
# ---------------------------------------------------------------------------------------------


def _as_int(value: object) -> int | None:
    """`value` if it is a JSON integer Java reads as an int, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= JAVA_INT_MAX:
        return value
    return None


def _int_setting(c: _Check, key: str, info: dict[str, Any], where: str) -> int | None:
    """A required int of the snapshot, as TorchServe's Gson reads it: a JSON integer; a quoted
    one is read too (`Integer.parseInt`) and only warned about; anything else is an error."""
    name = key.rsplit(".", 1)[-1]
    if name not in info:
        c.error("snapshot-int", f"{key} is missing: TorchServe reads it as a required int", where)
        return None
    value = info[name]
    if (number := _as_int(value)) is not None:
        return number
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]{1,10}", value):
        number = int(value)
        if abs(number) <= JAVA_INT_MAX:
            c.warning(
                "snapshot-int",
                f"{key} is the string {json.dumps(value)}: TorchServe 0.12 reads the number in "
                f"it, stricter readers of the snapshot do not (KServe's generator quotes it); "
                f"write {number}",
                where,
            )
            return number
    c.error(
        "snapshot-int",
        f"{key} is {json.dumps(value)}, not an integer: TorchServe fails to read the snapshot",
        where,
    )
    return None


@dataclass(frozen=True)
class _Entry:
    name: str
    version: str
    info: dict[str, Any]
    key: str


def _parse_snapshot(c: _Check, prop: properties.Property, where: str) -> dict[str, Any] | None:
    """The snapshot's JSON, if it is an object with a `models` object."""
    try:
        snapshot = json.loads(prop.value)
    except ValueError as exc:
        c.error("snapshot-json", f"{SNAPSHOT_KEY} is not valid JSON: {exc}", where)
        return None
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("models"), dict):
        c.error("snapshot-json", f"{SNAPSHOT_KEY} needs a JSON object with 'models'", where)
        return None
    return snapshot


def _check_count(c: _Check, snapshot: dict[str, Any], where: str) -> None:
    """`modelCount` against the number of model versions listed."""
    entries = sum(len(v) for v in snapshot["models"].values() if isinstance(v, dict))
    count = _int_setting(c, f"{SNAPSHOT_KEY}.modelCount", snapshot, where)
    if count is not None and count <= 0 and entries:
        c.error(
            "snapshot-count",
            f"{SNAPSHOT_KEY}.modelCount is {count}: TorchServe loads no model at all; "
            f"write {entries}",
            where,
        )
    elif count is not None and count != entries:
        c.warning(
            "snapshot-count",
            f"{SNAPSHOT_KEY}.modelCount is {count} but the snapshot lists {entries} "
            "model versions; write the number of versions listed",
            where,
        )


def _check_defaults(c: _Check, key: str, versions: dict[str, Any], where: str) -> None:
    defaults = [
        v
        for v, info in versions.items()
        if isinstance(info, dict) and info.get(DEFAULT_VERSION) is True
    ]
    if len(defaults) != 1:
        c.warning(
            "snapshot-default",
            f"{key}: {len(defaults)} versions have defaultVersion true; mark exactly one "
            "(it answers /predictions/NAME)",
            where,
        )


def _model_entries(c: _Check, name: str, versions: object, where: str) -> Iterator[_Entry]:
    """One model's entries of the snapshot, each checked."""
    key = f"{SNAPSHOT_KEY}.models.{name}"
    if (problem := model_name_problem(name)) is not None:
        c.error("snapshot-name", f"{key}: {problem}", where)
    if not isinstance(versions, dict) or not versions:
        c.error("snapshot-json", f"{key} must map versions to settings", where)
        return
    _check_defaults(c, key, versions, where)
    for version, info in versions.items():
        entry_key = f"{key}.{version}"
        if not isinstance(info, dict):
            c.error("snapshot-json", f"{entry_key} must be a JSON object", where)
            continue
        if _entry_ok(c, entry_key, info, where):
            yield _Entry(name, version, info, entry_key)


def _snapshot_entries(c: _Check, prop: properties.Property) -> Iterator[_Entry]:
    where = _where(c.tree, prop)
    snapshot = _parse_snapshot(c, prop, where)
    if snapshot is None:
        return
    _check_count(c, snapshot, where)
    for name, versions in snapshot["models"].items():
        yield from _model_entries(c, name, versions, where)


def _entry_ok(c: _Check, key: str, info: dict[str, Any], where: str) -> bool:
    ok = True
    mar = info.get(MAR_NAME)
    if not isinstance(mar, str) or not mar:
        c.error("snapshot-key", f"{key}.{MAR_NAME} is missing: TorchServe fails to start", where)
        ok = False
    elif ".." in mar or "/" in mar:
        c.error(
            "snapshot-key",
            f"{key}.{MAR_NAME}={mar!r}: a file name in the model store, without '..' or '/'",
            where,
        )
        ok = False
    default = info.get(DEFAULT_VERSION)
    if default is None:
        c.error(
            "snapshot-key",
            f"{key}.{DEFAULT_VERSION} is missing: TorchServe reads it as a required boolean",
            where,
        )
    elif not isinstance(default, bool):
        c.warning(
            "snapshot-key",
            f"{key}.{DEFAULT_VERSION} is {json.dumps(default)}: TorchServe reads it as "
            f"{str(str(default).lower() == 'true').lower()}; write true or false",
            where,
        )
    numbers = {
        name: _int_setting(c, f"{key}.{name}", info, where)
        for name in (*REQUIRED_INTS, *OPTIONAL_INTS)
        if name in info or name in REQUIRED_INTS
    }
    low, high = numbers.get("minWorkers"), numbers.get("maxWorkers")
    if low is not None and high is not None and low > high:
        c.warning("snapshot-workers", f"{key}: minWorkers {low} > maxWorkers {high}", where)
    return ok


def _check_archive(c: _Check, entry: _Entry | None, path: Path) -> dict[str, Any]:
    """The archive's own findings (named from the tree's root), the snapshot's agreement with
    its manifest, and a row for `inspect`."""
    where = c.tree.rel(path)
    row: dict[str, Any] = {"marName": path.name, "path": where}
    before = len(c.findings)
    try:
        view = open_archive(path)
    except ArchiveError as exc:
        c.error(exc.code or "archive-unreadable", exc.message, where)
        row["status"] = "failed"
        return row
    with view:
        found, _ = verify_view(view, Flavour.TORCHSERVE)
        facts = read_facts(view)
        row.update(
            container=view.container.value,
            size=view.archive_size if view.container is not Container.FOLDER else view.total_size,
        )
        found += empty_file_findings(view)
    for f in found:
        if f.severity is not Severity.INFO:
            c.add(f.severity, f.code, f.message, f"{where}/{f.member}" if f.member else where)
    row.update(name=facts.model_name, version=facts.version or "1.0", handler=facts.handler)
    settings = {k: facts.settings.get(k, SETTING_DEFAULTS[k]) for k in SETTINGS}
    if entry is not None:
        if facts.model_name is not None and facts.model_name != entry.name:
            c.error(
                "snapshot-model-name",
                f"{entry.key}: the archive is model {facts.model_name!r}; TorchServe serves it as "
                f"{entry.name!r} and /predictions/{facts.model_name} answers 404. Name the "
                "snapshot entry after the archive's model",
                where,
            )
        if row["version"] != entry.version:
            c.error(
                "snapshot-version",
                f"{entry.key}: the archive is version {row['version']!r}; TorchServe registers "
                "the archive's version, not the snapshot's key",
                where,
            )
        row.update(name=entry.name, version=entry.version)
        settings.update(
            {k: v for k, v in entry.info.items() if k in SETTINGS and _as_int(v) is not None}
        )
        row["default"] = entry.info.get(DEFAULT_VERSION) is True
    row["settings"] = settings
    mine = c.findings[before:]
    row["status"] = (
        "failed"
        if any(f.severity is Severity.ERROR for f in mine)
        else "passed-with-warnings"
        if any(f.severity is Severity.WARNING for f in mine)
        else "passed"
    )
    return row


def _store_archives(store: Path) -> list[Path]:
    try:
        children = sorted(store.iterdir())
    except OSError:
        return []
    return [
        c
        for c in children
        if (c.is_file() and c.name.endswith(ARCHIVE_SUFFIXES))
        or (c.is_dir() and not c.name.startswith("."))
    ]


@dataclass(frozen=True)
class TreeResult:
    """What `verify` and `inspect` report for a tree: findings and one row per model."""

    tree: Tree
    findings: tuple[Finding, ...]
    rows: tuple[dict[str, Any], ...]
    envelope: str | None = None


def _check_config(c: _Check, props: dict[str, properties.Property]) -> Envelope | None:
    """config.properties' own rules; returns its envelope."""
    _check_types(c, props)
    _check_ports(c, props)
    envelope = _check_envelope(c, props)
    if _meant_for_kserve(props, envelope):
        _check_kserve(c, props)
    return envelope


def _config_entries(c: _Check, props: dict[str, properties.Property]) -> list[_Entry]:
    """The snapshot's entries, or a warning when the config loads no model at start-up."""
    snapshot = props.get(SNAPSHOT_KEY)
    if snapshot is not None:
        return list(_snapshot_entries(c, snapshot))
    if "load_models" not in props:
        c.warning(
            "snapshot-missing",
            f"no {SNAPSHOT_KEY} (and no load_models): TorchServe starts with no models "
            "and GET /models is empty",
            _where(c.tree, None),
        )
    return []


def _listed_rows(
    c: _Check, entries: list[_Entry], props: dict[str, properties.Property] | None
) -> list[dict[str, Any]]:
    """A row per snapshot entry: its archive checked against it, or missing."""
    tree = c.tree
    rows: list[dict[str, Any]] = []
    versions: dict[tuple[str, str], str] = {}
    for entry in entries:
        mar = str(entry.info[MAR_NAME])
        path = tree.store / mar
        if not path.exists():
            c.error(
                "snapshot-mar-missing",
                f"{entry.key}.{MAR_NAME}={mar!r} is not in {tree.rel(tree.store)}/: TorchServe "
                "refuses the snapshot and exits at start-up (a KServe pod crash-loops)",
                _where(tree, tree_prop(props)),
            )
            rows.append(
                {"name": entry.name, "version": entry.version, "marName": mar, "status": "missing"}
            )
            continue
        row = _check_archive(c, entry, path)
        clash = versions.get((entry.name, row["version"]))
        if clash is not None:
            c.error(
                "snapshot-duplicate",
                f"{entry.key} and {clash} are the same model version: TorchServe registers one",
                _where(tree, tree_prop(props)),
            )
        versions[(entry.name, row["version"])] = entry.key
        rows.append(row)
    return rows


def _unlisted_rows(
    c: _Check, listed: set[str], props: dict[str, properties.Property] | None
) -> list[dict[str, Any]]:
    """A row per archive of the model store that the snapshot does not name."""
    tree = c.tree
    rows = []
    for path in _store_archives(tree.store):
        if path.name in listed:
            continue
        rows.append(_check_archive(c, None, path))
        if tree.config is not None and props is not None and SNAPSHOT_KEY in props:
            c.add(
                Severity.INFO,
                "store-unlisted",
                f"not in {SNAPSHOT_KEY}: TorchServe does not load it at start-up",
                tree.rel(path),
            )
    return rows


def check_tree(tree: Tree) -> TreeResult:
    """Every finding for a tree and a row per model (never raises for a bad tree)."""
    c = _Check(tree)
    props = _read_config(c) if tree.config is not None else None
    envelope = None
    entries: list[_Entry] = []
    if props is not None:
        envelope = _check_config(c, props)
        entries = _config_entries(c, props)
    rows = _listed_rows(c, entries, props)
    rows += _unlisted_rows(c, {str(e.info[MAR_NAME]) for e in entries}, props)
    return TreeResult(tree, tuple(c.findings), tuple(rows), envelope.value if envelope else None)


def tree_prop(props: dict[str, properties.Property] | None) -> properties.Property | None:
    return props.get(SNAPSHOT_KEY) if props else None


def verify_tree(tree: Tree, strict: bool = False) -> Report:
    """`verify`'s report for a tree."""
    result = check_tree(tree)
    return Report(str(tree.root), None, Flavour.TORCHSERVE, list(result.findings), strict=strict)


__all__ = [
    "ArchiveFacts",
    "Tree",
    "TreeResult",
    "check_tree",
    "empty_file_findings",
    "find_tree",
    "read_facts",
    "verify_tree",
]
