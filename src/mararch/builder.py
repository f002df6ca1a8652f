"""`create`: torch-model-archiver's job on mararch's engine (validate -> plan -> write)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import manifest as manifest_mod
from .errors import (
    ConflictError,
    Finding,
    InputError,
    Severity,
    UsageError,
    VerificationFailed,
)
from .handlers import HandlerSpec, builtin_suggestion, resolve_handler
from .ignore import rules_from_excludes
from .output import (
    Stale,
    atomic_output,
    prepare_export_dir,
    sweep_stale,
)
from .planning import (
    MemberNames,
    ProblemCollector,
    Target,
    check_model_name,
    parse_choice,
    plan_target,
    resolve_compression,
)
from .plans import (
    TORCHSERVE_RUNTIMES,
    ArchiveFormat,
    Compression,
    Entry,
    PathLike,
    Plan,
    Runtime,
    is_url,
    parse_enum,
    source_date_epoch,
)
from .progress import OptionalProgress
from .sources import (
    Excluded,
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


def check_inputs_outside(
    problems: ProblemCollector, sources: Iterable[Source], target: Target
) -> None:
    """A local no-archive build replaces its output folder: no input may live inside it."""
    if not target.replaces_folder:
        return
    output = target.output
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
    rt = parse_choice(
        Runtime,
        runtime,
        "--runtime",
        TORCHSERVE_RUNTIMES,
        "TorchServe runs 'python', 'python3' or 'LSP'",
        hint="MMS archives with python2 are built by `mararch legacy`.",
    )
    policy = resolve_compression(fmt, compression, level)
    timestamp = source_date_epoch()
    # One pattern given as a plain string is one pattern, not one per character.
    excluded = rules_from_excludes(exclude).excludes

    problems = ProblemCollector()
    check_model_name(problems, model_name)
    _check_version_and_handler(problems, version, handler)
    target = plan_target(
        problems, model_name, export_path, fmt, policy, timestamp, force=force, digests=digests
    )
    skip = target.skip()

    members = MemberNames()
    handler_spec, handler_file = _resolve_handler(problems, handler, rt)
    add_inputs(
        problems,
        members,
        [
            (model_file, "--model-file"),
            (serialized_file, "--serialized-file"),
            (handler_file, "--handler"),
        ],
    )
    _add_extra_files(problems, members, extra_files, skip, excluded)
    _add_file_mappings(problems, members, files, skip, excluded)
    generated = _inline_config(problems, members, config, config_file)
    add_inputs(
        problems,
        members,
        [(requirements_file, "--requirements-file"), (config_file, "--config-file")],
    )
    check_inputs_outside(problems, members.by_name.values(), target)
    problems.raise_if_any()
    assert model_name and version and handler_spec is not None

    manifest = manifest_mod.torchserve_manifest(
        model_name=model_name,
        version=version,
        handler=handler_spec.manifest_value,
        runtime=rt.value,
        serialized_file=_member_name(serialized_file),
        model_file=_member_name(model_file),
        requirements_file=_member_name(requirements_file),
        config_file=CONFIG_NAME if generated else _member_name(config_file),
        timestamp=timestamp,
    )
    return target.plan(model_name, members, manifest, generated)


def _check_version_and_handler(
    problems: ProblemCollector, version: str | None, handler: str | None
) -> None:
    if not version:
        problems.problem("missing -v/--version (the model's version, e.g. 1.0)")
    if not handler:
        problems.problem(
            "missing --handler (a built-in name such as image_classifier, "
            "or the path of a handler .py file)"
        )


def _resolve_handler(
    problems: ProblemCollector, handler: str | None, rt: Runtime
) -> tuple[HandlerSpec | None, Path | None]:
    """The handler's spec and the file to package for it (None for a built-in); a handler file
    that does not exist is a problem."""
    if not handler:
        return None, None
    spec = resolve_handler(handler, rt)
    if spec.file is None or spec.file.exists():
        return spec, spec.file
    hint = None
    if (suggestion := builtin_suggestion(handler, rt)) is not None:
        hint = f"Did you mean the built-in handler {suggestion!r}?"
    problems.errors.append(
        InputError(
            f"handler file {str(spec.file)!r} does not exist (from --handler {handler!r})",
            path=str(spec.file),
            hint=hint or "Give the path of your handler file, or a built-in handler name.",
        )
    )
    return spec, None


def add_inputs(
    problems: ProblemCollector,
    members: MemberNames,
    inputs: Iterable[tuple[PathLike | None, str]],
) -> None:
    """Single inputs (`(path, its flag)`; None or '' when not given) as members of their names."""
    for path, origin in inputs:
        if path is not None and str(path) != "":
            src = problems.attempt(input_source, path, origin)
            if src is not None:
                problems.attempt(members.add, src)


def _add_extra_files(
    problems: ProblemCollector,
    members: MemberNames,
    extra_files: str | Sequence[PathLike] | None,
    skip: Callable[[Path], bool],
    excluded: Excluded,
) -> None:
    """--extra-files: objects in a store one by one, then the local files, folders and globs."""
    items = split_extra_files(extra_files)
    # An object from a store is one file, named by its last path component.
    add_inputs(problems, members, [(item, "--extra-files") for item in items if is_url(item)])
    local = [item for item in items if not is_url(item)]
    with problems.collecting():
        members.add_all(expand_extra_files(local, skip=skip, excluded=excluded))


def _add_file_mappings(
    problems: ProblemCollector,
    members: MemberNames,
    files: Sequence[tuple[PathLike, str | None]],
    skip: Callable[[Path], bool],
    excluded: Excluded,
) -> None:
    """`files` items (a build spec's `(src, dest)` pairs), each with its structure."""
    for src_path, dest in files:
        with problems.collecting():
            members.add_all(expand_file_mapping(Path(src_path), dest, skip=skip, excluded=excluded))


def _inline_config(
    problems: ProblemCollector,
    members: MemberNames,
    config: Mapping[str, Any] | None,
    config_file: PathLike | None,
) -> list[Entry]:
    """The inline model config as a generated member (none without one); given beside
    --config-file, or beside an input of its name, it is a problem."""
    if config is None:
        return []
    if config_file is not None and str(config_file) != "":
        problems.problem(
            f"both an inline model config and --config-file {str(config_file)!r} were given; "
            "keep one"
        )
        return []
    data = config_yaml(config)
    if (clash := members.by_name.get(CONFIG_NAME)) is not None:
        problems.errors.append(
            ConflictError(CONFIG_NAME, str(clash.path), "the inline model config")
        )
    return [Entry(CONFIG_NAME, None, len(data), data=data, origin="inline config")]


def _member_name(path: PathLike | None) -> str | None:
    """The manifest's name for a single input, when one was given."""
    return input_name(path) if path else None


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
