"""`create`: torch-model-archiver's job on mararch's engine (validate -> plan -> write)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import compress
from . import manifest as manifest_mod
from .digests import DIGESTS_NAME
from .errors import (
    ConflictError,
    Finding,
    InputError,
    MararchError,
    RequestError,
    Severity,
    UsageError,
    VerificationFailed,
)
from .handlers import builtin_suggestion, resolve_handler
from .ignore import rules_from_excludes
from .output import (
    TEMP_MARKER,
    Stale,
    atomic_output,
    check_destination,
    prepare_export_dir,
    sweep_stale,
)
from .plans import (
    MANIFEST_NAME,
    TORCHSERVE_RUNTIMES,
    ArchiveFormat,
    Compression,
    Entry,
    PathLike,
    Plan,
    Runtime,
    model_name_problem,
    parse_enum,
    source_date_epoch,
)
from .progress import OptionalProgress
from .sources import (
    Source,
    expand_extra_files,
    expand_file_mapping,
    file_source,
    split_extra_files,
)
from .writers import WrittenMember, write


@dataclass(frozen=True)
class BuildResult:
    """What was written: the output path and format, its size and digest, and its members."""

    path: Path
    archive_format: ArchiveFormat
    size: int
    sha256: str | None
    members: tuple[WrittenMember, ...]
    manifest: dict[str, Any]
    #: Warnings and notes of the pre-write checks (errors stop the build).
    findings: tuple[Finding, ...] = ()
    #: The OpenSSF model signature written beside the archive (`sign_key`).
    signature: Path | None = None
    #: The object's URL (without secrets) when written to a store; `path` is then its name.
    url: str | None = None
    #: Temporaries of killed mararch processes removed from the export folder.
    swept: tuple[Stale, ...] = ()


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


class ProblemCollector:
    """Collects problems so the user sees all of them at once, then raises once."""

    def __init__(self) -> None:
        self.errors: list[MararchError] = []

    def problem(self, message: str) -> None:
        self.errors.append(RequestError([message]))

    def attempt(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MararchError as exc:
            self.errors.append(exc)
            return None

    def raise_if_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise RequestError([str(e) for e in self.errors])


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
    entries = [
        Entry(
            s.name,
            s.path if s.stream is None else None,
            s.size,
            origin=s.origin,
            executable=s.executable,
            mtime=s.mtime,
            stream=s.stream,
            read_at=s.read_at,
        )
        for s in sources
    ]
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


def own_outputs(output: Path) -> Callable[[Path], bool]:
    """A `skip` predicate for input walks: the output itself and mararch's temporaries."""
    # Plain strings, not Path objects: this runs once per input file (thousands in a model).
    output_abs = os.path.abspath(output)

    def skip(path: Path) -> bool:
        # A previous build must never be packed into the new one (e.g. --extra-files '*').
        name = path.name
        return TEMP_MARKER in name or ".mararch-" in name or os.path.abspath(path) == output_abs

    return skip


def check_inputs_outside(
    problems: ProblemCollector, sources: Iterable[Source], output: Path, fmt: ArchiveFormat
) -> None:
    """A no-archive build replaces its output folder: no input may live inside it."""
    if fmt is not ArchiveFormat.NO_ARCHIVE:
        return
    inside = os.path.join(os.path.abspath(output), "")
    for src in sources:
        if os.path.abspath(src.path).startswith(inside):
            problems.errors.append(
                InputError(
                    f"input {str(src.path)!r} is inside the output folder {str(output)!r}, "
                    "which the build replaces",
                    path=str(src.path),
                    hint="Choose another --export-path or --model-name.",
                )
            )


def plan_create(
    *,
    model_name: str | None,
    version: str | None,
    handler: str | None,
    serialized_file: PathLike | None = None,
    model_file: PathLike | None = None,
    extra_files: str | Sequence[PathLike] | None = None,
    runtime: Runtime | str = Runtime.PYTHON,
    export_path: PathLike | None = None,
    archive_format: ArchiveFormat | str = ArchiveFormat.DEFAULT,
    force: bool = False,
    requirements_file: PathLike | None = None,
    config_file: PathLike | None = None,
    compression: Compression | str | None = None,
    level: int | None = None,
    digests: bool = True,
    files: Sequence[tuple[PathLike, str | None]] = (),
    exclude: Iterable[str] = (),
    config: Mapping[str, Any] | None = None,
) -> Plan:
    """Validate a create request and return the plan, collecting every problem first.

    Beyond the flags: `files` are `(src, dest)` pairs packaged with their structure (a folder's
    contents below `dest`, a file as `dest`); `exclude` are gitignore-style patterns matched
    against the member names of `extra_files` and `files`; `config` is a model config written
    into the archive as `model-config.yaml` (instead of `config_file`).
    """
    fmt = ArchiveFormat(parse_enum(ArchiveFormat, archive_format, "--archive-format"))
    rt = Runtime(parse_enum(Runtime, runtime, "--runtime"))
    if rt not in TORCHSERVE_RUNTIMES:
        raise UsageError(
            f"invalid value {rt.value!r} for --runtime: TorchServe runs 'python', 'python3' "
            "or 'LSP'",
            hint="MMS archives with python2 are built by `mararch legacy`.",
        )
    zip_policy, level = resolve_compression(fmt, compression, level)
    timestamp = source_date_epoch()
    # One pattern given as a plain string is one pattern, not one per character.
    rules = rules_from_excludes(exclude)

    problems = ProblemCollector()
    if not model_name:
        problems.problem("missing --model-name")
    elif (msg := model_name_problem(model_name)) is not None:
        problems.problem(msg)
    if not version:
        problems.problem("missing -v/--version (the model's version, e.g. 1.0)")
    if not handler:
        problems.problem(
            "missing --handler (a built-in name such as image_classifier, "
            "or the path of a handler .py file)"
        )

    output = plan_output(problems, model_name, export_path, fmt, force)
    export_url = plan_export_url(problems, export_path)
    skip = own_outputs(output if export_url is None else Path(TEMP_MARKER))

    members = MemberNames()
    singles: list[tuple[PathLike | None, str]] = [
        (model_file, "--model-file"),
        (serialized_file, "--serialized-file"),
    ]
    handler_spec = None
    if handler:
        handler_spec = resolve_handler(handler, rt)
        if handler_spec.file is not None and not handler_spec.file.exists():
            hint = None
            if (suggestion := builtin_suggestion(handler, rt)) is not None:
                hint = f"Did you mean the built-in handler {suggestion!r}?"
            problems.errors.append(
                InputError(
                    f"handler file {str(handler_spec.file)!r} does not exist "
                    f"(from --handler {handler!r})",
                    path=str(handler_spec.file),
                    hint=hint or "Give the path of your handler file, or a built-in handler name.",
                )
            )
        elif handler_spec.file is not None:
            singles.append((handler_spec.file, "--handler"))
    for path, origin in singles:
        if path is not None and str(path) != "":
            src = problems.attempt(input_source, path, origin)
            if src is not None:
                problems.attempt(members.add, src)
    extra_items = [
        str(i)
        for i in split_extra_files(
            extra_files
            if isinstance(extra_files, (str, type(None)))
            else [str(x) for x in extra_files]
        )
    ]
    for url in [i for i in extra_items if is_url(i)]:
        # An object from a store is one file, named by its last path component.
        extra_items.remove(url)
        src = problems.attempt(input_source, url, "--extra-files")
        if src is not None:
            problems.attempt(members.add, src)
    try:
        for src in expand_extra_files(extra_items, skip=skip, excluded=rules.excludes):
            members.add(src)
    except MararchError as exc:
        problems.errors.append(exc)
    for src_path, dest in files:
        try:
            for src in expand_file_mapping(
                Path(src_path), dest, skip=skip, excluded=rules.excludes
            ):
                members.add(src)
        except MararchError as exc:
            problems.errors.append(exc)
    generated: list[Entry] = []
    if config is not None:
        if config_file is not None and str(config_file) != "":
            problems.problem(
                f"both an inline model config and --config-file {str(config_file)!r} were "
                "given; keep one"
            )
        else:
            data = config_yaml(config)
            generated.append(Entry(CONFIG_NAME, None, len(data), data=data, origin="inline config"))
            if (clash := members.by_name.get(CONFIG_NAME)) is not None:
                problems.errors.append(
                    ConflictError(CONFIG_NAME, str(clash.path), "the inline model config")
                )
    for path, origin in (
        (requirements_file, "--requirements-file"),
        (config_file, "--config-file"),
    ):
        if path is not None and str(path) != "":
            src = problems.attempt(input_source, path, origin)
            if src is not None:
                problems.attempt(members.add, src)
    if export_url is None:
        check_inputs_outside(problems, members.by_name.values(), output, fmt)
    problems.raise_if_any()
    assert model_name and version and handler_spec is not None

    manifest = manifest_mod.torchserve_manifest(
        model_name=model_name,
        version=version,
        handler=handler_spec.manifest_value,
        runtime=rt.value,
        serialized_file=input_name(serialized_file) if serialized_file else None,
        model_file=input_name(model_file) if model_file else None,
        requirements_file=input_name(requirements_file) if requirements_file else None,
        config_file=CONFIG_NAME if generated else input_name(config_file) if config_file else None,
        timestamp=timestamp,
    )
    entries = entries_with_manifest(
        members.by_name.values(), manifest_mod.dumps(manifest), generated, digests=digests
    )
    return Plan(
        output=output,
        archive_format=fmt,
        model_name=model_name,
        entries=entries,
        manifest=manifest,
        compression=zip_policy,
        level=level,
        timestamp=timestamp,
        force=force,
        digests=digests,
        export_url=export_url,
    )


def is_url(value: PathLike) -> bool:
    """A cheap test first: local builds never import the remote modules."""
    return "://" in str(value)


def input_name(path: PathLike) -> str:
    """The member name of a single input: the file's name, or the URL's last component."""
    if is_url(path):
        from .remote import basename

        return basename(str(path))
    return Path(path).name


def input_source(path: PathLike, origin: str) -> Source:
    """A single input (--serialized-file, ...): a local file, or an object at a URL."""
    if is_url(path):
        from .remote_read import remote_source

        return remote_source(str(path), origin)
    p = Path(path)
    return file_source(p, p.name, origin)


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


#: The member name of an inline model config, the name TorchServe's examples use.
CONFIG_NAME = "model-config.yaml"


def config_yaml(config: Mapping[str, Any]) -> bytes:
    """An inline model config as YAML, keys in the order given."""
    import yaml

    try:
        text = yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True)
    except yaml.YAMLError as exc:
        raise UsageError(f"the inline model config cannot be written as YAML: {exc}") from None
    return text.encode("utf-8")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def pre_write_checks(plan: Plan, *, enforce: bool = True) -> tuple[Finding, ...]:
    """`verify`'s checks on what is about to be written; with `enforce`, VerificationFailed on any
    error (without it, --no-verify, the errors are only returned, so they can still be shown)."""
    return check_plans([plan], enforce=enforce)[0]


def check_plans(plans: Sequence[Plan], *, enforce: bool = True) -> list[tuple[Finding, ...]]:
    """`pre_write_checks` for several archives at once (a build spec's --all): with `enforce`,
    an error in any of them stops them all, before anything is written."""
    from .checks import check_plan

    found = [tuple(check_plan(plan)) for plan in plans]
    if enforce and (exc := refusal(list(zip(plans, found)), named=len(plans) > 1)) is not None:
        raise exc
    if len(plans) > 1:
        # A signing key that cannot be used must stop them all too, not the one that needs it.
        for plan in plans:
            if plan.sign_key is not None:
                from .signing.engine import signer_for

                signer_for(plan.sign_key, password_file=plan.sign_password_file)
    return found


def refusal(
    checked: Sequence[tuple[Plan, Sequence[Finding]]], *, named: bool
) -> VerificationFailed | None:
    """The error refusing to write these plans, given their checks' findings; None without
    errors. `named`: each finding says which archive it is about (with several archives)."""
    errors = [
        replace(f, member=f"{plan.output.name}: {f.member}" if f.member else plan.output.name)
        if named
        else f
        for plan, findings in checked
        for f in findings
        if f.severity is Severity.ERROR
    ]
    if not errors:
        return None
    return VerificationFailed(
        errors, hint="Fix them, or pass --no-verify to write the archive anyway."
    )


def build(
    plan: Plan,
    *,
    progress: OptionalProgress = None,
    digest: bool = False,
    verify: bool = True,
    checked: tuple[Finding, ...] | None = None,
) -> BuildResult:
    """Write a plan atomically; return what was written.

    With `verify`, the plan is checked first (manifest, handler, model-config.yaml,
    requirements) and nothing is written when there are errors (VerificationFailed).
    `checked` are the findings of those checks when the caller ran them already (`check_plans`).
    """
    findings = checked if checked is not None else pre_write_checks(plan, enforce=verify)
    if plan.export_url is not None:
        from .remote_write import build_remote

        if plan.sign_key is not None:
            raise UsageError(
                "--sign-key writes NAME.mar.sig beside a local archive; it cannot sign an "
                "upload to a store",
                hint="Build locally with --sign-key, then upload the archive and its .sig.",
            )
        url, size, sha, written = build_remote(plan, progress=progress, digest=digest)
        return BuildResult(
            plan.output,
            plan.archive_format,
            size,
            sha,
            tuple(written),
            plan.manifest,
            findings,
            url=url,
        )
    signer = None
    if plan.sign_key is not None:
        from .signing.engine import signer_for

        # A wrong password or key type must fail before anything is written.
        signer = signer_for(plan.sign_key, password_file=plan.sign_password_file)
    export_dir = plan.output.parent
    prepare_export_dir(export_dir)
    swept = tuple(sweep_stale(export_dir))
    is_dir = plan.archive_format is ArchiveFormat.NO_ARCHIVE
    with atomic_output(plan.output, is_dir=is_dir, force=plan.force) as tmp:
        members = write(plan, tmp, progress)
    signature = None
    if signer is not None:
        from .signing.engine import sign_built

        signature = sign_built(signer, plan.output, members).signature
    if is_dir:
        size = sum(m.size for m in members)
        sha = None
    else:
        size = plan.output.stat().st_size
        sha = sha256_of(plan.output) if digest else None
    return BuildResult(
        plan.output,
        plan.archive_format,
        size,
        sha,
        tuple(members),
        plan.manifest,
        findings,
        signature,
        swept=swept,
    )


def create(
    *,
    model_name: str,
    version: str,
    handler: str,
    serialized_file: PathLike | None = None,
    model_file: PathLike | None = None,
    extra_files: str | Sequence[PathLike] | None = None,
    runtime: Runtime | str = Runtime.PYTHON,
    export_path: PathLike | None = None,
    archive_format: ArchiveFormat | str = ArchiveFormat.DEFAULT,
    force: bool = False,
    requirements_file: PathLike | None = None,
    config_file: PathLike | None = None,
    compression: Compression | str | None = None,
    level: int | None = None,
    files: Sequence[tuple[PathLike, str | None]] = (),
    exclude: Iterable[str] = (),
    config: Mapping[str, Any] | None = None,
    progress: OptionalProgress = None,
    digests: bool = True,
    verify: bool = True,
) -> Path:
    """Build a TorchServe model archive, as `torch-model-archiver` would; return its path.

    Keyword arguments mirror the command-line flags (`digests=False` is --no-digests,
    `verify=False` is --no-verify). Raises `MararchError` subclasses.
    """
    plan = plan_create(
        model_name=model_name,
        version=version,
        handler=handler,
        serialized_file=serialized_file,
        model_file=model_file,
        extra_files=extra_files,
        runtime=runtime,
        export_path=export_path,
        archive_format=archive_format,
        force=force,
        requirements_file=requirements_file,
        config_file=config_file,
        compression=compression,
        level=level,
        digests=digests,
        files=files,
        exclude=exclude,
        config=config,
    )
    return build(plan, progress=progress, verify=verify).path


__all__ = ["BuildResult", "build", "create", "plan_create"]
