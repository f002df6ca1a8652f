"""The facts `mararch inspect` shows, from a reader view (no member data read but the manifest)."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import MAX_LISTED, ArchiveError, Finding
from .handlers import HandlerOrigin, handler_origin
from .manifest import FILE_KEYS, Flavour, detect_flavour
from .names import unsafe_members
from .plans import ArchiveFormat
from .reader import ArchiveView, Container, Member
from .timetoserve import slow_inflate_findings

if TYPE_CHECKING:
    from .signing.engine import SignatureInfo


@dataclass(frozen=True)
class InspectSummary:
    """What every inspect summary shows, a model archive's or a workflow archive's."""

    path: str
    container: Container
    archive_size: int
    size: int
    compressed_size: int
    members: tuple[Member, ...]
    manifest: dict[str, Any] | None
    _: KW_ONLY
    #: What is wrong: an unreadable manifest, members that extraction would refuse.
    problems: tuple[str, ...] = ()
    #: The OpenSSF model signature beside the archive (ARCHIVE.sig), when there is one.
    signature: SignatureInfo | None = None
    #: Warnings that do not stop a deployment (verify reports them too), e.g. slow-inflate.
    warnings: tuple[Finding, ...] = ()

    def manifest_field(self, key: str) -> str | None:
        value = (self.manifest or {}).get(key)
        return None if value is None else str(value)


@dataclass(frozen=True)
class ArchiveSummary(InspectSummary):
    """What an archive holds and says about itself."""

    archive_format: ArchiveFormat
    model_root: str | None
    flavour: Flavour | None
    handler_origin: HandlerOrigin | None
    handler_member: str | None
    #: Files the manifest names that the archive does not hold, by manifest key.
    missing_files: dict[str, str] = field(default_factory=dict)

    @property
    def model(self) -> dict[str, Any]:
        model = (self.manifest or {}).get("model")
        return model if isinstance(model, dict) else {}

    def model_field(self, key: str) -> str | None:
        value = self.model.get(key)
        return None if value is None else str(value)

    @property
    def archiver_version(self) -> str | None:
        # MMS manifests name the archive format's version instead of the archiver's.
        return self.manifest_field("archiverVersion") or self.manifest_field(
            "implementationVersion"
        )


def archive_format_of(view: ArchiveView) -> ArchiveFormat:
    """Which torch-model-archiver --archive-format would have produced this container."""
    if view.container is Container.TGZ:
        return ArchiveFormat.TGZ
    if view.container is Container.FOLDER:
        return ArchiveFormat.NO_ARCHIVE
    if any(m.method != "stored" for m in view.members if m.size):
        return ArchiveFormat.DEFAULT
    return ArchiveFormat.ZIP_STORE


def unsafe_problems(view: ArchiveView) -> list[str]:
    """The members extraction would refuse, as inspect's problems (the first few, then a count)."""
    unsafe = unsafe_members(view.members)
    problems = [f"unsafe member {m.name!r}: {reason}" for m, reason in unsafe[:MAX_LISTED]]
    if len(unsafe) > MAX_LISTED:
        problems.append(f"... and {len(unsafe) - MAX_LISTED} more unsafe members")
    return problems


def listing(view: ArchiveView) -> dict[str, Any]:
    """The facts of every inspect summary that come from the listing alone."""
    return {
        "path": view.display,
        "container": view.container,
        "archive_size": view.archive_size,
        "size": view.total_size,
        "compressed_size": view.compressed_size,
        "members": tuple(sorted(view.members, key=lambda m: (m.name, m.index))),
    }


def summarize(view: ArchiveView) -> ArchiveSummary:
    """The inspect facts; a manifest that cannot be read becomes a problem, not an exception."""
    problems: list[str] = []
    try:
        manifest = view.manifest()
    except ArchiveError as exc:
        manifest = None
        problems.append(exc.message)
    problems += unsafe_problems(view)
    flavour = detect_flavour(manifest) if manifest is not None else None
    names = {m.name for m in view.members if m.is_file}
    origin = member = None
    model = manifest.get("model") if manifest is not None else None
    if manifest is not None and not isinstance(model, dict):
        problems.append("the manifest has no 'model' object")
        model = None
    missing: dict[str, str] = {}
    if model:
        handler = model.get("handler")
        if isinstance(handler, str) and handler:
            runtime = manifest.get("runtime") if manifest else None
            origin, member = handler_origin(handler, str(runtime), names)
        for key in FILE_KEYS:
            value = model.get(key)
            if isinstance(value, str) and value and value not in names:
                missing[key] = value
    from .signing.engine import describe_signature

    return ArchiveSummary(
        **listing(view),
        archive_format=archive_format_of(view),
        model_root=view.model_root,
        manifest=manifest,
        flavour=flavour,
        handler_origin=origin,
        handler_member=member,
        missing_files=missing,
        problems=tuple(problems),
        signature=describe_signature(view),
        warnings=tuple(slow_inflate_findings(view.members))
        if view.container is Container.ZIP
        else (),
    )


def summary_json(s: ArchiveSummary) -> dict[str, Any]:
    """The stable JSON form of a summary (keys documented in docs/inspect.md)."""
    return {
        "path": s.path,
        "container": s.container.value,
        "format": s.archive_format.value,
        "flavour": s.flavour.value if s.flavour is not None else None,
        "model_name": s.model_field("modelName"),
        "model_version": s.model_field("modelVersion"),
        "runtime": s.manifest_field("runtime"),
        "handler": s.model_field("handler"),
        "handler_origin": s.handler_origin,
        "handler_member": s.handler_member,
        "serialized_file": s.model_field("serializedFile"),
        "model_file": s.model_field("modelFile"),
        "config_file": s.model_field("configFile"),
        "requirements_file": s.model_field("requirementsFile"),
        "missing_files": s.missing_files,
        "created_on": s.manifest_field("createdOn"),
        "archiver_version": s.archiver_version,
        "model_root": s.model_root,
        **listing_json(s),
    }


def listing_json(s: InspectSummary) -> dict[str, Any]:
    """The keys every inspect JSON ends with: counts, sizes, problems, manifest, members."""
    return {
        "member_count": len(s.members),
        "size": s.size,
        "compressed_size": s.compressed_size,
        "archive_size": s.archive_size,
        "problems": list(s.problems),
        "signature": s.signature.to_json() if s.signature is not None else None,
        "warnings": [f.to_json() for f in s.warnings],
        "manifest": s.manifest,
        "members": [member_json(m, zipped=s.container is Container.ZIP) for m in s.members],
    }


def member_json(m: Member, *, zipped: bool) -> dict[str, Any]:
    # Only zip compresses member by member; a tar or folder member has no ratio of its own.
    return {
        "name": m.name,
        "kind": m.kind.value,
        "size": m.size,
        "compressed_size": m.compressed_size,
        "ratio": round(m.ratio, 3) if zipped and m.ratio is not None and m.is_file else None,
        "method": m.method,
        "crc32": f"{m.crc:08x}" if m.crc is not None else None,
        "link_target": m.link_target,
    }


__all__ = ["ArchiveSummary", "InspectSummary", "summarize", "summary_json"]
