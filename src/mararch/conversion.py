"""`convert`: rewrite an archive's manifest for the other server, keep every other member as is;
or (`--compression`) re-pack a zip's members as another compression policy wants (`repack`).

MMS archives lack what TorchServe's manifest wants (`model.modelVersion`, `archiverVersion`,
`createdOn`) and may say `python2`, which TorchServe does not run. The other way, a TorchServe
archive for MMS must not rely on TorchServe's built-in handlers or its C++ runtime. Whatever
cannot be converted is refused with the reason, before anything is written.

Members are read through `reader.open_archive` and written by the same writers as `create`; zip
members are copied still compressed (checked on the way), so their bytes do not change at all.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import manifest as manifest_mod
from . import zipformat as zf
from .digests import DIGESTS_NAME, MAX_DIGESTS_SIZE
from .digests import parse as parse_digests
from .digests import render as render_digests
from .errors import ArchiveError, OutputError, RequestError, UsageError
from .handlers import BUILTIN_HANDLERS, split_function
from .manifest import FILE_KEYS, Flavour
from .names import unsafe_members
from .output import check_destination
from .plans import (
    MANIFEST_NAME,
    MMS_RUNTIMES,
    ArchiveFormat,
    Compression,
    Entry,
    PathLike,
    Plan,
    Runtime,
    StoredData,
    model_name_problem,
    parse_enum,
    source_date_epoch,
)
from .progress import OptionalProgress
from .reader import ArchiveView, Container, Member, MemberKind, ZipView

#: Top-level keys only MMS reads; dropped on the way to TorchServe (the spec versions silently:
#: they are what marks a manifest as MMS's).
MMS_VERSION_KEYS = ("modelServerVersion", "implementationVersion", "specificationVersion")
MMS_ONLY_KEYS = ("engine", "publisher", "license", "userData")
#: TorchServe's own keys, dropped on the way to MMS.
TORCHSERVE_STAMP_KEYS = ("createdOn", "archiverVersion")
CONTAINER_FORMATS = {
    Container.ZIP: ArchiveFormat.DEFAULT,
    Container.TGZ: ArchiveFormat.TGZ,
    Container.FOLDER: ArchiveFormat.NO_ARCHIVE,
}
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".mar", ".zip")


@dataclass(frozen=True)
class Conversion:
    """A checked conversion: the plan to write, and notes on what was dropped or assumed."""

    plan: Plan
    source: Path
    target: Flavour
    notes: tuple[str, ...]


def _model_section(manifest: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    model = manifest.get("model")
    if not isinstance(model, dict):
        problems.append("the manifest has no 'model' object")
        return {}
    name = model.get("modelName")
    if not isinstance(name, str) or not name:
        problems.append("the manifest has no model.modelName")
    elif (msg := model_name_problem(name)) is not None:
        problems.append(f"model.modelName: {msg}")
    handler = model.get("handler")
    if not isinstance(handler, str) or not handler:
        problems.append("the manifest has no model.handler, which both servers need to load it")
    return model


def _version(model: dict[str, Any], version: str | None, problems: list[str]) -> str | None:
    if version is not None:
        if not version.strip():
            problems.append("--version is empty: give the model's version, e.g. 1.0")
        return version
    existing = model.get("modelVersion")
    if isinstance(existing, (int, float)) and not isinstance(existing, bool):
        return str(existing)
    return existing if isinstance(existing, str) and existing else None


def _extra_model_keys(model: dict[str, Any], skip: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in model.items() if k not in skip}


def to_torchserve(
    manifest: dict[str, Any],
    *,
    version: str | None,
    runtime: Runtime | None,
    timestamp: int | None,
) -> tuple[dict[str, Any], list[str]]:
    """An MMS manifest rewritten for TorchServe, and notes; RequestError lists what cannot be.

    The caller has checked that `manifest` is not TorchServe's already.
    """
    problems: list[str] = []
    notes: list[str] = []
    model = _model_section(manifest, problems)
    raw_runtime = manifest.get("runtime")
    if runtime is not None:
        rt = runtime
        if raw_runtime != rt.value:
            notes.append(f"runtime {raw_runtime!r} replaced by {rt.value!r} (--runtime)")
    elif raw_runtime == Runtime.PYTHON2.value:
        rt = Runtime.PYTHON2
        problems.append(
            "runtime 'python2' is not a TorchServe runtime (TorchServe runs 'python', "
            "'python3' or 'LSP'), and Python 2 handler code may not run on Python 3; "
            "if the handler runs on Python 3, pass --runtime python3"
        )
    elif raw_runtime in (Runtime.PYTHON.value, Runtime.PYTHON3.value):
        rt = Runtime(raw_runtime)
    else:
        rt = Runtime.PYTHON
        problems.append(
            f"runtime {raw_runtime!r} is not one MMS writes ('python', 'python2', 'python3'); "
            "pass --runtime python or python3 to set it"
        )
    chosen = _version(model, version, problems)
    if chosen is None:
        chosen = "1.0"
        notes.append("model.modelVersion set to '1.0' (MMS archives have none; see --version)")
    if problems:
        raise RequestError(problems, hint="Nothing was written.")
    result = manifest_mod.torchserve_manifest(
        model_name=model["modelName"],
        version=chosen,
        handler=model["handler"],
        runtime=rt.value,
        timestamp=timestamp,
    )
    result["model"].update(_extra_model_keys(model, ("modelName", "handler", "modelVersion")))
    dropped = [k for k in MMS_ONLY_KEYS if k in manifest]
    if dropped:
        notes.append(
            f"dropped MMS-only manifest fields TorchServe does not read: {', '.join(dropped)}"
        )
    skip = (*MMS_VERSION_KEYS, *MMS_ONLY_KEYS, "runtime", "model", *TORCHSERVE_STAMP_KEYS)
    extras = {k: v for k, v in manifest.items() if k not in skip}
    archiver_version = result.pop("archiverVersion")
    result.update(extras)
    result["archiverVersion"] = archiver_version
    return result, notes


def to_mms(
    manifest: dict[str, Any], *, version: str | None, runtime: Runtime | None
) -> tuple[dict[str, Any], list[str]]:
    """A TorchServe manifest rewritten for MMS, and notes; RequestError lists what cannot be."""
    problems: list[str] = []
    notes: list[str] = []
    model = _model_section(manifest, problems)
    raw_runtime = manifest.get("runtime")
    if runtime is not None:
        rt = runtime
    elif raw_runtime in (Runtime.PYTHON.value, Runtime.PYTHON3.value):
        rt = Runtime(raw_runtime)
    else:
        rt = Runtime.PYTHON
        problems.append(
            f"runtime {raw_runtime!r} cannot run on MMS, which runs Python handlers only "
            "('python', 'python2', 'python3')"
            + ("; a C++ (LSP) handler has no MMS equivalent" if raw_runtime == "LSP" else "")
        )
    if rt not in MMS_RUNTIMES:
        problems.append(f"--runtime {rt.value!r}: MMS runs 'python', 'python2' or 'python3'")
    handler = model.get("handler")
    if isinstance(handler, str) and split_function(handler)[0] in BUILTIN_HANDLERS:
        problems.append(
            f"handler {handler!r} is a TorchServe built-in handler; MMS does not have it "
            "(package your own handler file and rebuild with `mararch legacy`)"
        )
    chosen = _version(model, version, problems)
    if problems:
        raise RequestError(problems, hint="Nothing was written.")
    result = manifest_mod.mms_manifest(
        model_name=model["modelName"], handler=model["handler"], runtime=rt.value
    )
    skip = ("modelName", "handler", "modelVersion", *FILE_KEYS)
    if chosen is not None:
        result["model"]["modelVersion"] = chosen
    result["model"].update(_extra_model_keys(model, skip))
    dropped = [f"model.{k}" for k in FILE_KEYS if k in model]
    if dropped:
        notes.append(
            f"dropped TorchServe-only manifest fields MMS does not read: {', '.join(dropped)} "
            "(the files themselves are kept)"
        )
    extras = {
        k: v for k, v in manifest.items() if k not in ("runtime", "model", *TORCHSERVE_STAMP_KEYS)
    }
    result.update(extras)
    return result, notes


def _stem(path: Path) -> str:
    name = path.name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def default_output(source: Path, fmt: ArchiveFormat, target: Flavour | Compression) -> Path:
    """`NAME-torchserve.mar` (or `.tar.gz`, or a folder; `NAME-auto.mar` for a re-pack) beside
    the input."""
    return source.parent / f"{_stem(source)}-{target.value}{fmt.suffix}"


def _refuse_unsafe(view: ArchiveView) -> None:
    unsafe = unsafe_members(view.members)
    if unsafe:
        shown = [f"{m.name!r}: {reason}" for m, reason in unsafe[:10]]
        more = [f"... and {len(unsafe) - 10} more"] if len(unsafe) > 10 else []
        raise ArchiveError(
            f"{str(view.path)!r} holds members that cannot be copied safely:\n  "
            + "\n  ".join(shown + more),
            member=unsafe[0][0].name,
            hint="Rebuild the archive from its files with `mararch create` or `mararch legacy`.",
        )


def _require_manifest(view: ArchiveView) -> dict[str, Any]:
    manifest = view.manifest()
    if manifest is None:
        old_format = view.get("MANIFEST.json") is not None
        raise ArchiveError(
            f"{str(view.path)!r} has no {MANIFEST_NAME}, so there is no manifest to convert"
            + (
                " (its top-level MANIFEST.json is MMS 0.x's format, which convert does not read)"
                if old_format
                else ""
            ),
            hint="Unpack it and rebuild it from its files with `mararch legacy` (MMS) or "
            "`mararch create` (TorchServe).",
        )
    return manifest


def _check_output(
    source: Path,
    output: Path,
    fmt: ArchiveFormat,
    target: Flavour | None,
    force: bool,
    label: Flavour | Compression | None = None,
) -> None:
    real_src = Path(os.path.realpath(source))
    real_out = Path(os.path.realpath(output))
    if real_out == real_src or real_src in real_out.parents or real_out in real_src.parents:
        raise OutputError(
            f"--output {str(output)!r} is, contains or lies inside the input "
            f"{str(source)!r}: convert never modifies its input",
            path=str(output),
            hint="Choose an --output outside the input; replace the original yourself once "
            "you have checked the converted archive.",
        )
    if target is Flavour.TORCHSERVE and fmt is not ArchiveFormat.NO_ARCHIVE:
        # TorchServe picks the container by file name: only `.mar` is read as zip.
        is_mar = output.name.lower().endswith(".mar")
        if is_mar != (fmt is ArchiveFormat.DEFAULT):
            want = "end in .mar" if fmt is ArchiveFormat.DEFAULT else "not end in .mar"
            raise UsageError(
                f"--output {str(output)!r}: a {fmt.value} archive for TorchServe must {want}, "
                "because TorchServe reads a file as zip only when its name ends in .mar",
                hint=f"Use e.g. {default_output(source, fmt, label or target).name!r}.",
            )
    blocker = next((p for p in output.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise OutputError(
            f"--output {str(output)!r}: {str(blocker)!r} is a file, not a folder",
            path=str(output),
            hint="Choose an --output inside a folder (missing folders are created).",
        )
    check_destination(output, is_dir=fmt is ArchiveFormat.NO_ARCHIVE, force=force)


def _entry(view: ArchiveView, member: Member, origin: str | None = None) -> Entry:
    def stream() -> Iterator[bytes]:
        return view.iter_member(member)

    stored = None
    if (
        isinstance(view, ZipView)
        and member.crc is not None
        and member.method in zf.WRITABLE_METHODS
    ):
        zip_view = view
        stored = StoredData(
            zf.WRITABLE_METHODS[member.method],
            member.crc,
            member.compressed_size,
            lambda: zip_view.iter_stored(member),
        )
    executable = member.mode is not None and bool(member.mode & 0o100)
    return Entry(
        member.name,
        None,
        member.size,
        origin=origin or f"{view.path}:{member.name}",
        executable=executable,
        stream=stream,
        stored=stored,
    )


def _updated_digests(view: ArchiveView, member: Member, manifest: bytes) -> bytes | None:
    """`MAR-INF/digests.json` (written by `mararch create`) with the new manifest's SHA-256, so
    that the converted archive still verifies; None to keep the member as it is."""
    try:
        members = parse_digests(view.read_member(member, MAX_DIGESTS_SIZE))
    except ValueError:
        return None
    if MANIFEST_NAME not in members:
        return None
    members[MANIFEST_NAME] = hashlib.sha256(manifest).hexdigest()
    return render_digests(members)


def _compression(view: ArchiveView, compression: Compression | str | None) -> Compression | None:
    if compression is None:
        return None
    chosen = Compression(parse_enum(Compression, compression, "--compression"))
    if view.container is not Container.ZIP:
        raise UsageError(
            f"--compression re-packs .mar (zip) archives; {str(view.path)!r} is a "
            f"{view.container.value}",
            hint="Rebuild it with `mararch create --archive-format default` to get a .mar.",
        )
    return chosen


def plan_convert(
    view: ArchiveView,
    *,
    to: Flavour | str | None = None,
    version: str | None = None,
    runtime: Runtime | str | None = None,
    output: PathLike | None = None,
    force: bool = False,
    compression: Compression | str | None = None,
) -> Conversion:
    """Check that `view` can be converted and plan the new archive (same container as the input).

    `to` rewrites the manifest for the other server; `compression` (zip only) re-packs every
    member as `--compression` would have (bytes unchanged); at least one of them is needed.
    The plan reads members from `view`: build it while the view is open.
    """
    policy = _compression(view, compression)
    if to is None:
        if policy is None:
            raise UsageError(
                "convert needs --to (the server to convert for), --compression (how to re-pack "
                "the members), or both"
            )
        return _plan_repack(view, policy, output=output, force=force)
    target = Flavour(parse_enum(Flavour, to, "--to"))
    rt = _runtime_for(target, runtime)
    fmt = CONTAINER_FORMATS[view.container]
    source = view.path
    out = _output_path(output, source, fmt, target)
    _check_output(source, out, fmt, target, force)

    _refuse_unsafe(view)
    manifest = _require_manifest(view)
    _refuse_converted(manifest, target)
    timestamp = source_date_epoch()
    if target is Flavour.TORCHSERVE:
        new_manifest, notes = to_torchserve(
            manifest, version=version, runtime=rt, timestamp=timestamp
        )
    else:
        new_manifest, notes = to_mms(manifest, version=version, runtime=rt)

    entries = _converted_entries(view, manifest_mod.dumps(new_manifest))
    if policy is not None:
        entries = _repacked(view, entries, policy)
    plan = Plan(
        output=out,
        archive_format=fmt,
        model_name=_model_name(view, new_manifest),
        entries=tuple(entries),
        manifest=new_manifest,
        compression=policy or Compression.DEFLATE,
        timestamp=timestamp,
        force=force,
    )
    return Conversion(plan, source, target, tuple(notes))


def _runtime_for(target: Flavour, runtime: Runtime | str | None) -> Runtime | None:
    """--runtime as a `Runtime` (None when not given); TorchServe's target runs Python only."""
    if runtime is None:
        return None
    rt = Runtime(parse_enum(Runtime, runtime, "--runtime"))
    if target is Flavour.TORCHSERVE and rt not in (Runtime.PYTHON, Runtime.PYTHON3):
        raise UsageError(
            f"invalid value {rt.value!r} for --runtime with --to torchserve: "
            "choose 'python' or 'python3'"
        )
    return rt


def _output_path(
    output: PathLike | None, source: Path, fmt: ArchiveFormat, label: Flavour | Compression
) -> Path:
    """--output, or the default beside the input (`default_output`)."""
    return Path(output) if output is not None else default_output(source, fmt, label)


def _refuse_converted(manifest: dict[str, Any], target: Flavour) -> None:
    """A manifest of the target's flavour already has nothing to convert."""
    if manifest_mod.detect_flavour(manifest) is not target:
        return
    article, other = (
        ("a TorchServe", "mms") if target is Flavour.TORCHSERVE else ("an MMS", "torchserve")
    )
    raise RequestError(
        [f"the archive already has {article} manifest: there is nothing to convert"],
        hint=f"Use --to {other} to go the other way.",
    )


def _converted_entries(view: ArchiveView, manifest: bytes) -> list[Entry]:
    """Every member of `view` in its order, the new manifest in the old one's place."""
    entries: list[Entry] = []
    for member in view.members:
        if member.kind is MemberKind.DIR:
            continue
        if member.name == MANIFEST_NAME:
            # The new manifest takes the old one's place; every other member keeps its order.
            entries.append(
                Entry(MANIFEST_NAME, None, len(manifest), data=manifest, origin="manifest")
            )
        elif member.name == DIGESTS_NAME:
            entries.append(_digests_entry(view, member, manifest))
        else:
            entries.append(_entry(view, member))
    return entries


def _digests_entry(view: ArchiveView, member: Member, manifest: bytes) -> Entry:
    """The archive's own digests are kept, with the manifest's line updated: a convert plan
    records no digests of its own (Plan.digests stays False)."""
    digests = _updated_digests(view, member, manifest)
    if digests is None:
        return _entry(view, member, origin="digests")
    return Entry(DIGESTS_NAME, None, len(digests), data=digests, origin="digests")


def _model_name(view: ArchiveView, manifest: dict[str, Any]) -> str:
    """The plan's model name: the manifest's; a tgz keeps its top folder instead, as TorchServe
    strips the first component of every member."""
    if view.container is Container.TGZ and view.model_root:
        return view.model_root
    return str(manifest["model"]["modelName"])


def _repacked(view: ArchiveView, entries: list[Entry], policy: Compression) -> list[Entry]:
    from .repack import repack_entry

    assert isinstance(view, ZipView)
    members = {m.name: m for m in view.members if m.is_file}
    return [
        repack_entry(view, members[e.name], e, policy) if e.stored is not None else e
        for e in entries
    ]


def _plan_repack(
    view: ArchiveView, policy: Compression, *, output: PathLike | None, force: bool
) -> Conversion:
    """Every member kept byte for byte (manifest and digests too), held as `policy` wants."""
    source = view.path
    manifest = _require_manifest(view)
    flavour = manifest_mod.detect_flavour(manifest)
    out = _output_path(output, source, ArchiveFormat.DEFAULT, policy)
    _check_output(source, out, ArchiveFormat.DEFAULT, flavour, force, label=policy)
    _refuse_unsafe(view)
    entries = [_entry(view, m) for m in view.members if m.kind is not MemberKind.DIR]
    plan = Plan(
        output=out,
        archive_format=ArchiveFormat.DEFAULT,
        model_name=_stem(source),
        entries=tuple(_repacked(view, entries, policy)),
        manifest=manifest,
        compression=policy,
        timestamp=source_date_epoch(),
        force=force,
    )
    return Conversion(plan, source, flavour, ())


def convert(
    source: PathLike,
    *,
    to: Flavour | str | None = None,
    version: str | None = None,
    runtime: Runtime | str | None = None,
    output: PathLike | None = None,
    force: bool = False,
    progress: OptionalProgress = None,
    verify: bool = True,
    compression: Compression | str | None = None,
) -> Conversion:
    """Convert an archive for the other server (`to`: "torchserve" or "mms") and/or re-pack a
    zip's members (`compression`: "auto", "store" or "deflate"); the input is never modified.
    Returns the conversion (its `plan.output` is the new archive)."""
    from .builder import build
    from .reader import open_archive

    with open_archive(source) as view:
        conversion = plan_convert(
            view,
            to=to,
            version=version,
            runtime=runtime,
            output=output,
            force=force,
            compression=compression,
        )
        build(conversion.plan, progress=progress, verify=verify)
    return conversion


__all__ = ["Conversion", "convert", "default_output", "plan_convert", "to_mms", "to_torchserve"]
