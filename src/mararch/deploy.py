"""`mararch deploy`: write a storage tree TorchServe (and KServe's TorchServe runtime) starts from:
`ROOT/model-store/` with the archives, `ROOT/config/config.properties` with a `model_snapshot`
that agrees with them.

Every archive is opened and checked before anything is written; the tree is built in a hidden
temporary folder beside ROOT and renamed into place at the end, so ROOT is either the old tree or
the complete new one.
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
from .plans import PathLike, model_name_problem, parse_enum
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
from .tree import empty_file_findings, read_facts

#: URL schemes of remote stores; writing to them is the remote-stores work's job.
REMOTE_PREFIXES = ("s3://", "gs://", "az://", "https://", "http://")


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
    root: Path
    models: tuple[DeployedModel, ...]
    config: bytes
    kserve: bool
    link: bool = False
    force: bool = False
    #: Warnings found while planning (and errors, with verify off).
    findings: tuple[Finding, ...] = ()

    @property
    def start_command(self) -> str:
        return KSERVE_START.format(root=self.root)


@dataclass
class _Planner:
    settings: Mapping[str, int]
    verify: bool
    problems: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    models: list[DeployedModel] = field(default_factory=list)

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
        where = path.name
        for f in found:
            if f.severity is Severity.ERROR and self.verify:
                member = f" ({f.member})" if f.member else ""
                self.problems.append(f"{where}{member}: [{f.code}] {f.message}")
            elif f.severity is not Severity.INFO:
                self.findings.append(_at(f, where))
        if facts.model_name is None:
            self.problems.append(
                f"{str(path)!r} names no model (no model.modelName in its manifest): "
                "TorchServe cannot register it under a name from the archive"
            )
            return
        settings: dict[str, int] = {}
        origins: dict[str, str] = {}
        for key in SETTINGS:
            for origin, source in (
                ("model-config.yaml", facts.settings),
                ("flag", self.settings),
                ("default", SETTING_DEFAULTS),
            ):
                if key in source:
                    settings[key], origins[key] = source[key], origin
                    break
        self.models.append(
            DeployedModel(
                name=facts.model_name,
                # TorchServe registers an archive without a version as 1.0.
                version=facts.version or "1.0",
                source=path,
                mar_name=path.name,
                container=container,
                size=size,
                settings=settings,
                origins=origins,
                requirements=facts.requirements,
                handler=facts.handler,
            )
        )


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
    return out


def remote_root(root: str) -> bool:
    """Whether ROOT names a remote store (s3://...) rather than a local folder."""
    return root.lower().startswith(REMOTE_PREFIXES)


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
    if remote_root(str(root)):
        raise UsageError(
            f"{str(root)!r} is a remote store: deploy writes a local folder",
            hint="Deploy into a local folder, then upload it (e.g. `aws s3 sync ROOT s3://...`).",
        )
    if not archives:
        raise UsageError("no archive to deploy", hint="Pass one or more .mar files or folders.")
    root_path = Path(root)
    chosen = (
        Envelope(parse_enum(Envelope, envelope, "--envelope")) if envelope is not None else None
    )
    if kserve and chosen is None:
        chosen = Envelope.KSERVE
    overrides = dict(settings or {})
    planner = _Planner(overrides, verify)
    for key, value in overrides.items():
        if key not in SETTINGS or value < (1 if key in ("batchSize", "responseTimeout") else 0):
            planner.problems.append(f"{key}={value}: not a setting TorchServe accepts")
    stores: dict[str, Path] = {}
    resolved_root = root_path.resolve()
    for archive in archives:
        path = Path(archive)
        previous = stores.get(path.name)
        if previous is not None:
            planner.problems.append(
                f"{str(previous)!r} and {str(path)!r} would both be {STORE_DIR}/{path.name}: "
                "rename one (e.g. NAME-VERSION.mar)"
            )
            continue
        stores[path.name] = path
        if resolved_root in (path.resolve(), *path.resolve().parents):
            planner.problems.append(
                f"{str(path)!r} is inside {str(root_path)!r}, which deploy replaces: "
                "deploy from a copy outside it"
            )
            continue
        if (problem := _plain_problem("file name", path.name)) is not None:
            planner.problems.append(problem)
            continue
        planner.add(path)
    for m in planner.models:
        for problem in (model_name_problem(m.name), _plain_problem("version", m.version)):
            if problem is not None:
                planner.problems.append(f"{str(m.source)!r}: {problem}")
    models = _mark_defaults(planner.models, planner.problems)
    if planner.problems:
        raise RequestError(planner.problems, hint="Nothing was written.")
    snapshot: dict[str, dict[str, dict[str, Any]]] = {}
    for m in sorted(models, key=lambda m: (m.name, _sort_key(m.version))):
        snapshot.setdefault(m.name, {})[m.version] = m.snapshot_entry()
    install = any(m.requirements for m in models)
    pairs: list[tuple[str, str]] = []
    if kserve:
        assert chosen is not None
        pairs += kserve_settings(chosen, install)
    else:
        if chosen is not None:
            pairs.append(("service_envelope", chosen.value))
        if install:
            pairs.append(("install_py_dep_per_model", "true"))
    pairs.append((SNAPSHOT_KEY, snapshot_json(snapshot)))
    header = ["Written by mararch deploy. Start TorchServe as KServe's runtime does:"]
    header.append("  " + KSERVE_START.format(root="ROOT"))
    return DeployPlan(
        root=root_path,
        models=tuple(sorted(models, key=lambda m: (m.name, _sort_key(m.version)))),
        config=properties.dumps(pairs, header=header),
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
    return ArchiveError(
        f"cannot read {str(source)!r}: {exc.strerror}",
        hint="Check that the archive is still there and readable.",
    )


def deploy(plan: DeployPlan) -> DeployPlan:
    """Write the planned tree atomically; returns the plan (what was written)."""
    if os.path.lexists(plan.root) and not plan.force:
        raise OutputError(
            f"{str(plan.root)!r} already exists",
            path=str(plan.root),
            hint="Pass -f/--force to replace the whole tree, or choose another ROOT.",
        )
    if plan.root.parent != plan.root:
        plan.root.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(plan.root, is_dir=True, force=plan.force) as tmp:
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
