"""Build specs: the options of `create` and `legacy` kept in `mararch.toml` or `[tool.mararch]`.

A spec is read and validated as a whole (every problem collected, with file, table and key) before
anything is planned; each archive then becomes the same `Plan` that the flags make, through
`plan_create` or `plan_legacy`. Keys are spelled like the flags (`model-name`); the snake_case
spelling (`model_name`) is accepted too. Relative paths are relative to the spec file's folder.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from .errors import MararchError, RequestError, UsageError, problem_list
from .handlers import BUILTIN_HANDLERS, LSP_BUILTIN_HANDLERS
from .legacy import LEGACY_FORMATS
from .manifest import Flavour
from .plans import (
    MMS_RUNTIMES,
    TORCHSERVE_RUNTIMES,
    ArchiveFormat,
    Compression,
    PathLike,
    Plan,
    Runtime,
    is_url,
    valid_model_name,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.9 and 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]


SPEC_FILE = "mararch.toml"
PYPROJECT = "pyproject.toml"
WORKFLOW_TABLE = "workflow"


#: How a spec's `kind` key names each server (docs/build-specs.md): MMS archives are the kind
#: `mararch legacy` builds, so the spec spells MMS "legacy".
KIND_NAMES: dict[Flavour, str] = {Flavour.TORCHSERVE: "torchserve", Flavour.MMS: "legacy"}
_KIND_BY_NAME = {name: flavour for flavour, name in KIND_NAMES.items()}


class BuildSpecError(UsageError):
    """A spec file is unreadable or invalid; `problems` lists every problem found (exit 2)."""

    def __init__(self, path: str, problems: Sequence[str], *, hint: str | None = None) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(
            problem_list(self.problems, source=path),
            hint=hint
            or "Fix the spec; every key is described on the Build specs page of mararch's docs.",
        )


# -- the schema --------------------------------------------------------------------------------


#: What a key's value is; each type has its validator (_VALIDATORS).
KeyType = Literal[
    "string", "path", "paths", "handler", "choice", "bool", "level", "strings", "table", "files"
]


@dataclass(frozen=True)
class Key:
    """One key of an archive table: its type, its choices, and the kinds it applies to."""

    name: str
    type: KeyType
    kinds: frozenset[Flavour]
    choices: tuple[str, ...] = ()
    flag: str = ""

    @property
    def param(self) -> str:
        """The keyword argument of plan_create / plan_legacy (and of the CLI's option)."""
        return self.name.replace("-", "_")


BOTH = frozenset(Flavour)
TS = frozenset({Flavour.TORCHSERVE})
MMS = frozenset({Flavour.MMS})

KEYS: dict[str, Key] = {
    k.name: k
    for k in (
        Key("kind", "choice", BOTH, tuple(KIND_NAMES.values())),
        Key("model-name", "string", BOTH),
        Key("version", "string", TS, flag="-v/--version"),
        Key("handler", "handler", BOTH),
        Key("serialized-file", "path", TS),
        Key("model-file", "path", TS),
        Key("extra-files", "paths", TS),
        Key("runtime", "choice", BOTH),
        Key("export-path", "path", BOTH),
        Key("archive-format", "choice", BOTH),
        Key("force", "bool", BOTH, flag="-f/--force"),
        Key("requirements-file", "path", TS, flag="-r/--requirements-file"),
        Key("config-file", "path", TS, flag="-c/--config-file"),
        Key("compression", "choice", TS, tuple(c.value for c in Compression)),
        Key("level", "level", TS),
        Key("exclude", "strings", BOTH),
        Key("files", "files", TS),
        Key("config", "table", TS),
        Key("model-path", "path", MMS),
        Key("sign-key", "path", BOTH),
        Key("sign-password-file", "path", BOTH),
    )
}
#: Choices that differ between the two kinds.
KIND_CHOICES: dict[tuple[str, Flavour], tuple[str, ...]] = {
    ("runtime", Flavour.TORCHSERVE): tuple(r.value for r in Runtime if r in TORCHSERVE_RUNTIMES),
    ("runtime", Flavour.MMS): tuple(r.value for r in Runtime if r in MMS_RUNTIMES),
    ("archive-format", Flavour.TORCHSERVE): tuple(f.value for f in ArchiveFormat),
    ("archive-format", Flavour.MMS): tuple(f.value for f in ArchiveFormat if f in LEGACY_FORMATS),
}
REQUIRED: dict[Flavour, tuple[str, ...]] = {
    Flavour.TORCHSERVE: ("model-name", "version", "handler"),
    Flavour.MMS: ("model-name", "model-path", "handler"),
}
#: Defaults that differ from the flags': a spec writes next to itself unless told otherwise.
EXAMPLES = {
    "version": 'version = "1.0"',
    "model-name": 'model-name = "resnet"',
    "handler": 'handler = "handler.py"',
    "model-path": 'model-path = "model/"',
    "extra-files": 'extra-files = ["index_to_name.json", "assets/"]',
    "exclude": 'exclude = ["*.onnx", "data/"]',
    "files": 'files = [{ src = "tokenizer/", dest = "tokenizer/" }]',
    "level": "level = 9",
    "force": "force = true",
}


def flag_of(key: str) -> str:
    return KEYS[key].flag or f"--{key}"


# -- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveSpec:
    """One archive of a spec: its name (to select it), server (its `kind`), table and validated
    options."""

    name: str
    kind: Flavour
    table: str
    #: Keyword arguments of plan_create / plan_legacy, paths already resolved.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BuildSpec:
    """A validated spec file: where it is, and its archives in the order declared."""

    path: Path
    archives: tuple[ArchiveSpec, ...]

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.archives]

    def select(self, name: str | None, build_all: bool) -> list[ArchiveSpec]:
        """The archives a command line asks for: NAME, --all, or the only one."""
        listed = ", ".join(self.names)
        if name is not None and build_all:
            raise UsageError("give either an archive NAME or --all, not both")
        if build_all:
            return list(self.archives)
        if name is not None:
            for archive in self.archives:
                if archive.name == name:
                    return [archive]
            close = difflib.get_close_matches(name, self.names, n=1)
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(
                f"{self.path} declares no archive named {name!r}{guess}; its archives: {listed}",
                hint="Name one of them, or build them all with --all.",
            )
        if len(self.archives) == 1:
            return list(self.archives)
        raise UsageError(
            f"{self.path} declares {len(self.archives)} archives ({listed}): "
            "say which one to build",
            hint=f"Run `mararch create NAME` (e.g. `mararch create {self.names[0]}`), "
            "or `mararch create --all` to build them all.",
        )


def find_spec(explicit: PathLike | None = None) -> Path | None:
    """The spec to use: `explicit`, else `mararch.toml`, else a `pyproject.toml` with
    `[tool.mararch]` in the working directory (relative paths, as shown in messages); None when
    there is none."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            what = (
                "is a folder"
                if path.is_dir()
                else "is not a regular file"
                if path.exists()
                else "does not exist"
            )
            raise UsageError(
                f"build spec {str(path)!r} {what}",
                hint="Give --spec the path of a mararch.toml (or a pyproject.toml).",
            )
        return path
    candidate = Path(SPEC_FILE)
    if candidate.is_file():
        return candidate
    pyproject = Path(PYPROJECT)
    if pyproject.is_file():
        data = read_toml(pyproject, pyproject)
        if isinstance(data.get("tool"), dict) and "mararch" in data["tool"]:
            return pyproject
    return None


def read_toml(path: Path, shown: Path) -> dict[str, Any]:
    """A TOML file's tables; bad syntax is a BuildSpecError naming `shown`."""
    try:
        with path.open("rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
            return data
    except tomllib.TOMLDecodeError as exc:
        raise BuildSpecError(
            str(shown),
            [f"{shown}: invalid TOML: {exc}"],
            hint="Fix the syntax at that line (https://toml.io).",
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read {str(shown)!r}: {exc.strerror}") from None


def _type_name(value: object) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)


class _TableParser:
    """Checks the archive tables of one spec file into ArchiveSpecs, collecting every problem as
    `file [table]: ...`."""

    def __init__(self, shown: str, base: Path, given: Collection[str]) -> None:
        self.shown = shown
        self.base = base
        self.given = given
        self.problems: list[str] = []

    def problem(self, table: str, message: str) -> None:
        self.problems.append(f"{self.shown} {table}: {message}")

    def path(self, value: str) -> Path | str:
        if is_url(value):
            return value  # a URL (s3://, gs://, http(s)://) is taken as it is
        path = Path(value).expanduser()
        # Lexically, as a shell's `cd` does: '../../model-store' reads better in messages.
        return path if path.is_absolute() else Path(os.path.normpath(self.base / path))

    def handler(self, value: str) -> str:
        # A built-in name stays a name; anything else names a file next to the spec.
        if value in BUILTIN_HANDLERS or value in LSP_BUILTIN_HANDLERS:
            return value
        return str(self.path(value))

    def archives(self, data: Mapping[str, Any], top_table: str, prefix: str) -> list[ArchiveSpec]:
        """What the spec's table declares: [archive.NAME] tables, [[archive]] entries, or one
        archive (its own keys); `prefix` is `tool.mararch.` in a pyproject.toml."""
        if "archive" not in data:
            return [self.archive(top_table, data, None)] if data else []
        others = [k for k in data if k != "archive"]
        if others:
            listed = ", ".join(repr(k) for k in others)
            self.problem(
                top_table,
                f"keys outside the archive tables ({listed}): with [archive...] tables, "
                "every key belongs in one of them",
            )
        declared = data["archive"]
        if isinstance(declared, list):
            return self.archive_entries(declared, prefix)
        if isinstance(declared, dict) and all(isinstance(v, dict) for v in declared.values()):
            return [
                self.archive(f"[{prefix}archive.{toml_key(name)}]", table, name)
                for name, table in declared.items()
            ]
        self.problem(
            f"[{prefix}archive]",
            "must hold one table per archive: [archive.NAME] tables or [[archive]] "
            "entries (a lone [archive] table with options is neither)",
        )
        return []

    def archive_entries(self, declared: list[Any], prefix: str) -> list[ArchiveSpec]:
        """The archives of `[[archive]]` entries, unnamed (their model-name names them)."""
        archives: list[ArchiveSpec] = []
        for number, table in enumerate(declared, start=1):
            where = f"[[{prefix}archive]] #{number}"
            if not isinstance(table, dict):
                self.problem(where, "must be a table")
                continue
            archives.append(self.archive(where, table, None))
        return archives

    def unique_names(self, archives: Sequence[ArchiveSpec]) -> None:
        """An archive name used twice is a problem: NAME selects one archive."""
        seen: dict[str, str] = {}
        for archive in archives:
            if archive.name and archive.name in seen:
                self.problem(
                    archive.table,
                    f"archive name {archive.name!r} is used twice (also in {seen[archive.name]}); "
                    "use [archive.NAME] tables with distinct names to build one model twice",
                )
            seen.setdefault(archive.name, archive.table)

    def normalized(self, table: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Keys in kebab-case; unknown keys and a key given in both spellings are problems."""
        out: dict[str, Any] = {}
        for key, value in raw.items():
            name = key.replace("_", "-")
            if name not in KEYS:
                self.problem(table, unknown_key(key, KEYS))
                continue
            if name in out:
                self.problem(table, f"{name!r} is given twice (as {name!r} and {key!r})")
                continue
            out[name] = value
        return out

    def archive(self, table: str, raw: Mapping[str, Any], default_name: str | None) -> ArchiveSpec:
        """One archive table checked into an ArchiveSpec; its problems are collected."""
        values = self.normalized(table, raw)
        kind = self.kind(table, values)
        options = self.options(table, values, kind or Flavour.TORCHSERVE)
        if "model_name" not in options and default_name is not None:
            options["model_name"] = default_name
        # Like every relative path of a spec, the default output folder is the spec's own.
        options.setdefault("export_path", self.base)
        if kind is not None:
            self.required(table, values, options, kind)
        if "config" in options and "config_file" in options:
            self.problem(
                table,
                "'config' and 'config-file' both give the model config; keep one "
                "(the inline table or the file)",
            )
        name = default_name or str(options.get("model_name", ""))
        return ArchiveSpec(name, kind or Flavour.TORCHSERVE, table, options)

    def kind(self, table: str, values: Mapping[str, Any]) -> Flavour | None:
        """The table's `kind` (TorchServe when absent); None after a problem."""
        raw_kind = values.get("kind", KIND_NAMES[Flavour.TORCHSERVE])
        if isinstance(raw_kind, str) and raw_kind in _KIND_BY_NAME:
            return _KIND_BY_NAME[raw_kind]
        self.problem(
            table,
            f"invalid kind {raw_kind!r}: choose 'torchserve' (the default, as "
            "`mararch create`) or 'legacy' (MMS, as `mararch legacy`)",
        )
        return None

    def options(self, table: str, values: Mapping[str, Any], kind: Flavour) -> dict[str, Any]:
        """The planner's keyword arguments: every key but `kind`, if it applies to the kind and
        its value is valid."""
        options: dict[str, Any] = {}
        for name, value in values.items():
            key = KEYS[name]
            if name == "kind":
                continue
            if kind not in key.kinds:
                where = "TorchServe archives" if kind is Flavour.MMS else 'kind = "legacy"'
                self.problem(
                    table,
                    f"{name!r} does not apply to kind = {KIND_NAMES[kind]!r} (only to {where})",
                )
                continue
            checked = self.value(table, key, kind, value)
            if checked is not None:
                options[key.param] = checked
        return options

    def required(
        self, table: str, values: Mapping[str, Any], options: Mapping[str, Any], kind: Flavour
    ) -> None:
        """A required key that neither the table nor the command line gives is a problem."""
        for name in REQUIRED[kind]:
            # A key present with a bad value has its own problem already.
            param = KEYS[name].param
            if name not in values and param not in options and param not in self.given:
                example = EXAMPLES.get(name, f'{name} = "..."')
                self.problem(table, f"missing required key {name!r} (e.g. {example})")

    def value(self, table: str, key: Key, kind: Flavour, value: Any) -> Any:
        """A key's value checked and converted; None (after a problem) when it is invalid."""
        return _VALIDATORS[key.type](_Field(self, table, key, kind, value))


@dataclass(frozen=True)
class _Field:
    """One key's value in one archive table, as its type's validator sees it."""

    parser: _TableParser
    table: str
    key: Key
    kind: Flavour
    value: Any

    def problem(self, message: str) -> None:
        self.parser.problem(self.table, message)

    def wrong(self, expected: str) -> None:
        """The problem of a value of the wrong type: what the key expects, what it was given."""
        shown = repr(self.value) if not isinstance(self.value, (dict, list)) else ""
        got = f"{_type_name(self.value)}" + (f" ({shown})" if shown else "")
        self.problem(f"{self.key.name!r} must be {expected}, not {got}")


# Each validator returns the value to plan with, or None after reporting a problem.


def _string(f: _Field) -> str | None:
    """A non-empty string; every string-valued type checks this first."""
    if not isinstance(f.value, str):
        example = EXAMPLES.get(f.key.name)
        f.wrong("a string" + (f" (e.g. {example})" if example else ""))
        return None
    if not f.value.strip():
        f.problem(f"{f.key.name!r} is empty")
        return None
    return f.value


def _path(f: _Field) -> Path | str | None:
    value = _string(f)
    return None if value is None else f.parser.path(value)


def _handler(f: _Field) -> str | None:
    value = _string(f)
    # MMS's handler is `module:function` inside the model folder: nothing to resolve.
    if value is None or f.kind is not Flavour.TORCHSERVE:
        return value
    return f.parser.handler(value)


def _choice(f: _Field) -> str | None:
    value = _string(f)
    choices = KIND_CHOICES.get((f.key.name, f.kind), f.key.choices)
    if value is None or value in choices:
        return value
    listed = ", ".join(repr(c) for c in choices)
    f.problem(f"invalid {f.key.name} {value!r}: choose one of {listed}")
    return None


def _bool(f: _Field) -> bool | None:
    if isinstance(f.value, bool):
        return f.value
    f.wrong("true or false")
    return None


def _level(f: _Field) -> int | None:
    value = f.value
    if not isinstance(value, int) or isinstance(value, bool):
        f.wrong("a whole number from 0 to 9")
        return None
    if not 0 <= value <= 9:
        f.problem(f"invalid {f.key.name} {value}: choose a whole number from 0 to 9")
        return None
    return value


def _strings(f: _Field) -> list[str] | None:
    if isinstance(f.value, list) and all(isinstance(v, str) for v in f.value):
        return list(f.value)
    f.wrong(f"an array of strings (e.g. {EXAMPLES[f.key.name]})")
    return None


def _paths(f: _Field) -> list[str] | None:
    values = _strings(f)
    return None if values is None else [str(f.parser.path(v)) for v in values]


def _table(f: _Field) -> dict[str, Any] | None:
    if isinstance(f.value, dict):
        return f.value
    f.wrong("a table (e.g. [archive.NAME.config] with minWorkers = 1)")
    return None


def _files(f: _Field) -> list[tuple[Path, str | None]] | None:
    """`files`: an array of `{ src, dest }` tables; every item's problems are reported."""
    if not isinstance(f.value, list):
        f.problem(f"'files' must be an array of tables (e.g. {EXAMPLES['files']})")
        return None
    items = [_files_item(f, number, item) for number, item in enumerate(f.value, start=1)]
    checked = [item for item in items if item is not None]
    return checked if len(checked) == len(items) else None


def _files_item(f: _Field, number: int, item: Any) -> tuple[Path, str | None] | None:
    """One `files` item: a table with a local `src` and an optional safe `dest`."""
    where = f"'files' item {number}"
    if not isinstance(item, dict):
        f.problem(
            f'{where} must be a table like {{ src = "...", dest = "..." }}, not {_type_name(item)}'
        )
        return None
    extras = sorted(set(item) - {"src", "dest"})
    for extra in extras:
        f.problem(f"{where}: {unknown_key(extra, {'src': 0, 'dest': 0})}")
    src: Any = item.get("src")
    dest: Any = item.get("dest")
    problem = _files_item_problem(src, dest)
    if problem is None:
        resolved = f.parser.path(src)
        if isinstance(resolved, Path):
            return None if extras else (resolved, dest)
        problem = "'src' is a URL; put single objects in extra-files"
    f.problem(f"{where}: {problem}")
    return None


def _files_item_problem(src: object, dest: object) -> str | None:
    """What is wrong with a `files` item's `src` and `dest` values, if anything."""
    from .sources import member_dest_problem

    if not isinstance(src, str) or not src.strip():
        return "'src' must be a non-empty string (a file or folder)"
    if dest is None:
        return None
    if not isinstance(dest, str):
        return f"'dest' must be a string, not {_type_name(dest)}"
    return member_dest_problem(dest)


#: The validator of each `Key.type`.
_VALIDATORS: dict[KeyType, Callable[[_Field], Any]] = {
    "string": _string,
    "path": _path,
    "paths": _paths,
    "handler": _handler,
    "choice": _choice,
    "bool": _bool,
    "level": _level,
    "strings": _strings,
    "table": _table,
    "files": _files,
}


def unknown_key(key: str, known: Mapping[str, object]) -> str:
    """The problem of a key no table knows, with the closest known key as a suggestion."""
    close = difflib.get_close_matches(key.replace("_", "-"), list(known), n=1, cutoff=0.6)
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{guess}"


def load_spec(path: PathLike, *, given: Collection[str] = ()) -> BuildSpec:
    """Read and validate a spec file; `given` are options set on the command line (so a
    required key they supply may be absent). Raises BuildSpecError listing every problem."""
    path = Path(path)
    shown = str(path)
    data, top_table, prefix = _spec_table(path, read_toml(path, path))
    # [workflow.NAME] tables are `mararch workflow`'s (workflowspec.py).
    workflows = WORKFLOW_TABLE in data
    data = {k: v for k, v in data.items() if k != WORKFLOW_TABLE}
    parser = _TableParser(shown, Path(os.path.abspath(path)).parent, given)
    archives = parser.archives(data, top_table, prefix)
    if not archives and not parser.problems:
        parser.problem(
            top_table,
            "declares no archive: add model-name, version and handler, or [archive.NAME] tables"
            + (" ([workflow.NAME] tables are built by `mararch workflow`)" if workflows else ""),
        )
    parser.unique_names(archives)
    if parser.problems:
        raise BuildSpecError(shown, parser.problems)
    return BuildSpec(path, tuple(archives))


def _spec_table(path: Path, data: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """The table that holds the spec (a mararch.toml's top level, a pyproject.toml's
    [tool.mararch]), the name problems give it, and the prefix of its sub-tables' names."""
    if path.name != PYPROJECT:
        return data, "(top level)", ""
    shown = str(path)
    tool = data.get("tool")
    if not isinstance(tool, dict) or "mararch" not in tool:
        raise BuildSpecError(shown, [f"{shown} has no [tool.mararch] table"])
    if not isinstance(tool["mararch"], dict):
        raise BuildSpecError(shown, [f"{shown}: tool.mararch must be a table"])
    return tool["mararch"], "[tool.mararch]", "tool.mararch."


def toml_key(name: str) -> str:
    """`name` as a TOML key: bare when it may be, else quoted."""
    bare = name and all(c.isalnum() or c in "-_" for c in name)
    return name if bare else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- planning ----------------------------------------------------------------------------------


def plan_archive(
    archive: ArchiveSpec, overrides: Mapping[str, Any] | None = None, *, digests: bool = True
) -> Plan:
    """The plan of one archive, `overrides` (flag values by keyword) replacing the spec's;
    `digests=False` is --no-digests."""
    options = dict(archive.options)
    options["digests"] = digests
    for param, value in (overrides or {}).items():
        key = KEYS.get(param.replace("_", "-"))
        if key is None or archive.kind not in key.kinds:
            flag = flag_of(key.name) if key is not None else f"--{param.replace('_', '-')}"
            raise UsageError(
                f"{flag} does not apply to the legacy (MMS) archive {archive.name!r}",
                hint="Leave the flag out, or build the TorchServe archives only, by NAME.",
            )
        options[param] = value
        if param == "config_file":
            # A config file named on the command line replaces the spec's inline config.
            options.pop("config", None)
    # Signing happens after the plan is written: the plan carries the key, the planners do not.
    signing = {k: options.pop(k) for k in ("sign_key", "sign_password_file") if k in options}
    if archive.kind is Flavour.MMS:
        from .legacy import plan_legacy

        plan = plan_legacy(**options)
    else:
        from .builder import plan_create

        plan = plan_create(
            model_name=options.pop("model_name", None),
            version=options.pop("version", None),
            handler=options.pop("handler", None),
            **options,
        )
    return replace(plan, **signing) if signing else plan


def plan_archives(
    archives: Sequence[ArchiveSpec],
    overrides: Mapping[str, Any] | None = None,
    *,
    digests: bool = True,
) -> list[Plan]:
    """Plan every archive before anything is written; all failures are reported together."""
    if overrides and "model_name" in overrides and len(archives) > 1:
        raise UsageError(
            "--model-name would give several archives the same name",
            hint="Build one archive (mararch create NAME) to rename it from the command line.",
        )
    plans: list[Plan] = []
    errors: list[tuple[ArchiveSpec, MararchError]] = []
    for archive in archives:
        try:
            plans.append(plan_archive(archive, overrides, digests=digests))
        except MararchError as exc:
            errors.append((archive, exc))
    if errors:
        raise _planning_failed(errors, alone=len(archives) == 1)
    _check_distinct_outputs(archives, plans)
    return plans


def _planning_failed(
    errors: Sequence[tuple[ArchiveSpec, MararchError]], alone: bool
) -> MararchError:
    """The one error for archives that could not be planned: a lone archive's own, or a list
    naming each archive (a usage error when every failure is one)."""
    if alone:
        return errors[0][1]
    lines = [f"archive {a.name!r}: {exc.message}" for a, exc in errors]
    if all(isinstance(exc, UsageError) for _, exc in errors):
        return UsageError("\n".join(lines))
    return RequestError(lines, hint="Nothing was written.")


def _check_distinct_outputs(archives: Sequence[ArchiveSpec], plans: Sequence[Plan]) -> None:
    """Two archives that would write the same file (or object) are a usage error."""
    outputs: dict[Path | str, str] = {}
    for archive, plan in zip(archives, plans):
        out: Path | str = Path(os.path.abspath(plan.output))
        if plan.export_url is not None:
            out = f"{plan.export_url.rstrip('/')}/{plan.output.name}"
        if out in outputs:
            raise UsageError(
                f"archives {outputs[out]!r} and {archive.name!r} would both write {str(out)!r}",
                hint="Give them different model-name, export-path or archive-format values.",
            )
        outputs[out] = archive.name


# -- mararch init ------------------------------------------------------------------------------

WEIGHT_SUFFIXES = (".pt", ".pth", ".safetensors")


def detect_defaults(folder: Path) -> dict[str, str]:
    """Values `mararch init` can propose from what the folder holds."""
    found: dict[str, str] = {}
    name = folder.resolve().name
    if name and valid_model_name(name):
        found["model-name"] = name
    weights = sorted(
        p.name for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES
    )
    if len(weights) == 1:
        found["serialized-file"] = weights[0]
    for key, filename in (
        ("handler", "handler.py"),
        ("model-file", "model.py"),
        ("config-file", "model-config.yaml"),
        ("requirements-file", "requirements.txt"),
    ):
        if (folder / filename).is_file():
            found[key] = filename
    return found


def _toml_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


STARTER_OPTIONAL = (
    ("serialized-file", "the weights: a state_dict, TorchScript or ONNX file"),
    ("model-file", "the Python file with the model class (eager mode)"),
    ("requirements-file", "the model's own requirements.txt"),
    ("config-file", "TorchServe's model-config.yaml (or an inline [archive.NAME.config] table)"),
)


def starter_spec(values: Mapping[str, str]) -> str:
    """A commented `mararch.toml` for one TorchServe archive with `values` filled in."""
    name = values["model-name"]
    lines = [
        "# mararch build spec: `mararch create` builds what this file declares.",
        "# Every key is a flag of `mararch create` (see Build specs in mararch's docs);",
        "# relative paths are relative to this file's folder. Flags given on the command",
        "# line override these values for one run.",
        "",
        f"[archive.{toml_key(name)}]",
        f"model-name = {_toml_str(name)}",
        f"version = {_toml_str(values.get('version') or '1.0')}",
        "# a built-in handler (image_classifier, ...) or your handler file",
        f"handler = {_toml_str(values['handler'])}",
    ]
    for key, comment in STARTER_OPTIONAL:
        lines.append(f"# {comment}")
        value = values.get(key)
        lines.append(f"{key} = {_toml_str(value)}" if value else f'# {key} = "..."')
    lines += [
        "# files packaged at the archive root (folders: their contents)",
        '# extra-files = ["index_to_name.json"]',
        "# files and folders packaged where you say, structure kept",
        '# files = [{ src = "tokenizer/", dest = "tokenizer/" }]',
        "# gitignore-style patterns left out of extra-files and files",
        '# exclude = ["*.onnx"]',
        "# where to write (default: this folder) and in which format",
        f"export-path = {_toml_str(values.get('export-path') or 'model-store')}",
        '# archive-format = "default"   # zip-store, tgz, no-archive',
        "# overwrite an existing archive",
        "force = true",
        "",
    ]
    return "\n".join(lines)


def write_starter(folder: Path, values: Mapping[str, str], *, force: bool = False) -> Path:
    """Write `folder/mararch.toml` atomically; refuse to replace one unless `force`."""
    from .errors import OutputError

    target = folder / SPEC_FILE
    if target.exists() and not force:
        raise OutputError(
            f"{str(target)!r} exists already",
            path=str(target),
            hint="Edit it, or pass --force to replace it with a new starter spec.",
        )
    from .output import atomic_output

    with atomic_output(target, is_dir=False, force=True) as tmp:
        tmp.write_text(starter_spec(values), encoding="utf-8")
        # Checked before it replaces anything: the starter must itself be a valid spec.
        load_spec(tmp)
    return target


__all__ = [
    "KIND_NAMES",
    "ArchiveSpec",
    "BuildSpec",
    "BuildSpecError",
    "detect_defaults",
    "find_spec",
    "load_spec",
    "plan_archive",
    "plan_archives",
    "read_toml",
    "starter_spec",
    "toml_key",
    "unknown_key",
    "write_starter",
]
