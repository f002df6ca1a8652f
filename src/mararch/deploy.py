"""`mararch deploy`: write a storage tree TorchServe (and KServe's TorchServe runtime) starts from:
`ROOT/model-store/` with the archives, `ROOT/config/config.properties` with a `model_snapshot`
that agrees with them.

Every archive is opened and checked before anything is written; the tree is built in a hidden
temporary folder beside ROOT and renamed into place at the end, so ROOT is either the old tree or
the complete new one. ROOT may also be an `s3://` or `gs://` prefix (`deploy_remote`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import properties
from .checks import verify_view
from .errors import ArchiveError, Finding, OutputError, RequestError, Severity, UsageError
from .manifest import Flavour
from .output import atomic_output
from .plans import PathLike, is_url, model_name_problem, parse_enum
from .progress import OptionalProgress
from .reader import Container, open_archive
from .snapshot import (
    CONFIG_DIR,
    CONFIG_NAME,
    DEFAULT_VERSION,
    KSERVE_START,
    MAR_NAME,
    SETTING_DEFAULTS,
    SETTINGS,
    SNAPSHOT_KEY,
    STORE_DIR,
    Envelope,
    kserve_settings,
    snapshot_json,
)
from .tree import ArchiveFacts, empty_file_findings, read_facts

#: The URL schemes deploy writes to (object stores with uploads that appear whole or not at all).
WRITABLE_PREFIXES = ("s3://", "gs://", "gcs://")
#: Where KServe's storage initializer puts the tree it downloads from `storageUri`.
KSERVE_MOUNT = "/mnt/models"
#: The lowest value TorchServe accepts for each setting given as a flag.
SETTING_MINIMUM = {"batchSize": 1, "responseTimeout": 1}


@dataclass(frozen=True)
class DeployedModel:
    """One snapshot entry: which archive, its name in the model store, its settings."""

    name: str
    version: str
    source: Path
    mar_name: str
    container: Container
    size: int
    settings: dict[str, int]
    #: Where each setting came from: "model-config.yaml", "flag" or "default".
    origins: dict[str, str]
    default: bool = False
    requirements: bool = False
    handler: str | None = None

    def snapshot_entry(self) -> dict[str, Any]:
        return {DEFAULT_VERSION: self.default, MAR_NAME: self.mar_name, **self.settings}


@dataclass(frozen=True)
class DeployPlan:
    #: ROOT as a local path, or the s3:// / gs:// prefix as given (may hold secrets: see `shown`).
    root: str
    models: tuple[DeployedModel, ...]
    config: bytes
    kserve: bool
    link: bool = False
    force: bool = False
    #: Warnings found while planning (and errors, with verify off).
    findings: tuple[Finding, ...] = ()

    @property
    def remote(self) -> bool:
        return remote_root(self.root)

    @property
    def shown(self) -> str:
        """ROOT as it may be printed (a URL without credentials or query)."""
        if not self.remote:
            return self.root
        from .remote import redact

        return redact(self.root)

    @property
    def size(self) -> int:
        """Bytes the tree holds: every archive or folder, and the config."""
        return sum(m.size for m in self.models) + len(self.config)

    @property
    def start_command(self) -> str:
        # KServe's storage initializer downloads a remote tree (its storageUri) to /mnt/models.
        return KSERVE_START.format(root=KSERVE_MOUNT if self.remote else self.root)


def _resolve_setting(
    key: str, archive: Mapping[str, int], flags: Mapping[str, int]
) -> tuple[int, str]:
    """A setting's value and its origin: the archive's model-config.yaml, else a flag, else
    TorchServe's default."""
    sources = {"model-config.yaml": archive, "flag": flags, "default": SETTING_DEFAULTS}
    return next((source[key], origin) for origin, source in sources.items() if key in source)


@dataclass
class _Planner:
    settings: Mapping[str, int]
    verify: bool
    problems: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    models: list[DeployedModel] = field(default_factory=list)
    #: Model-store name -> the input that takes it.
    stores: dict[str, Path] = field(default_factory=dict)

    def check_settings(self) -> None:
        for key, value in self.settings.items():
            if key not in SETTINGS or value < SETTING_MINIMUM.get(key, 0):
                self.problems.append(f"{key}={value}: not a setting TorchServe accepts")

    def consider(self, path: Path, local_root: Path | None) -> None:
        """Check where `path` would go in the tree (`local_root`: a local ROOT), then the
        archive itself."""
        previous = self.stores.get(path.name)
        if previous is not None:
            self.problems.append(
                f"{str(previous)!r} and {str(path)!r} would both be {STORE_DIR}/{path.name}: "
                "rename one (e.g. NAME-VERSION.mar)"
            )
            return
        self.stores[path.name] = path
        if local_root is not None and _inside(path, local_root):
            self.problems.append(
                f"{str(path)!r} is inside {str(local_root)!r}, which deploy replaces: "
                "deploy from a copy outside it"
            )
            return
        if (problem := _plain_problem("file name", path.name)) is not None:
            self.problems.append(problem)
            return
        self.add(path)

    def add(self, path: Path) -> None:
        try:
            view = open_archive(path)
        except ArchiveError as exc:
            self.problems.append(exc.message)
            return
        with view:
            facts = read_facts(view)
            # Checked for the server that will load it, whatever the manifest was written for.
            found, _ = verify_view(view, Flavour.TORCHSERVE)
            found += empty_file_findings(view)
            size = view.archive_size if view.container is not Container.FOLDER else view.total_size
            container = view.container
        self.record(found, path.name)
        if facts.model_name is None:
            self.problems.append(
                f"{str(path)!r} names no model (no model.modelName in its manifest): "
                "TorchServe cannot register it under a name from the archive"
            )
            return
        self.models.append(self.model(path, facts, container, size))

    def record(self, found: list[Finding], where: str) -> None:
        """An archive's findings: errors stop the deploy (unless verify is off), warnings are
        reported."""
        for f in found:
            if f.severity is Severity.ERROR and self.verify:
                member = f" ({f.member})" if f.member else ""
                self.problems.append(f"{where}{member}: [{f.code}] {f.message}")
            elif f.severity is not Severity.INFO:
                self.findings.append(_at(f, where))

    def model(
        self, path: Path, facts: ArchiveFacts, container: Container, size: int
    ) -> DeployedModel:
        assert facts.model_name is not None
        resolved = {key: _resolve_setting(key, facts.settings, self.settings) for key in SETTINGS}
        return DeployedModel(
            name=facts.model_name,
            # TorchServe registers an archive without a version as 1.0.
            version=facts.version or "1.0",
            source=path,
            mar_name=path.name,
            container=container,
            size=size,
            settings={key: value for key, (value, _) in resolved.items()},
            origins={key: origin for key, (_, origin) in resolved.items()},
            requirements=facts.requirements,
            handler=facts.handler,
        )

    def check_names(self) -> None:
        for m in self.models:
            for problem in (model_name_problem(m.name), _plain_problem("version", m.version)):
                if problem is not None:
                    self.problems.append(f"{str(m.source)!r}: {problem}")


def _inside(path: Path, root: Path) -> bool:
    resolved = path.resolve()
    return root.resolve() in (resolved, *resolved.parents)


def _at(f: Finding, where: str) -> Finding:
    return Finding(f.severity, f.code, f.message, f"{where}/{f.member}" if f.member else where)


def _plain_problem(what: str, value: str) -> str | None:
    # The snapshot is JSON inside a properties line: characters that either format escapes would
    # read differently in TorchServe (Java) and in KServe's wrapper (a plain split on '=').
    if all(" " < ch < "\x7f" and ch not in "\"\\'" for ch in value) and ".." not in value:
        return None
    return (
        f"{what} {value!r} cannot go into model_snapshot: use printable ASCII without spaces, "
        "quotes, backslashes or '..' (TorchServe refuses a marName containing '..')"
    )


def _sort_key(version: str) -> tuple[int, Any]:
    from packaging.version import InvalidVersion, Version

    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def _mark_defaults(models: list[DeployedModel], problems: list[str]) -> list[DeployedModel]:
    by_name: dict[str, list[DeployedModel]] = {}
    for m in models:
        by_name.setdefault(m.name, []).append(m)
    out = []
    for name, versions in by_name.items():
        seen: dict[str, DeployedModel] = {}
        for m in versions:
            if m.version in seen:
                problems.append(
                    f"{str(seen[m.version].source)!r} and {str(m.source)!r} are both model "
                    f"{name!r} version {m.version!r}: TorchServe registers one of them only",
                )
            seen[m.version] = m
        # The highest version serves /predictions/NAME, as a user expects of "latest".
        default = max(versions, key=lambda m: _sort_key(m.version))
        out += [replace(m, default=m is default) for m in versions]
    return sorted(out, key=lambda m: (m.name, _sort_key(m.version)))


def remote_root(root: str) -> bool:
    """Whether ROOT names a remote store (s3://...) rather than a local folder."""
    return is_url(root)


def _check_root(root: str, link: bool) -> bool:
    """Whether ROOT is remote; UsageError for a store deploy cannot write or `--link` to one."""
    if not remote_root(root):
        return False
    from .remote import redact

    if not root.lower().startswith(WRITABLE_PREFIXES):
        raise UsageError(
            f"{redact(root)!r}: deploy writes a local folder or an s3:// or gs:// prefix",
            hint="Deploy into a local folder and upload it with the store's own tool, "
            "or deploy to s3://BUCKET/PREFIX.",
        )
    if not root.split("://", 1)[1].strip("/"):
        raise UsageError(f"{redact(root)!r} names no bucket", hint="Use s3://BUCKET/PREFIX.")
    if link:
        raise UsageError(
            f"--link cannot be used with {redact(root)!r}: an object store holds no symlinks",
            hint="Drop --link: the archives are uploaded.",
        )
    return True


def _config(models: Sequence[DeployedModel], kserve: bool, envelope: Envelope | None) -> bytes:
    """config.properties for the models: the server settings, then the model_snapshot."""
    snapshot: dict[str, dict[str, dict[str, Any]]] = {}
    for m in models:
        snapshot.setdefault(m.name, {})[m.version] = m.snapshot_entry()
    install = any(m.requirements for m in models)
    pairs: list[tuple[str, str]] = []
    if kserve:
        pairs += kserve_settings(envelope or Envelope.KSERVE, install)
    else:
        if envelope is not None:
            pairs.append(("service_envelope", envelope.value))
        if install:
            pairs.append(("install_py_dep_per_model", "true"))
    pairs.append((SNAPSHOT_KEY, snapshot_json(snapshot)))
    header = ["Written by mararch deploy. Start TorchServe as KServe's runtime does:"]
    header.append("  " + KSERVE_START.format(root="ROOT"))
    return properties.dumps(pairs, header=header)


def plan_deploy(
    root: PathLike,
    archives: Sequence[PathLike],
    *,
    kserve: bool = False,
    envelope: Envelope | str | None = None,
    link: bool = False,
    force: bool = False,
    settings: Mapping[str, int] | None = None,
    verify: bool = True,
) -> DeployPlan:
    """Check every archive and plan the tree; RequestError lists every problem found."""
    remote = _check_root(str(root), link)
    if not archives:
        raise UsageError("no archive to deploy", hint="Pass one or more .mar files or folders.")
    chosen = (
        Envelope(parse_enum(Envelope, envelope, "--envelope")) if envelope is not None else None
    )
    planner = _Planner(dict(settings or {}), verify)
    planner.check_settings()
    local_root = None if remote else Path(root)
    for archive in archives:
        planner.consider(Path(archive), local_root)
    planner.check_names()
    models = _mark_defaults(planner.models, planner.problems)
    if planner.problems:
        raise RequestError(planner.problems, hint="Nothing was written.")
    return DeployPlan(
        root=str(root).rstrip("/") if remote else str(Path(root)),
        models=tuple(models),
        config=_config(models, kserve, chosen),
        kserve=kserve,
        link=link,
        force=force,
        findings=tuple(planner.findings),
    )


def _place(model: DeployedModel, dest: Path, link: bool) -> None:
    if link:
        os.symlink(model.source.resolve(), dest)
    elif model.container is Container.FOLDER:
        # Files only, no metadata: the server reads them, nothing else.
        shutil.copytree(model.source, dest, copy_function=shutil.copyfile)
    else:
        shutil.copyfile(model.source, dest)  # sendfile on Linux, chunked elsewhere


def _copy_error(exc: OSError, source: Path, tmp: Path) -> OSError | ArchiveError:
    """A failed copy: writing into the tree is an output error (atomic_output words it); reading
    the input, or a folder copy that failed file by file, is reported with the input's path."""
    if isinstance(exc, shutil.Error):  # copytree: a list of (src, dst, why), one per file
        src, _, why = exc.args[0][0]
        return ArchiveError(f"cannot copy {str(src)!r}: {why}", hint="Nothing was written.")
    if exc.filename is not None and Path(exc.filename).is_relative_to(tmp):
        return exc
    return read_error(exc, source)


def read_error(exc: OSError, source: Path) -> ArchiveError:
    """An input that could not be read while it was copied or uploaded."""
    return ArchiveError(
        f"cannot read {str(source)!r}: {exc.strerror}",
        hint="Check that the archive is still there and readable.",
    )


def deploy(plan: DeployPlan, progress: OptionalProgress = None) -> DeployPlan:
    """Write the planned tree atomically; returns the plan (what was written). `progress` is
    called with the bytes uploaded, for a remote ROOT."""
    if plan.remote:
        from .deploy_remote import upload_tree

        upload_tree(plan, progress)
        return plan
    root = Path(plan.root)
    if os.path.lexists(root) and not plan.force:
        raise OutputError(
            f"{str(root)!r} already exists",
            path=str(root),
            hint="Pass -f/--force to replace the whole tree, or choose another ROOT.",
        )
    if root.parent != root:
        root.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(root, is_dir=True, force=plan.force) as tmp:
        (tmp / CONFIG_DIR).mkdir(parents=True)
        (tmp / STORE_DIR).mkdir()
        for model in plan.models:
            try:
                _place(model, tmp / STORE_DIR / model.mar_name, plan.link)
            except OSError as exc:
                raise _copy_error(exc, model.source, tmp) from None
        (tmp / CONFIG_DIR / CONFIG_NAME).write_bytes(plan.config)
    return plan


__all__ = ["DeployPlan", "DeployedModel", "deploy", "plan_deploy", "remote_root"]
