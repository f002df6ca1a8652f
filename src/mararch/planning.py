"""The steps every model build's plan shares (`create`, `legacy`): collecting problems, checking
the request's choices and model name, naming the output, gathering inputs under member names,
and the `Plan` at the end."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from . import compress
from . import manifest as manifest_mod
from .digests import DIGESTS_NAME
from .errors import ConflictError, InputError, MararchError, RequestError, UsageError
from .output import TEMP_MARKER, check_destination
from .plans import (
    MANIFEST_NAME,
    ArchiveFormat,
    Compression,
    Entry,
    PathLike,
    Plan,
    is_url,
    model_name_problem,
    parse_enum,
)
from .sources import Source

T = TypeVar("T")
E = TypeVar("E", bound=Enum)


class ProblemCollector:
    """Collects problems so the user sees all of them at once, then raises once."""

    def __init__(self) -> None:
        self.errors: list[MararchError] = []

    def problem(self, message: str) -> None:
        self.errors.append(RequestError([message]))

    def attempt(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """`func(*args, **kwargs)`, or None with its MararchError recorded."""
        try:
            return func(*args, **kwargs)
        except MararchError as exc:
            self.errors.append(exc)
            return None

    @contextlib.contextmanager
    def collecting(self) -> Iterator[None]:
        """Record a MararchError raised in the block, which ends there, and carry on after it."""
        try:
            yield
        except MararchError as exc:
            self.errors.append(exc)

    def raise_if_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise RequestError([str(e) for e in self.errors])


def parse_choice(
    enum: type[E], value: object, option: str, allowed: Collection[E], says: str, hint: str
) -> E:
    """A user's value for `option` as a member of `enum`; UsageError (saying what this command
    takes, with `hint`) for one outside `allowed`."""
    chosen = enum(parse_enum(enum, value, option))
    if chosen not in allowed:
        raise UsageError(f"invalid value {chosen.value!r} for {option}: {says}", hint=hint)
    return chosen


def resolve_compression(
    archive_format: ArchiveFormat, compression: Compression | str | None, level: int | None
) -> tuple[Compression, int | None]:
    """The zip member policy for a format; --compression only makes sense for `default`."""
    if compression is not None:
        compression = Compression(parse_enum(Compression, compression, "--compression"))
    compress.check_level(level)
    if archive_format is ArchiveFormat.ZIP_STORE:
        if compression not in (None, Compression.STORE):
            raise UsageError(
                f"--compression {compression.value} contradicts --archive-format zip-store",
                hint="zip-store never compresses; use --archive-format default to compress.",
            )
        return Compression.STORE, level
    if archive_format is ArchiveFormat.DEFAULT:
        return compression or Compression.AUTO, level
    if compression is not None:
        raise UsageError(
            f"--compression applies to .mar archives, not to --archive-format "
            f"{archive_format.value}"
        )
    return Compression.DEFLATE, level


def check_model_name(problems: ProblemCollector, model_name: str | None) -> None:
    """--model-name is required and must be a name the servers accept."""
    if not model_name:
        problems.problem("missing --model-name")
    elif (msg := model_name_problem(model_name)) is not None:
        problems.problem(msg)


class MemberNames:
    """Member names -> sources, refusing two different inputs on one name."""

    def __init__(self) -> None:
        self.by_name: dict[str, Source] = {}

    def add(self, source: Source) -> None:
        try:
            source.name.encode("utf-8")
        except UnicodeEncodeError:
            # A file name that is not UTF-8 reaches Python as lone surrogates; zip names are UTF-8
            # and Java's ZipInputStream reads nothing else, so such a name cannot be packaged.
            raise InputError(
                f"{source.origin} {str(source.path)!r}: the member name {source.name!r} is not "
                "valid UTF-8",
                path=str(source.path),
                hint="Rename the file: archive member names must be UTF-8 text.",
            ) from None
        previous = self.by_name.get(source.name)
        if previous is None:
            self.by_name[source.name] = source
            return
        if previous.stream is None and source.stream is None:
            if os.path.samefile(previous.path, source.path):
                return
        elif previous.path == source.path:
            return
        raise ConflictError(source.name, str(previous.path), str(source.path))

    def add_all(self, sources: Iterable[Source]) -> None:
        """`add` each source in turn; the first error stops the rest."""
        for source in sources:
            self.add(source)


def entry_of(source: Source) -> Entry:
    """The plan's entry for an input: a file, or an object streamed from a store."""
    return Entry(
        source.name,
        source.path if source.stream is None else None,
        source.size,
        origin=source.origin,
        executable=source.executable,
        mtime=source.mtime,
        stream=source.stream,
        read_at=source.read_at,
    )


def entries_with_manifest(
    sources: Iterable[Source],
    manifest_bytes: bytes,
    generated: Sequence[Entry] = (),
    *,
    digests: bool = False,
) -> tuple[Entry, ...]:
    """Sorted entries, the generated manifest among them; an input on its name is a conflict
    (on the digests' name too, when they are recorded).

    `generated` are members made in memory (an inline model config); an input file on one of
    their names is a conflict too.
    """
    entries = [entry_of(s) for s in sources]
    for g in generated:
        for e in entries:
            if e.name == g.name:
                raise ConflictError(g.name, str(e.source), f"the {g.origin}")
    entries.extend(generated)
    for e in entries:
        if e.name == MANIFEST_NAME:
            raise ConflictError(MANIFEST_NAME, str(e.source), "the generated manifest")
        if digests and e.name == DIGESTS_NAME:
            raise ConflictError(DIGESTS_NAME, str(e.source), "the generated digests (--no-digests)")
    entries.append(
        Entry(MANIFEST_NAME, None, len(manifest_bytes), data=manifest_bytes, origin="manifest")
    )
    return tuple(sorted(entries, key=lambda e: e.name))


def plan_output(
    problems: ProblemCollector,
    model_name: str | None,
    export_path: PathLike | None,
    fmt: ArchiveFormat,
    force: bool,
) -> Path:
    """The output path for a build; a bad export folder or an existing output is a problem.
    A URL's output is only named here: the store is asked when the build starts."""
    if export_path is not None and is_url(export_path):
        return fmt.output_path(Path(), model_name or "model")
    export_dir = Path(export_path) if export_path is not None else Path.cwd()
    if export_dir.exists() and not export_dir.is_dir():
        problems.problem(f"export path {str(export_dir)!r} is a file, not a folder")
    output = fmt.output_path(export_dir, model_name or "model")
    if model_name:
        problems.attempt(
            check_destination, output, is_dir=fmt is ArchiveFormat.NO_ARCHIVE, force=force
        )
    return output


def plan_export_url(problems: ProblemCollector, export_path: PathLike | None) -> str | None:
    """The s3:// or gs:// URL a build uploads to, or None for a local export folder."""
    if export_path is None or not is_url(export_path):
        return None
    problems.attempt(check_export_url, str(export_path))
    return str(export_path)


def check_export_url(url: str) -> None:
    """An export URL must name an object store mararch can upload to."""
    from .remote import Scheme, redact, scheme_of

    if scheme_of(url) not in (Scheme.S3, Scheme.GS, Scheme.GCS):
        raise UsageError(
            f"cannot write archives to {redact(url)!r}: --export-path takes a folder, an s3:// "
            "or a gs:// URL",
            hint="Build locally, then upload with your server's tools.",
        )


def own_outputs(output: Path) -> Callable[[Path], bool]:
    """A `skip` predicate for input walks: the output itself and mararch's temporaries."""
    # Plain strings, not Path objects: this runs once per input file (thousands in a model).
    output_abs = os.path.abspath(output)

    def skip(path: Path) -> bool:
        # A previous build must never be packed into the new one (e.g. --extra-files '*').
        name = path.name
        return TEMP_MARKER in name or ".mararch-" in name or os.path.abspath(path) == output_abs

    return skip


@dataclass(frozen=True)
class Target:
    """Where and how a model build writes: its output (only named, for a store), the format,
    the zip policy and timestamp, and the flags its plan carries."""

    output: Path
    export_url: str | None
    archive_format: ArchiveFormat
    compression: Compression
    level: int | None
    timestamp: int | None
    force: bool
    digests: bool

    @property
    def replaces_folder(self) -> bool:
        """A local no-archive build: it replaces its output folder with the new one."""
        return self.archive_format is ArchiveFormat.NO_ARCHIVE and self.export_url is None

    def skip(self) -> Callable[[Path], bool]:
        """`own_outputs` of this target: a store's output is no local file, so only mararch's
        temporaries are skipped then."""
        return own_outputs(self.output if self.export_url is None else Path(TEMP_MARKER))

    def plan(
        self,
        model_name: str,
        members: MemberNames,
        manifest: dict[str, Any],
        generated: Sequence[Entry] = (),
    ) -> Plan:
        """The plan writing `members`, `generated` and `manifest` (sorted) to this target."""
        entries = entries_with_manifest(
            members.by_name.values(), manifest_mod.dumps(manifest), generated, digests=self.digests
        )
        return Plan(
            output=self.output,
            archive_format=self.archive_format,
            model_name=model_name,
            entries=entries,
            manifest=manifest,
            compression=self.compression,
            level=self.level,
            timestamp=self.timestamp,
            force=self.force,
            digests=self.digests,
            export_url=self.export_url,
        )


def plan_target(
    problems: ProblemCollector,
    model_name: str | None,
    export_path: PathLike | None,
    fmt: ArchiveFormat,
    compression: tuple[Compression, int | None],
    timestamp: int | None,
    *,
    force: bool,
    digests: bool,
) -> Target:
    """The target of a model build: its output and export URL (`plan_output`,
    `plan_export_url`), with the zip policy (`compression`, level) already resolved."""
    output = plan_output(problems, model_name, export_path, fmt, force)
    export_url = plan_export_url(problems, export_path)
    policy, level = compression
    return Target(output, export_url, fmt, policy, level, timestamp, force, digests)


__all__ = [
    "MemberNames",
    "ProblemCollector",
    "Target",
    "check_model_name",
    "entries_with_manifest",
    "entry_of",
    "own_outputs",
    "parse_choice",
    "plan_target",
    "resolve_compression",
]
