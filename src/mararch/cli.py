"""The command line: parse, call the public API, render, map errors to exit codes. Nothing else."""

# No `from __future__ import annotations` here: Typer would eval every `Annotated[..., Option]`
# string again each time it builds the command line (+5 ms a run, completion included).
import glob
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional, cast

import typer

from .errors import EXIT_USAGE, MararchError, UsageError
from .handlers import BUILTIN_HANDLERS, LSP_BUILTIN_HANDLERS
from .manifest import Flavour
from .plans import (
    MMS_RUNTIMES,
    TORCHSERVE_RUNTIMES,
    ArchiveFormat,
    Compression,
    Runtime,
    is_url,
)
from .snapshot import Envelope
from .version import __version__

if TYPE_CHECKING:
    from .answers import Refusal
    from .plans import Plan
    from .reader import ArchiveView

app = typer.Typer(
    name="mararch",
    help="Build, inspect, verify and extract model archives (.mar) for TorchServe and MMS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def subset_choice(name: str, members: Iterable[Enum]) -> type[Enum]:
    """A Typer choice of some of a core enum's members: the core's values, in its order."""
    # (typeshed types Enum's functional form as an instance, not a class)
    return cast("type[Enum]", Enum(name, [(m.name, m.value) for m in members], type=str))


# The type checker sees the core enums; Typer sees only the members the command takes.
if TYPE_CHECKING:
    TorchServeRuntime = Runtime
    MmsRuntime = Runtime
    MmsFormat = ArchiveFormat
else:
    TorchServeRuntime = subset_choice(
        "TorchServeRuntime", [r for r in Runtime if r in TORCHSERVE_RUNTIMES]
    )
    MmsRuntime = subset_choice("MmsRuntime", [r for r in Runtime if r in MMS_RUNTIMES])
    # legacy.LEGACY_FORMATS (test_cli pins that the two agree): MMS reads no zip-store.
    MmsFormat = subset_choice(
        "MmsFormat", [f for f in ArchiveFormat if f is not ArchiveFormat.ZIP_STORE]
    )

#: --storage-option, said once for every command that reads or writes URLs.
StorageOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--storage-option",
        metavar="KEY=VALUE",
        help="An fsspec storage option for s3://, gs:// or http(s):// URLs (repeatable), e.g. "
        "endpoint_url=http://127.0.0.1:9000. Credentials come from the store's usual sources.",
        show_default=False,
    ),
]


# Options said once for every command that takes them (Typer's `Annotated` style); where two
# commands' options differ on purpose (help, default), each command declares its own.
ModelNameOpt = Annotated[
    Optional[str],
    typer.Option(
        "--model-name",
        help="Model name; the output is NAME.mar, NAME.tar.gz or NAME/.",
        show_default=False,
    ),
]
SerializedFileOpt = Annotated[
    Optional[str],
    typer.Option(
        "--serialized-file",
        help="The weights: a state_dict (.pt/.pth) for eager mode, a TorchScript or ONNX file.",
        show_default=False,
    ),
]
ModelFileOpt = Annotated[
    Optional[str],
    typer.Option(
        "--model-file", help="Python file with the model class (eager mode).", show_default=False
    ),
]
RequirementsFileOpt = Annotated[
    Optional[str],
    typer.Option(
        "-r",
        "--requirements-file",
        help="requirements.txt for the model's own packages.",
        show_default=False,
    ),
]
ConfigFileOpt = Annotated[
    Optional[str],
    typer.Option(
        "-c", "--config-file", help="model-config.yaml for TorchServe.", show_default=False
    ),
]
ForceOpt = Annotated[bool, typer.Option("-f", "--force", help="Overwrite an existing output.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the plan; write nothing.")]
WrittenJsonOpt = Annotated[bool, typer.Option("--json", help="Print what was written as JSON.")]
NoDigestsOpt = Annotated[
    bool,
    typer.Option(
        "--no-digests", help="Do not record MAR-INF/digests.json (SHA-256 of every member)."
    ),
]
NoVerifyOpt = Annotated[
    bool,
    typer.Option(
        "--no-verify",
        help="Write even when the pre-write checks (manifest, handler, model-config.yaml, "
        "requirements) find errors.",
    ),
]


@contextmanager
def remote_options(items: Optional[list[str]]) -> Iterator[None]:
    """--storage-option values for the URLs the command opens (nothing imported without)."""
    if not items:
        yield
        return
    from .remote import parse_storage_options, storage_options

    with storage_options(parse_storage_options(items)):
        yield


def fail(exc: MararchError) -> NoReturn:
    from . import console

    console.error(exc)
    raise typer.Exit(exc.exit_code)


@contextmanager
def errors_to_exit_codes() -> Iterator[None]:
    """The one place where mararch's errors become messages and exit codes."""
    try:
        yield
    except MararchError as exc:
        fail(exc)
    except KeyboardInterrupt:
        from . import console

        console.say("interrupted; nothing was left behind")
        raise typer.Exit(130) from None


def complete_handler(incomplete: str) -> list[str]:
    names = [*BUILTIN_HANDLERS, *LSP_BUILTIN_HANDLERS]
    files = sorted(glob.glob(incomplete + "*.py")) + sorted(glob.glob(incomplete + "*/"))
    return [n for n in names if n.startswith(incomplete)] + files


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"mararch {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        Optional[bool],
        typer.Option(
            "--version",
            callback=version_callback,
            is_eager=True,
            help="Print mararch's version and exit.",
        ),
    ] = None,
) -> None:
    """Build, inspect, verify and extract model archives (.mar) for TorchServe and MMS."""


def interactive() -> bool:
    """Whether missing values can be asked for: both ends are a terminal."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def missing_option(flag: str, hint: str = "") -> UsageError:
    return UsageError(f"missing option {flag}", hint=hint or f"Pass {flag} VALUE (see --help).")


def prompt_line(label: str, default: Optional[str] = None, **options: Any) -> str:
    """typer.prompt, stripped; Ctrl-C (or end of input) is an interrupt like any other, not
    click's bare "Aborted!"."""
    try:
        return str(typer.prompt(label, default=default, **options)).strip()
    except typer.Abort:
        typer.echo(err=True)  # end the prompt's line
        raise KeyboardInterrupt from None


def need(
    value: Optional[str],
    flag: str,
    prompt: str,
    refusal: Optional[Callable[[str], Optional["Refusal"]]] = None,
) -> str:
    """A required value: asked for on a terminal until `refusal` finds nothing wrong (saying
    why, and offering a close answer as the default), a usage error (exit 2) without one."""
    if value:
        return value
    if not interactive():
        raise missing_option(flag)
    from . import console

    offer: Optional[str] = None
    while True:
        answer = prompt_line(prompt, offer)
        refused = refusal(answer) if refusal is not None and answer else None
        if answer and refused is None:
            return answer
        if refused is not None:
            offer = refused.offer
            console.warn(
                refused.reason + (f"; did you mean {offer!r}? (Enter takes it)" if offer else "")
            )


#: create's options that a build spec can also set (a flag given overrides the spec's value).
SPEC_OPTIONS = (
    "model_name",
    "version",
    "serialized_file",
    "model_file",
    "handler",
    "extra_files",
    "runtime",
    "export_path",
    "archive_format",
    "force",
    "requirements_file",
    "config_file",
    "compression",
    "level",
    "sign_key",
    "sign_password_file",
)


def given_options(ctx: typer.Context, names: tuple[str, ...]) -> dict[str, Any]:
    """The options actually typed on the command line (not Typer's defaults), as values."""
    given: dict[str, Any] = {}
    for name in names:
        source = ctx.get_parameter_source(name)
        # By name: Typer has vendored click's ParameterSource enum in recent releases.
        if source is not None and source.name in ("COMMANDLINE", "PROMPT"):
            value = ctx.params[name]
            given[name] = value.value if isinstance(value, Enum) else value
    return given


@app.command(no_args_is_help=False)
def create(
    ctx: typer.Context,
    name: Annotated[
        Optional[str],
        typer.Argument(
            help="The archive of the build spec to build (when it declares several).",
            metavar="NAME",
            show_default=False,
        ),
    ] = None,
    model_name: ModelNameOpt = None,
    version: Annotated[
        Optional[str],
        typer.Option("-v", "--version", help="The model's version, e.g. 1.0.", show_default=False),
    ] = None,
    serialized_file: SerializedFileOpt = None,
    model_file: ModelFileOpt = None,
    handler: Annotated[
        Optional[str],
        typer.Option(
            "--handler",
            help="A built-in handler (image_classifier, text_classifier, ...) or a handler file, "
            "path/to/module[.py][:function].",
            autocompletion=complete_handler,
            show_default=False,
        ),
    ] = None,
    extra_files: Annotated[
        Optional[str],
        typer.Option(
            "--extra-files",
            help="Comma-separated files, folders (their contents) and glob patterns to add.",
        ),
    ] = None,
    runtime: Annotated[
        TorchServeRuntime, typer.Option("--runtime", help="Runtime of the handler.")
    ] = Runtime.PYTHON,
    export_path: Annotated[
        Optional[str],
        typer.Option(
            "--export-path",
            help="Folder (created if missing) or s3:// or gs:// URL to write into. "
            "\\[default: current folder]",
            show_default=False,
        ),
    ] = None,
    archive_format: Annotated[
        ArchiveFormat,
        typer.Option(
            "--archive-format",
            help="default: .mar (zip); zip-store: .mar without compression; tgz: NAME.tar.gz; "
            "no-archive: a folder NAME/.",
        ),
    ] = ArchiveFormat.DEFAULT,
    force: ForceOpt = False,
    requirements_file: RequirementsFileOpt = None,
    config_file: ConfigFileOpt = None,
    compression: Annotated[
        Optional[Compression],
        typer.Option(
            "--compression",
            help="How .mar members are stored: auto (deflate only where it saves 10% or more, so "
            "TorchServe loads fast), deflate (every member), store. [default: auto]",
            show_default=False,
        ),
    ] = None,
    level: Annotated[Optional[int], typer.Option("--level", help="Deflate level, 0-9.")] = None,
    dry_run: DryRunOpt = False,
    json_output: WrittenJsonOpt = False,
    no_digests: NoDigestsOpt = False,
    no_verify: NoVerifyOpt = False,
    spec: Annotated[
        Optional[Path],
        typer.Option(
            "--spec",
            help="The build spec to read. \\[default: mararch.toml, else \\[tool.mararch] in "
            "pyproject.toml, in the current folder, when --model-name is not given]",
            show_default=False,
        ),
    ] = None,
    build_all: Annotated[
        bool, typer.Option("--all", help="Build every archive of the build spec.")
    ] = False,
    sign_key: Annotated[
        Optional[Path],
        typer.Option(
            "--sign-key",
            help="Sign the model as it is written (OpenSSF model signing) with this EC private "
            "key (PEM); the signature goes to OUTPUT.sig.",
        ),
    ] = None,
    sign_password_file: Annotated[
        Optional[Path],
        typer.Option(
            "--sign-password-file", help="File whose first line is --sign-key's password."
        ),
    ] = None,
    bundle_requirements: Annotated[
        bool,
        typer.Option(
            "--bundle-requirements",
            help="Download the wheels -r/--requirements-file needs into the archive (wheels/), "
            "so that TorchServe's install_py_dep_per_model installs them with no index.",
        ),
    ] = False,
    target_platform: Annotated[
        Optional[str],
        typer.Option(
            "--target-platform",
            help="Platform tag of the server for --bundle-requirements, e.g. "
            "manylinux2014_x86_64. \\[default: this machine's]",
            show_default=False,
        ),
    ] = None,
    target_python: Annotated[
        Optional[str],
        typer.Option(
            "--target-python",
            help="Python version of the server for --bundle-requirements, e.g. 3.11. "
            "\\[default: this Python's]",
            show_default=False,
        ),
    ] = None,
    storage_option: StorageOpt = None,
) -> None:
    """Build a model archive for TorchServe (torch-model-archiver's flags, same output).

    Without --model-name, the archives declared in mararch.toml (or \\[tool.mararch] in
    pyproject.toml) are built; flags given override the spec's values.
    """
    with errors_to_exit_codes(), remote_options(storage_option):
        if spec is not None or name is not None or build_all or model_name is None:
            spec_path = spec_to_build(spec, name, build_all, bundle_requirements)
            if spec_path is not None:
                run_spec(
                    ctx,
                    spec_path,
                    name,
                    build_all,
                    dry_run=dry_run,
                    json_output=json_output,
                    digests=not no_digests,
                    verify=not no_verify,
                )
                return
        from .builder import plan_create

        # Asked (or refused) before any download.
        wanted = ask_create_values(model_name, version, handler, runtime)
        with bundled_wheels(
            requirements_file,
            export_path,
            bundle=bundle_requirements,
            platform=target_platform,
            python_version=target_python,
        ) as (requirements, files):
            plan = plan_create(
                model_name=wanted[0],
                version=wanted[1],
                handler=wanted[2],
                serialized_file=serialized_file,
                model_file=model_file,
                extra_files=extra_files,
                runtime=runtime.value,
                export_path=export_path,
                archive_format=archive_format.value,
                force=force,
                requirements_file=requirements,
                config_file=config_file,
                compression=compression.value if compression is not None else None,
                level=level,
                digests=not no_digests,
                files=files,
            )
            if sign_key is not None:
                from dataclasses import replace

                plan = replace(plan, sign_key=sign_key, sign_password_file=sign_password_file)
            run_plan(plan, dry_run=dry_run, json_output=json_output, verify=not no_verify)


def spec_to_build(
    spec: Optional[Path], name: Optional[str], build_all: bool, bundle_requirements: bool
) -> Optional[Path]:
    """The build spec `create` builds from, or None to build from the flags alone."""
    from .buildspec import find_spec

    spec_path = find_spec(spec)
    if spec_path is not None and bundle_requirements:
        raise UsageError(
            "--bundle-requirements works with flags only, not with a build spec",
            hint="Pass --model-name and the other flags instead of a spec.",
        )
    if spec_path is None and (name is not None or build_all):
        # (an explicit --spec was found, or refused)
        raise UsageError(
            f"no build spec in {str(Path.cwd())!r}: no mararch.toml, and no "
            "[tool.mararch] in pyproject.toml",
            hint="Write one with `mararch init`, or name one with --spec PATH.",
        )
    return spec_path


def ask_create_values(
    model_name: Optional[str], version: Optional[str], handler: Optional[str], runtime: Runtime
) -> tuple[str, str, str]:
    """create's required values: model name, version and handler, asked for on a terminal."""
    from .answers import handler_refusal, model_name_refusal

    if model_name is None and interactive():
        from . import console

        console.say(
            ("note:", "cyan"),
            " no mararch.toml here (nor [tool.mararch] in pyproject.toml), so mararch asks "
            "for the values; `mararch init` writes one for next time",
        )
    return (
        need(model_name, "--model-name", "Model name", model_name_refusal),
        need(version, "-v/--version", "Model version"),
        need(
            handler,
            "--handler",
            "Handler (built-in name or .py file)",
            lambda answer: handler_refusal(answer, runtime.value),
        ),
    )


@contextmanager
def bundled_wheels(
    requirements_file: Optional[str],
    export_path: Optional[str],
    *,
    bundle: bool,
    platform: Optional[str],
    python_version: Optional[str],
) -> Iterator[tuple[Optional[str], list[tuple[Path, Optional[str]]]]]:
    """--bundle-requirements: the requirements file to record and the files to add (the
    wheels folder), downloaded for the time of the block; as given without the flag."""
    if not (bundle or platform or python_version):
        yield requirements_file, []
        return
    from .bundle import WHEELS_DIR, bundled_requirements

    if not bundle or requirements_file is None:
        raise UsageError(
            "--target-platform and --target-python go with --bundle-requirements, "
            "which needs -r/--requirements-file"
            if not bundle
            else "--bundle-requirements needs -r/--requirements-file PATH"
        )
    if is_url(requirements_file):
        raise UsageError("--bundle-requirements needs a local -r/--requirements-file")
    # Wheels are fetched beside a local output; for a bucket, in the current folder.
    local_export = export_path if export_path and not is_url(export_path) else None
    with bundled_requirements(
        Path(requirements_file),
        Path(local_export) if local_export else Path.cwd(),
        platform=platform,
        python_version=python_version,
    ) as wheels:
        yield str(wheels.requirements), [(wheels.wheels, WHEELS_DIR)] if wheels.names else []


def run_spec(
    ctx: typer.Context,
    spec_path: Path,
    name: Optional[str],
    build_all: bool,
    *,
    dry_run: bool,
    json_output: bool,
    digests: bool = True,
    verify: bool = True,
) -> None:
    """Build the archives a spec declares (NAME, --all or its only one), flags overriding it."""
    from .buildspec import load_spec, plan_archives

    overrides = given_options(ctx, SPEC_OPTIONS)
    build_spec = load_spec(spec_path, given=overrides.keys())
    plans = plan_archives(build_spec.select(name, build_all), overrides, digests=digests)
    several = build_all or len(plans) > 1
    run_plans(plans, dry_run=dry_run, json_output=json_output, verify=verify, several=several)


def run_plan(plan: "Plan", *, dry_run: bool, json_output: bool, verify: bool = True) -> None:
    """`run_plans` for one archive (--json prints one object)."""
    run_plans([plan], dry_run=dry_run, json_output=json_output, verify=verify)


def run_plans(
    plans: list["Plan"],
    *,
    dry_run: bool,
    json_output: bool,
    verify: bool = True,
    several: bool = False,
) -> None:
    """Show the plans (--dry-run), or check them all and write each with a progress bar (see
    `batch.build_all`); report each archive, as a JSON list with `several`; exit 1 (or the
    error's own code) when any was not written."""
    from . import console

    def emit(reports: list[dict[str, Any]]) -> None:
        console.print_json(reports if several else reports[0])

    if dry_run:
        if json_output:
            emit([console.plan_json(plan) for plan in plans])
        for plan in [] if json_output else plans:
            console.show_plan(plan)
        return
    from .allocator import keep_freed_buffers
    from .batch import build_all

    keep_freed_buffers()
    outcomes = build_all(
        plans,
        verify=verify,
        digest=json_output,
        progress=lambda p: console.progress_bar(p.total_size, f"writing {p.output.name}"),
    )
    for outcome in outcomes:
        console.show_outcome(outcome, json_output=json_output)
    if json_output:
        emit([console.outcome_json(outcome) for outcome in outcomes])
    failed = [o.error for o in outcomes if o.error is not None]
    if failed:
        raise typer.Exit(failed[0].exit_code)


@app.command(no_args_is_help=False)
def legacy(
    model_name: ModelNameOpt = None,
    model_path: Annotated[
        Optional[Path],
        typer.Option(
            "--model-path",
            help="The folder holding the model's files; all of it is packaged, minus exclusions.",
            show_default=False,
        ),
    ] = None,
    handler: Annotated[
        Optional[str],
        typer.Option(
            "--handler",
            help="module[:function] of the service file in the model folder, e.g. service:handle.",
            show_default=False,
        ),
    ] = None,
    runtime: Annotated[
        MmsRuntime, typer.Option("--runtime", help="Runtime of the handler.")
    ] = Runtime.PYTHON,
    export_path: Annotated[
        Optional[str],
        typer.Option(
            "--export-path",
            help="Folder to write into (created if missing), or an s3:// or gs:// URL. Default: "
            "the current folder.",
        ),
    ] = None,
    archive_format: Annotated[
        MmsFormat,
        typer.Option(
            "--archive-format",
            help="default: NAME.mar (zip); tgz: NAME.tar.gz; no-archive: a folder NAME/.",
        ),
    ] = ArchiveFormat.DEFAULT,
    force: ForceOpt = False,
    exclude: Annotated[
        Optional[list[str]],
        typer.Option(
            "--exclude",
            metavar="GLOB",
            help="Leave out what this gitignore-style pattern matches (repeatable), e.g. "
            "'*.onnx', 'data/', '/notes.txt'. A .marignore file in the model folder is read too.",
            show_default=False,
        ),
    ] = None,
    convert: Annotated[
        bool,
        typer.Option(
            "-c", "--convert", help="Not supported (ONNX to MXNet conversion needs MXNet)."
        ),
    ] = False,
    dry_run: DryRunOpt = False,
    json_output: WrittenJsonOpt = False,
    no_digests: NoDigestsOpt = False,
    no_verify: NoVerifyOpt = False,
    storage_option: StorageOpt = None,
) -> None:
    """Build an MMS model archive from a model folder (model-archiver 1.0.3's flags and output)."""
    with errors_to_exit_codes(), remote_options(storage_option):
        from .legacy import convert_unsupported, plan_legacy

        if convert:
            raise convert_unsupported()
        plan = plan_legacy(
            model_name=need(model_name, "--model-name", "Model name"),
            model_path=need(
                str(model_path) if model_path else None, "--model-path", "Model folder"
            ),
            handler=need(handler, "--handler", "Handler (module[:function])"),
            runtime=runtime.value,
            export_path=export_path,
            archive_format=archive_format.value,
            force=force,
            exclude=exclude or (),
            digests=not no_digests,
        )
        run_plan(plan, dry_run=dry_run, json_output=json_output, verify=not no_verify)


def ask(label: str, default: Optional[str], *, required: bool) -> Optional[str]:
    """One `mararch init` question; for an optional value '-' means none."""
    while True:
        if required:
            answer = prompt_line(label, default)
        else:
            suffix = " ('-' for none)" if default else " (Enter for none)"
            answer = prompt_line(label + suffix, default or "", show_default=bool(default))
            if answer in ("", "-"):
                return None
        if answer:
            return answer


@app.command(no_args_is_help=False)
def init(
    model_name: Annotated[
        Optional[str],
        typer.Option(
            "--model-name",
            help="Model name (a terminal proposes the folder's name).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        Optional[str],
        typer.Option(
            "-v", "--version", help="The model's version. \\[default: 1.0]", show_default=False
        ),
    ] = None,
    handler: Annotated[
        Optional[str],
        typer.Option(
            "--handler",
            help="A built-in handler or a handler file (a terminal proposes handler.py).",
            autocompletion=complete_handler,
            show_default=False,
        ),
    ] = None,
    serialized_file: SerializedFileOpt = None,
    model_file: ModelFileOpt = None,
    requirements_file: RequirementsFileOpt = None,
    config_file: ConfigFileOpt = None,
    export_path: Annotated[
        Optional[str],
        typer.Option(
            "--export-path", help="Where archives go. \\[default: model-store]", show_default=False
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("-f", "--force", help="Replace an existing mararch.toml.")
    ] = False,
) -> None:
    """Write a commented starter mararch.toml here; in a terminal, ask for its values.

    Defaults come from the folder: its name, the single *.pt/*.pth/*.safetensors file,
    handler.py, model.py, model-config.yaml and requirements.txt. Without a terminal the
    values come from the flags only, and --model-name and --handler are required.
    """
    with errors_to_exit_codes():
        from . import console
        from .buildspec import SPEC_FILE, detect_defaults, write_starter
        from .plans import model_name_problem

        folder = Path.cwd()
        if (folder / SPEC_FILE).exists() and not force:
            raise UsageError(
                f"{SPEC_FILE!r} exists already in {str(folder)!r}",
                hint="Edit it, or pass --force to replace it with a new starter spec.",
            )
        values: dict[str, Optional[str]] = {
            "model-name": model_name,
            "version": version,
            "handler": handler,
            "serialized-file": serialized_file,
            "model-file": model_file,
            "requirements-file": requirements_file,
            "config-file": config_file,
            "export-path": export_path,
        }
        if interactive():
            found = detect_defaults(folder)
            questions = (
                ("model-name", "Model name", True),
                ("version", "Model version", True),
                ("handler", "Handler (built-in name or .py file)", True),
                ("serialized-file", "Serialized file (weights)", False),
                ("model-file", "Model file (model class)", False),
                ("requirements-file", "Requirements file", False),
                ("config-file", "Model config file", False),
                ("export-path", "Export path", True),
            )
            fallback = {"version": "1.0", "export-path": "model-store"}
            for key, label, required in questions:
                if values[key] is not None:
                    continue
                default = found.get(key) or fallback.get(key)
                answer = ask(label, default, required=required)
                while key == "model-name" and answer and model_name_problem(answer):
                    console.warn(str(model_name_problem(answer)))
                    answer = ask(label, default, required=True)
                values[key] = answer
        else:
            for key, flag in (("model-name", "--model-name"), ("handler", "--handler")):
                if not values[key]:
                    raise missing_option(
                        flag, f"Pass {flag} VALUE, or run `mararch init` in a terminal to be asked."
                    )
        if (problem := model_name_problem(str(values["model-name"]))) is not None:
            raise UsageError(problem)
        path = write_starter(
            folder, {k: v for k, v in values.items() if v is not None}, force=force
        )
        console.say(("wrote", "green"), f" {console.clean(str(path))}; build with `mararch create`")


@app.command()
def inspect(
    archive: Annotated[
        str,
        typer.Argument(
            help="A .mar, a .tar.gz, the folder of a no-archive model, or a deployment tree "
            "(one table of its models); or the URL of an archive.",
            show_default=False,
        ),
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print the facts as JSON.")] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="List every member, however many.")
    ] = False,
    storage_option: StorageOpt = None,
    weights: Annotated[
        bool,
        typer.Option(
            "--weights",
            help="Also scan every weights member: format, tensors, parameters, dtypes, pickle "
            "imports.",
        ),
    ] = False,
) -> None:
    """Show what an archive holds: manifest summary and members, without extracting it.

    A remote .mar is read by range requests (its directory and manifest only)."""
    with errors_to_exit_codes(), remote_options(storage_option):
        from . import console
        from .errors import ArchiveError
        from .reader import open_archive
        from .summary import summarize, summary_json
        from .tree import find_tree
        from .warfile import is_workflow

        tree = None if is_url(archive) else find_tree(archive)
        if tree is not None:
            inspect_tree(tree, json_output)
            return
        with open_archive(archive) as view:
            workflow = is_workflow(view)
            if workflow:
                problems = inspect_workflow(view, json_output=json_output, show_all=show_all)
            else:
                summary = summarize(view)
                problems = summary.problems
                infos = None
                if weights:
                    from .weights import inspect_weights

                    infos = inspect_weights(view)
                if json_output:
                    data = summary_json(summary)
                    if view.transfer is not None:
                        data["transfer"] = view.transfer.to_json()
                    if infos is not None:
                        data["weights"] = [i.to_json() for i in infos]
                    console.print_json(data)
                else:
                    console.show_summary(summary, show_all=show_all)
                    if view.transfer is not None:
                        console.show_transfer(view.transfer)
                    if infos is not None:
                        console.show_weights(infos)
        if problems:
            count = len(problems)
            raise ArchiveError(
                f"{view.display!r} has {count} problem{'s' * (count > 1)}:\n"
                + "\n".join(f"  - {p}" for p in problems),
                hint="Do not deploy this archive; rebuild it "
                f"(mararch {'workflow' if workflow else 'create'}).",
            )


@app.command()
def extract(
    archive: Annotated[
        str,
        typer.Argument(
            help="A .mar, a .tar.gz, or the folder of a no-archive model; or the URL of an "
            "archive.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Optional[Path],
        typer.Option(
            "-o",
            "--output",
            help="Folder to extract into (default: ./NAME, NAME being the archive's name "
            "without .mar/.tar.gz/.tgz).",
            show_default=False,
        ),
    ] = None,
    member: Annotated[
        Optional[list[str]],
        typer.Option(
            "-m",
            "--member",
            help="Extract only this member (a folder selects everything below it); repeatable.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("-f", "--force", help="Replace an existing, non-empty destination folder."),
    ] = False,
    allow_high_ratio: Annotated[
        bool,
        typer.Option(
            "--allow-high-ratio",
            help="Extract members that expand more than 1000 times (refused as likely bombs).",
        ),
    ] = False,
    storage_option: StorageOpt = None,
) -> None:
    """Extract an archive safely: nothing outside the destination, all or nothing."""
    with errors_to_exit_codes(), remote_options(storage_option):
        from . import console
        from .extraction import extract_view
        from .reader import open_archive

        with open_archive(archive) as view:
            total = sum(m.size for m in view.members if m.is_file)
            with console.progress_bar(total, f"extracting {view.path.name}") as progress:
                result = extract_view(
                    view,
                    output,
                    members=member,
                    force=force,
                    allow_high_ratio=allow_high_ratio,
                    progress=progress,
                )
        console.show_swept(result.swept)
        console.show_extract(result)


@app.command()
def convert(
    archive: Annotated[
        Path,
        typer.Argument(help="The archive to convert: a .mar, a .tar.gz or a no-archive folder."),
    ],
    to: Annotated[
        Optional[Flavour],
        typer.Option(
            "--to", help="The server to convert for: torchserve, or mms.", show_default=False
        ),
    ] = None,
    version: Annotated[
        Optional[str],
        typer.Option(
            "--version",
            help="model.modelVersion to record. Default: the archive's, else 1.0 for TorchServe.",
            show_default=False,
        ),
    ] = None,
    runtime: Annotated[
        Optional[MmsRuntime],
        typer.Option(
            "--runtime",
            help="Runtime to record instead of the archive's, e.g. python3 for a python2 archive "
            "whose handler runs on Python 3.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Optional[Path],
        typer.Option(
            "-o",
            "--output",
            help="Where to write. Default: NAME-torchserve.mar (or NAME-mms.mar; .tar.gz or a "
            "folder for those inputs) beside the input.",
            show_default=False,
        ),
    ] = None,
    force: ForceOpt = False,
    dry_run: DryRunOpt = False,
    json_output: WrittenJsonOpt = False,
    no_verify: NoVerifyOpt = False,
    compression: Annotated[
        Optional[Compression],
        typer.Option(
            "--compression",
            help="Re-pack a .mar's members: auto, deflate or store, as `create --compression`; "
            "their bytes and digests are kept. Without --to the manifest is kept too "
            "(default output: NAME-auto.mar, NAME-store.mar, ...).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Rewrite an archive's manifest for TorchServe (or MMS), and/or re-pack a .mar's members
    (--compression); member bytes are kept as they are."""
    with errors_to_exit_codes():
        from . import console
        from .conversion import plan_convert
        from .reader import open_archive

        with open_archive(archive) as view:
            conversion = plan_convert(
                view,
                to=to.value if to is not None else None,
                compression=compression.value if compression is not None else None,
                version=version,
                runtime=runtime.value if runtime is not None else None,
                output=output,
                force=force,
            )
            for note in conversion.notes:
                console.warn(note)
            run_plan(
                conversion.plan, dry_run=dry_run, json_output=json_output, verify=not no_verify
            )


@app.command()
def verify(
    archive: Annotated[
        str,
        typer.Argument(
            help="A .mar, a .tar.gz, the folder of a no-archive model, or a deployment tree "
            "(ROOT with config/config.properties and model-store/, or a model-store folder); or "
            "the URL of an archive.",
            show_default=False,
        ),
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (keys in the docs: verify).")
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
    server: Annotated[
        Optional[Flavour],
        typer.Option(
            "--server",
            help="Check for this server. Default: the one the manifest is written for.",
            show_default=False,
        ),
    ] = None,
    signature: Annotated[
        Optional[Path],
        typer.Option(
            "--signature",
            help="OpenSSF model signature to check. \\[default: ARCHIVE.sig]",
            show_default=False,
        ),
    ] = None,
    public_key: Annotated[
        Optional[Path],
        typer.Option("--public-key", help="Check the signature with this EC public key (PEM)."),
    ] = None,
    certificate_chain: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--certificate-chain",
            help="Check a certificate signature against these trusted certificates (PEM; "
            "repeatable).",
            show_default=False,
        ),
    ] = None,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast",
            help="Do not read member data (no CRC-32/SHA-256 checks): only the directory and the "
            "small members. The default reads every member, over the network for a URL.",
        ),
    ] = False,
    storage_option: StorageOpt = None,
    model_store: Annotated[
        Optional[Path],
        typer.Option(
            "--model-store",
            help="Workflow archives (.war): the model store where each model of the dag must be, "
            "and pass verify.",
            exists=True,
            file_okay=False,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check that an archive is sound and that TorchServe (or MMS) will load it, without running
    anything from it. Exit 0 when it passes, 1 when it does not."""
    with errors_to_exit_codes(), remote_options(storage_option):
        from . import console
        from .checks import verify as verify_archive
        from .tree import find_tree, verify_tree

        trust = trust_of(signature, public_key, certificate_chain)
        tree = None if is_url(archive) else find_tree(archive)
        if tree is not None:
            report = verify_tree(tree, strict=strict)
        else:
            report = verify_archive(
                archive,
                server=server.value if server is not None else None,
                strict=strict,
                trust=trust,
                fast=fast,
                model_store=model_store,
            )
        if json_output:
            console.print_json(report.to_json())
        else:
            console.show_report(report)
            if report.transfer is not None:
                console.show_transfer(report.transfer)
    if not report.passed:
        raise typer.Exit(1)


def inspect_workflow(view: "ArchiveView", *, json_output: bool, show_all: bool) -> tuple[str, ...]:
    """`inspect` of a workflow archive; returns its problems."""
    from . import console
    from .warsummary import summarize_workflow, workflow_summary_json

    summary = summarize_workflow(view)
    if json_output:
        console.print_json(workflow_summary_json(summary))
    else:
        console.show_workflow_summary(summary, show_all=show_all)
    return summary.problems


@app.command(no_args_is_help=False)
def workflow(
    name: Annotated[
        Optional[str],
        typer.Argument(
            help="The \\[workflow.NAME] table of the build spec to build (when it declares "
            "several).",
            metavar="NAME",
            show_default=False,
        ),
    ] = None,
    workflow_name: Annotated[
        Optional[str],
        typer.Option(
            "--workflow-name", help="Workflow name; the output is NAME.war.", show_default=False
        ),
    ] = None,
    spec_file: Annotated[
        Optional[Path],
        typer.Option(
            "--spec-file", help="The workflow's YAML: its models and dag.", show_default=False
        ),
    ] = None,
    handler: Annotated[
        Optional[Path],
        typer.Option(
            "--handler",
            help="The workflow's Python file (the dag's function nodes).",
            show_default=False,
        ),
    ] = None,
    extra_files: Annotated[
        Optional[str],
        typer.Option("--extra-files", help="Comma-separated files to add at the archive root."),
    ] = None,
    export_path: Annotated[
        Optional[Path],
        typer.Option(
            "--export-path",
            help="Folder to write into (created if missing). \\[default: current folder]",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("-f", "--force", help="Overwrite an existing .war.")
    ] = False,
    dry_run: DryRunOpt = False,
    json_output: WrittenJsonOpt = False,
    no_verify: Annotated[
        bool,
        typer.Option(
            "--no-verify",
            help="Write even when the spec's checks (models, dag, function nodes) find errors.",
        ),
    ] = False,
    spec: Annotated[
        Optional[Path],
        typer.Option(
            "--spec",
            help="The build spec with \\[workflow.NAME] tables. \\[default: mararch.toml, else "
            "\\[tool.mararch] in pyproject.toml, when --workflow-name is not given]",
            show_default=False,
        ),
    ] = None,
    build_all: Annotated[
        bool, typer.Option("--all", help="Build every workflow of the build spec.")
    ] = False,
) -> None:
    """Build a workflow archive (.war) for TorchServe (torch-workflow-archiver's flags, same
    output).

    Without --workflow-name, the \\[workflow.NAME] tables of mararch.toml (or \\[tool.mararch] in
    pyproject.toml) are built; flags given override their values.
    """
    with errors_to_exit_codes():
        from .workflow import plan_workflow

        flags = {
            "workflow_name": workflow_name,
            "spec_file": spec_file,
            "handler": handler,
            "extra_files": extra_files,
            "export_path": export_path,
            "force": force or None,
        }
        given = {k: v for k, v in flags.items() if v is not None}
        spec_path = None
        if spec is not None or name is not None or build_all or workflow_name is None:
            from .buildspec import find_spec

            spec_path = find_spec(spec)
            if spec_path is None and (name is not None or build_all):
                raise UsageError(
                    f"no build spec in {str(Path.cwd())!r}",
                    hint="Write [workflow.NAME] tables in mararch.toml, or name one with --spec.",
                )
        if spec_path is not None:
            from .workflowspec import plan_workflows

            plans = plan_workflows(spec_path, name, build_all, given)
        else:
            plans = [
                plan_workflow(
                    workflow_name=need(workflow_name, "--workflow-name", "Workflow name"),
                    spec_file=need(str(spec_file or ""), "--spec-file", "Spec file (YAML)"),
                    handler=need(str(handler or ""), "--handler", "Handler (.py file)"),
                    extra_files=extra_files,
                    export_path=export_path,
                    force=force,
                )
            ]
        # Every workflow is checked before the first is written.
        run_plans(
            plans,
            dry_run=dry_run,
            json_output=json_output,
            verify=not no_verify,
            several=build_all or len(plans) > 1,
        )


def inspect_tree(tree: Any, json_output: bool) -> None:
    """inspect's table for a deployment tree; fails (exit 1) when a model would not load."""
    from . import console
    from .errors import ArchiveError
    from .tree import check_tree

    result = check_tree(tree)
    if json_output:
        console.print_json(console.tree_json(result))
    else:
        console.show_tree(result)
    failed = [
        str(r.get("marName")) for r in result.rows if r.get("status") in ("failed", "missing")
    ]
    if failed:
        raise ArchiveError(
            f"{len(failed)} model{'s' * (len(failed) > 1)} of {str(tree.root)!r} would not "
            f"load: {', '.join(failed)}",
            hint=f"Run `mararch verify {tree.root}` for the findings.",
        )


@app.command(name="deploy")
def deploy_tree(
    root: Annotated[
        str,
        typer.Argument(
            help="The tree to write: ROOT/model-store/ and ROOT/config/config.properties; "
            "a folder, or an s3:// or gs:// prefix.",
            metavar="ROOT",
            show_default=False,
        ),
    ],
    archives: Annotated[
        list[Path],
        typer.Argument(
            help="Archives (.mar, .tar.gz) and no-archive model folders.",
            metavar="ARCHIVE...",
            show_default=False,
        ),
    ],
    kserve: Annotated[
        bool,
        typer.Option(
            "--kserve",
            help="Add the settings KServe's TorchServe runtime needs (port 8085, envelope, "
            "no token auth, model API, environment overrides).",
        ),
    ] = False,
    envelope: Annotated[
        Optional[Envelope],
        typer.Option(
            "--envelope",
            help="service_envelope to write. \\[default: kserve with --kserve, else none]",
            show_default=False,
        ),
    ] = None,
    link: Annotated[
        bool,
        typer.Option(
            "--link", help="Symlink the archives into the model store instead of copying."
        ),
    ] = False,
    force: Annotated[bool, typer.Option("-f", "--force", help="Replace an existing ROOT.")] = False,
    min_workers: Annotated[
        Optional[int], typer.Option("--min-workers", help="Default minWorkers.")
    ] = None,
    max_workers: Annotated[
        Optional[int], typer.Option("--max-workers", help="Default maxWorkers.")
    ] = None,
    batch_size: Annotated[
        Optional[int], typer.Option("--batch-size", help="Default batchSize.")
    ] = None,
    max_batch_delay: Annotated[
        Optional[int], typer.Option("--max-batch-delay", help="Default maxBatchDelay (ms).")
    ] = None,
    response_timeout: Annotated[
        Optional[int], typer.Option("--response-timeout", help="Default responseTimeout (s).")
    ] = None,
    no_verify: Annotated[
        bool,
        typer.Option("--no-verify", help="Deploy archives even when verify finds errors in them."),
    ] = False,
    dry_run: DryRunOpt = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the models as JSON.")] = False,
    storage_option: StorageOpt = None,
) -> None:
    """Write a model-store tree TorchServe (or KServe's TorchServe runtime) starts from.

    Per-model workers and batching come from each archive's model-config.yaml where it sets
    them, else from the flags, else TorchServe's defaults. The highest version of a model is
    its default version. ROOT may be an s3:// or gs:// prefix: the tree is uploaded there,
    config/config.properties last.
    """
    with errors_to_exit_codes(), remote_options(storage_option):
        from . import console
        from .deploy import deploy, plan_deploy

        flags = {
            "minWorkers": min_workers,
            "maxWorkers": max_workers,
            "batchSize": batch_size,
            "maxBatchDelay": max_batch_delay,
            "responseTimeout": response_timeout,
        }
        plan = plan_deploy(
            root,
            archives,
            kserve=kserve,
            envelope=envelope.value if envelope is not None else None,
            link=link,
            force=force,
            settings={k: v for k, v in flags.items() if v is not None},
            verify=not no_verify,
        )
        if not dry_run:
            with console.deploy_progress(plan) as progress:
                deploy(plan, progress)
        if json_output:
            console.print_json(
                {
                    "root": plan.shown,
                    "written": not dry_run,
                    "config": plan.config.decode("ascii"),
                    "models": console.deploy_rows(plan),
                    "findings": [f.to_json() for f in plan.findings],
                }
            )
        else:
            console.show_deploy(plan, dry_run=dry_run)


def trust_of(
    signature: Optional[Path], public_key: Optional[Path], chain: Optional[list[Path]]
) -> Any:
    """verify's signature options as a `Trust`, or None when no signature is to be checked."""
    if public_key is not None and chain:
        raise UsageError("give --public-key or --certificate-chain, not both")
    if public_key is None and not chain:
        if signature is not None:
            raise UsageError(
                "--signature needs --public-key or --certificate-chain to be checked with"
            )
        return None
    from .signing.engine import Trust

    return Trust(signature, public_key, tuple(chain or ()))


@app.command()
def sign(
    archive: Annotated[
        Path,
        typer.Argument(
            help="A .mar, a .tar.gz, or the folder of a no-archive model.", show_default=False
        ),
    ],
    private_key: Annotated[
        Path,
        typer.Option(
            "--private-key", help="EC private key (PEM; P-256, P-384 or P-521).", show_default=False
        ),
    ],
    password_file: Annotated[
        Optional[Path],
        typer.Option(
            "--password-file", help="File whose first line is the private key's password."
        ),
    ] = None,
    certificate: Annotated[
        Optional[Path],
        typer.Option(
            "--certificate", help="Signing certificate for the key (PEM): certificate mode."
        ),
    ] = None,
    certificate_chain: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--certificate-chain",
            help="Certificates between the signing certificate and the root (PEM; repeatable).",
            show_default=False,
        ),
    ] = None,
    signature: Annotated[
        Optional[Path],
        typer.Option(
            "--signature",
            help="Where to write the signature. \\[default: ARCHIVE.sig beside it]",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print what was signed as JSON.")
    ] = False,
) -> None:
    """Sign the model in an archive (OpenSSF model signing, offline); the archive is not changed.

    The signature covers every member as a file, so it stays valid in any container (.mar,
    .tar.gz, folder) and verifies with `model_signing verify` on the extracted folder.
    """
    with errors_to_exit_codes():
        from . import console
        from .reader import open_archive
        from .signing.engine import sign_view, signer_for

        signer = signer_for(
            private_key,
            password_file=password_file,
            certificate=certificate,
            certificate_chain=certificate_chain or (),
        )
        with open_archive(archive) as view:
            total = sum(m.size for m in view.members if m.is_file)
            with console.progress_bar(total, f"signing {archive.name}") as progress:
                result = sign_view(view, signer, signature, progress)
        if json_output:
            console.print_json(console.signature_json(result))
        else:
            console.show_signature(result)


def _terminate(signum: int, frame: object) -> None:
    # Turn SIGTERM into an exception so that temporary outputs are cleaned up on the way out.
    raise KeyboardInterrupt


def run() -> None:
    """Entry point of the console script."""
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _terminate)
    app(prog_name="mararch")


__all__ = ["EXIT_USAGE", "app", "run"]
