"""`legacy`: MMS model-archiver 1.0.3's `--model-path` job on the same engine as `create`.

A whole model folder is packaged with its relative paths, minus MMS's exclusions, minus what
`.marignore` and `--exclude` name; the manifest is MMS's. Planning and writing are `create`'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from . import manifest as manifest_mod
from .builder import build
from .digests import DIGESTS_NAME
from .errors import InputError, OutputError, UsageError
from .ignore import IgnoreRules, load_ignore_file, rules_from_excludes
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
    MMS_RUNTIMES,
    ArchiveFormat,
    PathLike,
    Plan,
    Runtime,
    source_date_epoch,
)
from .progress import OptionalProgress
from .sources import Source, walk_folder

#: The formats of model-archiver 1.0.3's --archive-format.
LEGACY_FORMATS = (ArchiveFormat.DEFAULT, ArchiveFormat.TGZ, ArchiveFormat.NO_ARCHIVE)
#: Folders MMS never packages, at any depth (besides hidden ones).
SKIPPED_FOLDERS = frozenset({"__MACOSX", "__pycache__"})
#: File names MMS never packages, at any depth: an old manifest would clash with the new one.
SKIPPED_FILES = frozenset({"MANIFEST.json"})
#: File name endings MMS never packages; `.mar` keeps an earlier archive out of the new one.
SKIPPED_SUFFIXES = (".pyc", ".DS_Store", ".mar")


def mms_keeps_folder(name: str) -> bool:
    """MMS drops hidden folders, `__MACOSX` and `__pycache__`."""
    return not (name.startswith(".") or name in SKIPPED_FOLDERS)


def mms_keeps_file(name: str) -> bool:
    """MMS's documented file exclusions; unlike its code, hidden files are dropped too."""
    return not (name.startswith(".") or name in SKIPPED_FILES or name.endswith(SKIPPED_SUFFIXES))


def convert_unsupported() -> UsageError:
    """The error for model-archiver's `-c/--convert`, which mararch does not implement."""
    return UsageError(
        "-c/--convert (ONNX to MXNet conversion) is not supported: it needs MXNet, which is "
        "retired, and rewrites files in the model folder",
        hint="Convert the .onnx file with MXNet's own tools first, then package the folder "
        "without -c; or serve the ONNX model on TorchServe with `mararch create`.",
    )


def collect_model_folder(
    model_path: Path, rules: IgnoreRules, skip: Callable[[Path], bool] = lambda path: False
) -> list[Source]:
    """Every file below `model_path` that MMS's rules and `rules` keep, in walk order."""

    def keep_dir(name: str, rel: str) -> bool:
        return (
            mms_keeps_folder(name) and not rules.ignored(rel, True) and not skip(model_path / rel)
        )

    def keep_file(name: str, rel: str) -> bool:
        # An unpacked archive's digests are stale once repacked, as its manifest is.
        return mms_keeps_file(name) and rel != DIGESTS_NAME and not rules.ignored(rel, False)

    return list(
        walk_folder(model_path, "--model-path", keep_dir=keep_dir, keep_file=keep_file, skip=skip)
    )


def _check_model_path(problems: ProblemCollector, model_path: PathLike | None) -> Path | None:
    if model_path is None or str(model_path) == "":
        problems.problem("missing --model-path (the folder holding the model's files)")
        return None
    path = Path(model_path)
    if path.is_dir():
        return path
    kind = "is a file, not a folder" if path.exists() else "does not exist"
    problems.errors.append(
        InputError(
            f"model path {str(path)!r} {kind}",
            path=str(path),
            hint="Give --model-path the folder holding the model's files.",
        )
    )
    return None


def plan_legacy(
    *,
    model_name: str | None,
    model_path: PathLike | None,
    handler: str | None,
    runtime: Runtime | str = Runtime.PYTHON,
    export_path: PathLike | None = None,
    archive_format: ArchiveFormat | str = ArchiveFormat.DEFAULT,
    force: bool = False,
    exclude: Iterable[str] = (),
    digests: bool = True,
) -> Plan:
    """Validate an MMS `--model-path` request and return the plan, collecting every problem."""
    fmt = parse_choice(
        ArchiveFormat,
        archive_format,
        "--archive-format",
        LEGACY_FORMATS,
        "model-archiver 1.0.3 writes 'default', 'tgz' or 'no-archive'",
        hint="Uncompressed .mar archives for TorchServe are built by `mararch create`.",
    )
    rt = parse_choice(
        Runtime,
        runtime,
        "--runtime",
        MMS_RUNTIMES,
        "MMS runs 'python', 'python2' or 'python3'",
        hint="LSP (C++) archives for TorchServe are built by `mararch create`.",
    )
    # One pattern given as a plain string is one pattern, not one per character.
    rules = rules_from_excludes(exclude)
    policy = resolve_compression(fmt, None, None)
    timestamp = source_date_epoch()

    problems = ProblemCollector()
    check_model_name(problems, model_name)
    if not handler or not handler.strip():
        problems.problem(
            "missing --handler (module[:function] of the service file in the model folder, "
            "e.g. my_service:handle)"
        )
    folder = _check_model_path(problems, model_path)
    target = plan_target(
        problems, model_name, export_path, fmt, policy, timestamp, force=force, digests=digests
    )
    members = MemberNames()
    if folder is not None:
        _add_model_folder(problems, members, folder, rules, target)
    problems.raise_if_any()
    assert model_name and handler

    manifest = manifest_mod.mms_manifest(model_name=model_name, handler=handler, runtime=rt.value)
    return target.plan(model_name, members, manifest)


def _add_model_folder(
    problems: ProblemCollector,
    members: MemberNames,
    folder: Path,
    rules: IgnoreRules,
    target: Target,
) -> None:
    """The model folder's files, minus what its `.marignore` and `rules` exclude, as members;
    a no-archive output that would replace the folder, or nothing left to package, is a
    problem."""
    if _replaces_model_folder(target, folder):
        problems.errors.append(
            OutputError(
                f"the output folder {str(target.output)!r} would replace the model folder "
                f"{str(folder)!r}",
                path=str(target.output),
                hint="Choose another --export-path or --model-name.",
            )
        )
        return
    file_rules = problems.attempt(load_ignore_file, folder)
    if file_rules is None:
        return
    sources = problems.attempt(collect_model_folder, folder, file_rules + rules, target.skip())
    for src in sources or ():
        problems.attempt(members.add, src)
    if sources is not None and not sources:
        problems.errors.append(
            InputError(
                f"nothing to package: every file in {str(folder)!r} is excluded "
                "or the folder is empty",
                path=str(folder),
                hint="Check --model-path, --exclude and the folder's .marignore.",
            )
        )


def _replaces_model_folder(target: Target, folder: Path) -> bool:
    """Whether a local no-archive output is the model folder or one of its parents."""
    if not target.replaces_folder:
        return False
    output_abs = Path(os.path.realpath(target.output))
    folder_abs = Path(os.path.realpath(folder))
    return output_abs == folder_abs or output_abs in folder_abs.parents


def create_legacy(
    *,
    model_name: str,
    model_path: PathLike,
    handler: str,
    runtime: Runtime | str = Runtime.PYTHON,
    export_path: PathLike | None = None,
    archive_format: ArchiveFormat | str = ArchiveFormat.DEFAULT,
    force: bool = False,
    exclude: Iterable[str] = (),
    progress: OptionalProgress = None,
    digests: bool = True,
    verify: bool = True,
) -> Path:
    """Build an MMS model archive from a model folder, as `model-archiver` 1.0.3 would.

    Keyword arguments mirror the command-line flags; returns the output's path.
    Raises `MararchError` subclasses.
    """
    plan = plan_legacy(
        model_name=model_name,
        model_path=model_path,
        handler=handler,
        runtime=runtime,
        export_path=export_path,
        archive_format=archive_format,
        force=force,
        exclude=exclude,
        digests=digests,
    )
    return build(plan, progress=progress, verify=verify).path


__all__ = ["LEGACY_FORMATS", "convert_unsupported", "create_legacy", "plan_legacy"]
