"""`verify`'s rules: everything that makes TorchServe or MMS refuse or misload an archive, plus the
archive's own integrity, as findings (severity, stable code, member, message).

Every check starts from the one reader view (`reader.open_archive`); nothing from the archive is
imported or run: handlers are parsed with `ast`, configs with a bounded safe YAML loader. The
checks that apply to what is about to be written (manifest, handler, model-config.yaml,
requirements) also run on a build plan, before `create`, `legacy` and `convert` write anything.
"""

from __future__ import annotations

import ast
import hashlib
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from . import digests as digests_mod
from . import modelconfig
from . import zipformat as zf
from .bombs import RATIO_LIMIT, Expansion, likely_bombs
from .errors import ArchiveError, Finding, Severity, UsageError
from .handlers import (
    BUILTIN_HANDLERS,
    LSP_BUILTIN_HANDLERS,
    HandlerOrigin,
    handler_origin,
    module_names,
    split_function,
)
from .loadability import weights_findings
from .manifest import FILE_KEYS, Flavour, detect_flavour
from .names import member_name_problem, parent_conflicts
from .plans import (
    MANIFEST_NAME,
    MMS_RUNTIMES,
    TORCHSERVE_RUNTIMES,
    WAR_MANIFEST_NAME,
    PathLike,
    Plan,
    Runtime,
    is_url,
    model_name_problem,
    parse_enum,
)
from .reader import (
    MAX_MANIFEST_SIZE,
    ArchiveView,
    Container,
    Member,
    MemberKind,
    open_archive,
    parse_manifest,
)
from .timetoserve import slow_inflate_findings
from .warfile import is_workflow, spec_findings, workflow_findings
from .weights import WeightsInfo, scan_entry, scan_member, scannable

if TYPE_CHECKING:
    from .signing.engine import Trust
    from .signing.statement import SignedModel

#: Deeper JSON than this in a manifest is refused (a real one is 2 levels deep).
MAX_MANIFEST_DEPTH = 32
#: Handler files larger than this are not parsed (the entry point is then not checked).
MAX_HANDLER_SIZE = 8 << 20
#: A requirements file larger than this is refused (a real one is a few KiB).
MAX_REQUIREMENTS_SIZE = 1 << 20
#: The integrity pass keeps members up to this size (the largest a later check reads), for the
#: later checks: no second pass over the archive.
MAX_CACHED_MEMBER = MAX_HANDLER_SIZE
#: What the integrity pass keeps in all, at most.
CACHE_BUDGET = 64 << 20
#: The zip compression methods Java's java.util.zip reads (TorchServe and MMS unzip with it).
ZIP_METHODS_JAVA_READS = ("stored", "deflated")

#: A function that reads a member's bytes by name (at most `limit` of them); None when the member
#: is absent, larger than `limit` or cannot be read (reported elsewhere).
ReadMember = Callable[[str, int], Optional[bytes]]


def _error(code: str, message: str, member: str | None = None) -> Finding:
    return Finding(Severity.ERROR, code, message, member)


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


class Verdict(str, Enum):
    """`Report.status`: verify's overall result (its JSON "status")."""

    PASSED = "passed"
    PASSED_WITH_WARNINGS = "passed-with-warnings"
    FAILED = "failed"


@dataclass
class Report:
    """The result of `verify`: every finding, and whether the archive passed."""

    path: str
    container: Container | None
    server: Flavour | None
    findings: list[Finding] = field(default_factory=list)
    strict: bool = False
    #: A remote archive's `remote_read.Transfer`: what was fetched to check it.
    transfer: Any = None

    def _of(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity is severity]

    @property
    def errors(self) -> list[Finding]:
        return self._of(Severity.ERROR)

    @property
    def warnings(self) -> list[Finding]:
        return self._of(Severity.WARNING)

    @property
    def infos(self) -> list[Finding]:
        return self._of(Severity.INFO)

    @property
    def passed(self) -> bool:
        """No errors, and no warnings either with `strict`."""
        return not self.errors and not (self.strict and self.warnings)

    @property
    def status(self) -> Verdict:
        if not self.passed:
            return Verdict.FAILED
        return Verdict.PASSED_WITH_WARNINGS if self.warnings else Verdict.PASSED

    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form (keys documented in docs/verify.md)."""
        return {
            "path": self.path,
            "container": self.container.value if self.container is not None else None,
            "server": self.server.value if self.server is not None else None,
            "strict": self.strict,
            "passed": self.passed,
            "status": self.status.value,
            "counts": {
                "error": len(self.errors),
                "warning": len(self.warnings),
                "info": len(self.infos),
            },
            "findings": [f.to_json() for f in self.findings],
            **({"transfer": self.transfer.to_json()} if self.transfer is not None else {}),
        }


# ---------------------------------------------------------------------------------------------
# container
# ---------------------------------------------------------------------------------------------


def container_findings(view: ArchiveView) -> list[Finding]:
    """Names, kinds, methods and flags of every member, from the listing alone (no data read)."""
    out: list[Finding] = []
    seen: dict[str, Member] = {}
    folded: dict[str, Member] = {}
    for m in view.members:
        reason = member_name_problem(m)
        if reason is not None:
            out.append(_error("unsafe-name", f"unsafe member name {m.name!r}: {reason}", m.name))
        out += _kind_findings(m, in_folder=view.container is Container.FOLDER)
        if view.container is Container.ZIP and m.is_file:
            out += _zip_entry_findings(m)
        out += _repeat_findings(m, seen, folded)
    for m, parent in parent_conflicts(seen):
        out.append(
            _error(
                "path-conflict",
                f"{parent.name!r} is a {parent.kind.value} but this member needs it to be a folder",
                m.name,
            )
        )
    return out


def _kind_findings(m: Member, *, in_folder: bool) -> list[Finding]:
    """Links and special files: a server cannot unpack them (a folder model keeps its links)."""
    if m.kind in (MemberKind.SYMLINK, MemberKind.HARDLINK):
        target = f" -> {m.link_target!r}" if m.link_target else ""
        if in_folder:
            return [
                Finding(
                    Severity.WARNING,
                    "link-member",
                    f"{m.kind.value}{target}: TorchServe follows it in place, but it does "
                    "not survive packaging or copying",
                    m.name,
                )
            ]
        return [
            _error(
                "link-member",
                f"{m.kind.value}{target}: servers do not unpack links safely; "
                "package the file itself",
                m.name,
            )
        ]
    if m.kind is MemberKind.SPECIAL:
        return [
            _error(
                "special-member",
                "a device, FIFO, socket or other special file (never read by mararch)",
                m.name,
            )
        ]
    return []


def _zip_entry_findings(m: Member) -> list[Finding]:
    """A zip file member that Java's java.util.zip, which both servers unzip with, cannot read."""
    out: list[Finding] = []
    if m.encrypted:
        out.append(
            _error(
                "member-encrypted",
                "encrypted: Java's java.util.zip (TorchServe, MMS) cannot read it",
                m.name,
            )
        )
    if m.method not in ZIP_METHODS_JAVA_READS:
        out.append(
            _error(
                "member-method",
                f"compression method {m.method!r}: Java's java.util.zip reads only "
                "stored and deflated members",
                m.name,
            )
        )
    elif m.method == "stored" and m.flags & zf.FLAG_DATA_DESCRIPTOR:
        out.append(
            _error(
                "stored-descriptor",
                "stored with a data descriptor: Java's ZipInputStream (TorchServe) "
                "cannot read such an entry",
                m.name,
            )
        )
    return out


def _repeat_findings(
    m: Member, seen: dict[str, Member], folded: dict[str, Member]
) -> list[Finding]:
    """`m` against the members before it: the same name twice, or names that differ only in case
    (`seen` and `folded`, by name and by case-folded name, are updated)."""
    first = seen.get(m.name)
    if first is not None and not (first.kind is MemberKind.DIR and m.kind is MemberKind.DIR):
        return [
            _error(
                "duplicate-name",
                f"{m.name!r} is in the archive more than once: tools disagree on which copy wins",
                m.name,
            )
        ]
    seen.setdefault(m.name, m)
    key = unicodedata.normalize("NFC", m.name).casefold()
    other = folded.setdefault(key, m)
    if other.name == m.name:
        return []
    return [
        Finding(
            Severity.WARNING,
            "case-collision",
            f"{m.name!r} and {other.name!r} are the same file on case-insensitive "
            "file systems (macOS, Windows): one would replace the other",
            m.name,
        )
    ]


@dataclass
class _Pass:
    """What one streaming pass over every member found, hashed and kept."""

    findings: list[Finding] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    #: Small members' bytes, so that reading the manifest, handler or config afterwards needs no
    #: second pass (a tar.gz cannot seek back without decompressing again from the start).
    cache: dict[str, bytes] = field(default_factory=dict)
    damaged: set[str] = field(default_factory=set)
    #: What each weights (or pickle) member is, scanned as its bytes went past.
    weights: dict[str, WeightsInfo] = field(default_factory=dict)


def _cacheable(m: Member, used: int) -> bool:
    if m.name == MANIFEST_NAME:
        return m.size <= MAX_MANIFEST_SIZE
    if m.name == digests_mod.DIGESTS_NAME:
        return m.size <= digests_mod.MAX_DIGESTS_SIZE
    return m.size <= MAX_CACHED_MEMBER and used + m.size <= CACHE_BUDGET


def _teed(chunks: Iterator[bytes], digest: Any | None, keep: list[bytes] | None) -> Iterator[bytes]:
    for chunk in chunks:
        if digest is not None:
            digest.update(chunk)
        if keep is not None:
            keep.append(chunk)
        yield chunk


def _integrity(view: ArchiveView, skip: set[str], want_hashes: bool) -> _Pass:
    """Stream every file member once, in archive order: the reader checks length and CRC;
    SHA-256 alongside when digests are to be checked; small members are kept; weights and
    pickles are scanned from the same bytes (weights.scan_member)."""
    result = _Pass(damaged=set(skip))
    used = 0
    for m in view.members:
        if not m.is_file or m.name in skip:
            continue
        digest = hashlib.sha256() if want_hashes else None
        keep: list[bytes] | None = (
            [] if m.name not in result.cache and _cacheable(m, used) else None
        )
        try:
            chunks = _teed(view.iter_member(m), digest, keep)
            if scannable(m.name):
                info = scan_member(m.name, m.size, chunks, partial(view.open_window, m))
                if info is not None:
                    result.weights[m.name] = info
            for _ in chunks:
                pass  # the rest of the data, for its length, CRC and digest
        except ArchiveError as exc:
            result.findings.append(_error(exc.code or "member-unreadable", exc.message, m.name))
            result.damaged.add(m.name)
            continue
        if digest is not None:
            result.hashes[m.name] = digest.hexdigest()
        if keep is not None:
            result.cache[m.name] = b"".join(keep)
            used += m.size
    return result


# ---------------------------------------------------------------------------------------------
# manifest
# ---------------------------------------------------------------------------------------------


def _depth(value: object) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_MANIFEST_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children)
    return deepest


def _read_manifest(
    view: ArchiveView, read: ReadMember
) -> tuple[dict[str, Any] | None, list[Finding]]:
    member = view.manifest_member()
    if member is None and view.container is Container.TGZ and view.model_root == "MAR-INF":
        return None, [
            _error(
                "manifest-missing",
                f"the tar has no top folder: TorchServe strips the first path component of every "
                f"member, so {MANIFEST_NAME} becomes MANIFEST.json; put every member under "
                "MODEL_NAME/",
            )
        ]
    if member is None:
        legacy = view.get("MANIFEST.json") is not None
        return None, [
            _error(
                "manifest-missing",
                f"no {MANIFEST_NAME}: the server would load the model with default settings "
                "and no handler"
                + (
                    " (the top-level MANIFEST.json is MMS 0.x's format; TorchServe ignores it)"
                    if legacy
                    else ""
                ),
            )
        ]
    if member.size > MAX_MANIFEST_SIZE:
        return None, [
            _error(
                "manifest-too-large",
                f"{member.size} bytes, more than the {MAX_MANIFEST_SIZE} allowed (a real "
                "manifest is well under 4 KiB)",
                MANIFEST_NAME,
            )
        ]
    if not member.is_file:
        return None, [
            _error("manifest-invalid", f"a {member.kind.value}, not a file", MANIFEST_NAME)
        ]
    raw = read(MANIFEST_NAME, MAX_MANIFEST_SIZE)
    if raw is None:
        return None, []  # its data is damaged: reported by the integrity pass
    try:
        manifest = parse_manifest(raw)
    except ArchiveError as exc:
        return None, [_error(exc.code or "manifest-invalid", exc.message, MANIFEST_NAME)]
    if _depth(manifest) > MAX_MANIFEST_DEPTH:
        return None, [
            _error(
                "manifest-invalid",
                f"nested more than {MAX_MANIFEST_DEPTH} levels deep (a real manifest has 2)",
                MANIFEST_NAME,
            )
        ]
    return manifest, []


def manifest_findings(manifest: dict[str, Any], flavour: Flavour, names: set[str]) -> list[Finding]:
    """Required fields, runtime, model name and named files, for `flavour`'s server."""
    server = "TorchServe" if flavour is Flavour.TORCHSERVE else "MMS"
    model = manifest.get("model")
    out: list[Finding] = []
    if not isinstance(model, dict):
        out.append(_field_error(f"no 'model' object: {server} refuses the model"))
        model = {}
    out += _model_findings(model, server)
    if flavour is Flavour.TORCHSERVE:
        out += _torchserve_findings(manifest, model)
    else:
        out += _mms_findings(manifest)
    out += _runtime_findings(manifest.get("runtime"), flavour, server)
    return out + _file_findings(model, names)


def _field_error(message: str) -> Finding:
    return _error("manifest-field", message, MANIFEST_NAME)


def _model_findings(model: dict[str, Any], server: str) -> list[Finding]:
    """The model's name and handler, which every server needs."""
    out: list[Finding] = []
    name = model.get("modelName")
    if not isinstance(name, str) or not name:
        out.append(_field_error(f"no model.modelName (a string): {server} refuses the model"))
    elif (problem := model_name_problem(name)) is not None:
        out.append(_error("model-name", problem, MANIFEST_NAME))
    handler = model.get("handler")
    if not isinstance(handler, str) or not handler.strip():
        out.append(_field_error("no model.handler (a string): the server has nothing to run"))
    return out


def _torchserve_findings(manifest: dict[str, Any], model: dict[str, Any]) -> list[Finding]:
    """The model version TorchServe requires, and the stamps it warns about."""
    out: list[Finding] = []
    version = model.get("modelVersion")
    if version is None:
        out.append(
            _field_error(
                "no model.modelVersion: TorchServe releases that require it refuse the model "
                "(`mararch convert --to torchserve` adds one)"
            )
        )
    elif not isinstance(version, (str, int, float)) or isinstance(version, bool):
        out.append(
            _field_error(f"model.modelVersion is {type(version).__name__}, expected a string")
        )
    for key in ("archiverVersion", "createdOn"):
        if key not in manifest:
            out.append(
                Finding(
                    Severity.WARNING,
                    "manifest-stamp",
                    f"no {key}: TorchServe logs a warning",
                    MANIFEST_NAME,
                )
            )
    return out


def _mms_findings(manifest: dict[str, Any]) -> list[Finding]:
    """MMS's one rule of its own: an engine, when given, is MXNet."""
    engine = manifest.get("engine")
    if engine is not None and (not isinstance(engine, dict) or engine.get("engineName") != "MXNet"):
        return [_field_error("engine.engineName must be 'MXNet' when an engine is given (MMS)")]
    return []


def _runtime_findings(runtime: object, flavour: Flavour, server: str) -> list[Finding]:
    """The runtime: one that `flavour`'s server runs."""
    allowed = TORCHSERVE_RUNTIMES if flavour is Flavour.TORCHSERVE else MMS_RUNTIMES
    choices = ", ".join(sorted(repr(r.value) for r in allowed))
    if runtime is None:
        return [_field_error(f"no runtime: {server} refuses the model (expected one of {choices})")]
    # A list, not a set: the runtime may be any JSON value, and a list or object is unhashable.
    if runtime not in [r.value for r in allowed]:
        return [
            _error(
                "runtime-invalid",
                f"runtime {runtime!r} is not one {server} runs (expected one of {choices})",
                MANIFEST_NAME,
            )
        ]
    return []


def _file_findings(model: dict[str, Any], names: set[str]) -> list[Finding]:
    """The files the manifest names (`manifest.FILE_KEYS`): each a name the archive holds."""
    out: list[Finding] = []
    for key in FILE_KEYS:
        value = model.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            out.append(_field_error(f"model.{key} is {type(value).__name__}, expected a file name"))
        elif value not in names:
            out.append(
                _error(
                    "member-missing",
                    f"model.{key} names {value!r}, which the archive does not hold",
                    value,
                )
            )
    return out


# ---------------------------------------------------------------------------------------------
# handler
# ---------------------------------------------------------------------------------------------


def _parse_handler(data: bytes, member: str, function: str | None) -> list[Finding]:
    python = f"Python {sys.version_info[0]}.{sys.version_info[1]}"
    try:
        tree = ast.parse(data, filename=member)
    except SyntaxError as exc:
        if exc.lineno is None:  # e.g. NUL bytes, on some Python versions
            return [_error("handler-syntax", f"cannot be parsed as Python: {exc.msg}", member)]
        return [
            _error(
                "handler-syntax",
                f"syntax error at line {exc.lineno}: {exc.msg} (as {python} parses it); the "
                "server cannot import the handler",
                member,
            )
        ]
    except (ValueError, RecursionError, MemoryError) as exc:
        return [_error("handler-syntax", f"cannot be parsed as Python: {exc}", member)]
    names, classes, star = module_names(tree)
    wanted = function or "handle"
    if wanted in names:
        return []
    if star:
        return [
            Finding(
                Severity.INFO,
                "handler-unchecked",
                f"{wanted!r} may come from an `import *`; its entry point was not checked",
                member,
            )
        ]
    named = f"no function {wanted!r}" + (" (named in the manifest)" if function else "")
    if len(classes) != 1:
        found = ", ".join(c.name for c in classes) if classes else "none"
        return [
            _error(
                "handler-entry",
                f"{named}, and {len(classes)} classes (exactly one with a handle method is "
                f"needed): {found}",
                member,
            )
        ]
    cls = classes[0]
    own = any(
        (isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "handle")
        or (
            isinstance(n, (ast.Assign, ast.AnnAssign))
            and any(
                isinstance(t, ast.Name) and t.id == "handle"
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
            )
        )
        for n in cls.body
    )
    if not own and not cls.bases:
        return [
            _error(
                "handler-entry",
                f"{named}, and its only class {cls.name!r} has no handle method",
                member,
            )
        ]
    return []


def handler_findings(
    manifest: dict[str, Any], flavour: Flavour, names: set[str], read: ReadMember
) -> list[Finding]:
    model = manifest.get("model")
    handler = model.get("handler") if isinstance(model, dict) else None
    if not isinstance(handler, str) or not handler.strip():
        return []  # reported as manifest-field
    runtime = manifest.get("runtime")
    origin, member = handler_origin(handler, str(runtime), names)
    if origin is HandlerOrigin.BUILTIN and flavour is Flavour.MMS:
        origin = HandlerOrigin.MISSING
    if origin is HandlerOrigin.MISSING:
        builtins = LSP_BUILTIN_HANDLERS if runtime == Runtime.LSP.value else BUILTIN_HANDLERS
        where = (
            f"neither a file in the archive nor a TorchServe built-in ({', '.join(builtins)})"
            if flavour is Flavour.TORCHSERVE
            else "not a module in the archive (MMS has no built-in handlers)"
        )
        return [_error("handler-missing", f"handler {handler!r} is {where}", MANIFEST_NAME)]
    if origin is HandlerOrigin.BUILTIN or member is None or not member.endswith(".py"):
        return []
    data = read(member, MAX_HANDLER_SIZE)
    if data is None:
        return [
            Finding(
                Severity.INFO,
                "handler-unchecked",
                f"not parsed: larger than {MAX_HANDLER_SIZE} bytes or unreadable",
                member,
            )
        ]
    return _parse_handler(data, member, split_function(handler)[1])


# ---------------------------------------------------------------------------------------------
# requirements
# ---------------------------------------------------------------------------------------------

#: pip options that name another file, which the archive must then hold.
INCLUDE_OPTIONS = ("-r", "--requirement", "-c", "--constraint")


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """(line number, line) with comments dropped and backslash continuations joined."""
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        line = "" if raw.lstrip().startswith("#") else raw
        if " #" in line:
            line = line[: line.index(" #")]
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        yield start, (pending + line).strip()
        pending = ""
    if pending.strip():
        yield start, pending.strip()


def requirements_findings(data: bytes, member: str, names: set[str]) -> list[Finding]:
    out = [
        Finding(
            Severity.INFO,
            "requirements-install",
            "TorchServe installs these packages only when started with "
            "install_py_dep_per_model=true",
            member,
        )
    ]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [*out, _error("requirements-invalid", "not UTF-8 text", member)]
    for number, line in _logical_lines(text):
        if not line:
            continue
        if line.startswith("-"):
            option, _, value = line.replace("=", " ", 1).partition(" ")
            value = value.strip()
            if option in INCLUDE_OPTIONS and value not in names:
                out.append(
                    Finding(
                        Severity.WARNING,
                        "requirements-option",
                        f"line {number}: {option} {value!r} names a file the archive does not "
                        "hold: pip will fail",
                        member,
                    )
                )
            else:
                out.append(
                    Finding(
                        Severity.INFO,
                        "requirements-option",
                        f"line {number}: pip option {option!r} passed to pip as is",
                        member,
                    )
                )
            continue
        spec = line.split(" --", 1)[0].strip()  # per-requirement options, e.g. --hash=...
        # Imported here: packaging costs every command ~20 ms, and most builds have no
        # requirements file.
        from packaging.requirements import InvalidRequirement, Requirement

        try:
            Requirement(spec)
        except InvalidRequirement as exc:
            if "/" in spec or spec.startswith((".", "git+", "http:", "https:", "file:")):
                out.append(
                    Finding(
                        Severity.INFO,
                        "requirements-option",
                        f"line {number}: {spec!r} is a path or URL; not checked",
                        member,
                    )
                )
            else:
                reason = str(exc).splitlines()[0]
                out.append(
                    _error(
                        "requirements-invalid",
                        f"line {number}: {line!r} is not a valid requirement: {reason}",
                        member,
                    )
                )
    return out


# ---------------------------------------------------------------------------------------------
# contents shared by archives and plans
# ---------------------------------------------------------------------------------------------


def content_findings(
    manifest: dict[str, Any], flavour: Flavour, names: set[str], read: ReadMember
) -> list[Finding]:
    """The checks that apply before writing: manifest, handler, config and requirements."""
    out = manifest_findings(manifest, flavour, names)
    out += handler_findings(manifest, flavour, names, read)
    model = manifest.get("model")
    model = model if isinstance(model, dict) else {}
    config = model.get("configFile")
    if isinstance(config, str) and config in names:
        data = read(config, modelconfig.MAX_CONFIG_SIZE)
        if data is None:
            out.append(
                _error(
                    "config-invalid",
                    f"larger than {modelconfig.MAX_CONFIG_SIZE} bytes, or unreadable",
                    config,
                )
            )
        else:
            out += modelconfig.check(data, config)
            if flavour is Flavour.MMS:
                out.append(
                    Finding(Severity.INFO, "config-unused", "MMS does not read configFile", config)
                )
    requirements = model.get("requirementsFile")
    if isinstance(requirements, str) and requirements in names:
        data = read(requirements, MAX_REQUIREMENTS_SIZE)
        if data is None:
            out.append(
                _error(
                    "requirements-invalid",
                    f"larger than {MAX_REQUIREMENTS_SIZE} bytes, or unreadable",
                    requirements,
                )
            )
        else:
            out += requirements_findings(data, requirements, names)
    return out


def read_from_view(view: ArchiveView, done: _Pass | None = None) -> ReadMember:
    """Reads members from an open archive; after an integrity pass (`done`), the members it kept
    from memory, and none of those it found damaged."""
    damaged = done.damaged if done is not None else set()
    kept = done.cache if done is not None else {}

    def read(name: str, limit: int) -> bytes | None:
        member = view.get(name)
        if member is None or not member.is_file or name in damaged or member.size > limit:
            return None
        cached = kept.get(name)
        if cached is not None:
            return cached
        try:
            return view.read_member(member, limit)
        except ArchiveError:
            return None

    return read


def _digest_findings(
    view: ArchiveView, recorded: dict[str, str], hashes: dict[str, str], damaged: set[str]
) -> list[Finding]:
    out: list[Finding] = []
    dn = digests_mod.DIGESTS_NAME
    for m in view.members:
        if not m.is_file or m.name == dn or m.name in damaged:
            continue
        expected = recorded.get(m.name)
        if expected is None:
            out.append(
                _error("digest-unlisted", f"not listed in {dn}: added after the build?", m.name)
            )
        elif hashes.get(m.name) != expected.lower():
            out.append(
                _error(
                    "digest-mismatch",
                    f"SHA-256 differs from the one in {dn}: changed after the build",
                    m.name,
                )
            )
    present = {m.name for m in view.members if m.is_file}
    for name in sorted(set(recorded) - present):
        out.append(_error("digest-missing", f"listed in {dn} but not in the archive", name))
    return out


def _read_digests(
    view: ArchiveView, read: ReadMember
) -> tuple[dict[str, str] | None, list[Finding]]:
    dn = digests_mod.DIGESTS_NAME
    member = view.get(dn)
    if member is None:
        return None, [
            Finding(
                Severity.INFO,
                "digests-absent",
                f"no {dn}: only the CRC-32s were checked (mararch create records SHA-256s)",
            )
        ]
    if not member.is_file or member.size > digests_mod.MAX_DIGESTS_SIZE:
        message = f"not a file of at most {digests_mod.MAX_DIGESTS_SIZE} bytes"
        return None, [_error("digests-invalid", f"cannot be used: {message}", dn)]
    raw = read(dn, digests_mod.MAX_DIGESTS_SIZE)
    if raw is None:
        return None, []  # its data is damaged: reported by the integrity pass
    try:
        return digests_mod.parse(raw), []
    except ValueError as exc:
        return None, [_error("digests-invalid", f"cannot be used: {exc}", dn)]


# ---------------------------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------------------------


def _name_findings(view: ArchiveView, flavour: Flavour) -> list[Finding]:
    """TorchServe picks the container by file name: only `*.mar` is read as zip."""
    if flavour is not Flavour.TORCHSERVE or view.container is Container.FOLDER:
        return []
    is_mar = view.path.name.lower().endswith(".mar")
    if view.container is Container.ZIP and not is_mar:
        return [
            _error(
                "container-name",
                f"a zip named {view.path.name!r}: TorchServe reads only files named *.mar as zip "
                "(anything else as tar.gz); rename it to end in .mar",
            )
        ]
    if view.container is Container.TGZ and is_mar:
        return [
            _error(
                "container-name",
                f"a tar.gz named {view.path.name!r}: TorchServe reads files named *.mar as zip; "
                "rename it to end in .tar.gz",
            )
        ]
    return []


def _bomb_finding(view: ArchiveView, bomb: Expansion) -> Finding:
    what = "" if bomb.member else f"{view.path.name!r} "
    return Finding(
        Severity.WARNING,
        "high-ratio",
        f"{what}{bomb.describe()}, more than the {RATIO_LIMIT}:1 that `extract` allows: likely a "
        "decompression bomb" + (" (its data was not read)" if bomb.member else ""),
        bomb.member,
    )


def verify_view(
    view: ArchiveView,
    server: Flavour | None = None,
    signed: SignedModel | None = None,
    *,
    fast: bool = False,
    model_store: PathLike | None = None,
) -> tuple[list[Finding], Flavour | None]:
    """Every finding for an open archive, and the server it was checked for (None without a
    readable manifest); with `signed` (a checked signature), the members against its list.
    With `fast`, member data is not read (no CRC-32 or SHA-256 checks): only the listing and
    the small members the content checks need (a remote archive's weights are not
    downloaded). `model_store` is where a workflow archive's models are checked."""
    out = container_findings(view)
    if view.container is Container.ZIP:
        out += slow_inflate_findings(view.members)
    # Members whose data cannot be read (already reported above); special files are skipped
    # by the pass anyway, since it reads only files.
    unreadable = {
        m.name
        for m in view.members
        if view.container is Container.ZIP
        and m.is_file
        and (m.encrypted or m.method not in ZIP_METHODS_JAVA_READS)
    }
    # Likely bombs are judged from the listing and never inflated (extract refuses them).
    bombs = likely_bombs(view)
    out += [_bomb_finding(view, b) for b in bombs]
    unreadable |= {b.member for b in bombs if b.member is not None}
    # One pass over the data; everything after reads small members from what it kept.
    unchecked: set[str] = set()
    want_hashes = signed is not None or view.get(digests_mod.DIGESTS_NAME) is not None
    if fast:
        done = _Pass(damaged=set(unreadable))
        unchecked = {m.name for m in view.members if m.is_file}
        out.append(Finding(Severity.INFO, "data-not-read", _fast_note(view)))
    else:
        done = _integrity(view, unreadable, want_hashes=want_hashes)
        if view.transfer is not None:
            out.append(Finding(Severity.INFO, "data-read", _full_note(view)))
    out += done.findings
    read = read_from_view(view, done)
    workflow = is_workflow(view)
    if workflow:
        out += _workflow_findings(view, read, server, model_store)
    elif model_store is not None:
        out.append(
            Finding(
                Severity.INFO, "model-store-unused", "--model-store applies to workflow archives"
            )
        )
    manifest, manifest_problems = (None, []) if workflow else _read_manifest(view, read)
    out += manifest_problems
    flavour = Flavour.TORCHSERVE if workflow else server
    if manifest is not None:
        detected = detect_flavour(manifest)
        if flavour is None:
            flavour = detected
            how = "(detected from the manifest)"
        else:
            how = "(as asked" + (
                ")" if detected is flavour else f"; the manifest looks like {detected.value}'s)"
            )
        out.append(
            Finding(Severity.INFO, "server", f"checked for {flavour.value} {how}", MANIFEST_NAME)
        )
        out += _name_findings(view, flavour)
        names = {m.name for m in view.members if m.is_file}
        out += content_findings(manifest, flavour, names, read)
        out += weights_findings(manifest, flavour is Flavour.TORCHSERVE, names, read, done.weights)
    else:
        out += weights_findings(None, False, set(), read, done.weights)
    # A workflow archive has no MAR-INF/digests.json to expect.
    recorded, digest_problems = (None, []) if workflow else _read_digests(view, read)
    out += digest_problems
    own = None
    if signed is not None:
        from .signing.engine import member_findings, signature_member

        out += member_findings(signed, view, done.hashes, done.damaged)
        own = signature_member(signed, view)
    if recorded is not None:
        # A signature kept inside the folder model it signs is not one of its files.
        found = _digest_findings(view, recorded, done.hashes, done.damaged | unchecked)
        out += [f for f in found if own is None or f.member != own]
    return out, flavour


def _workflow_findings(
    view: ArchiveView, read: ReadMember, server: Flavour | None, model_store: PathLike | None
) -> list[Finding]:
    out = [Finding(Severity.INFO, "server", "a workflow archive: checked for torchserve")]
    if server is Flavour.MMS:
        out.append(_error("server-unsupported", "MMS has no workflows; only TorchServe runs them"))
    store = Path(model_store) if model_store is not None else None
    return out + workflow_findings(view, read, store, lambda path: verify(path).findings)


def _fast_note(view: ArchiveView) -> str:
    size = sum(m.compressed_size for m in view.members if m.is_file)
    return (
        f"--fast: the data of the members ({size} bytes) was not read; their CRC-32 and "
        "SHA-256 digests are not checked, nor are the weights' pickles scanned"
    )


def _full_note(view: ArchiveView) -> str:
    size = sum(m.compressed_size for m in view.members if m.is_file)
    return (
        f"every member's data ({size} bytes) was read from {view.display!r} to check CRC-32 and "
        "SHA-256 digests; --fast reads only the directory and the small members"
    )


def verify(
    path: PathLike,
    server: Flavour | str | None = None,
    strict: bool = False,
    trust: Trust | None = None,
    *,
    fast: bool = False,
    model_store: PathLike | None = None,
) -> Report:
    """Check an archive (.mar, .tar.gz or folder, or its URL; or a workflow's .war) for `server`
    ("torchserve" or "mms"; detected from the manifest when None) without running anything from
    it; never raises for a bad archive: every problem is a finding of the report. With `trust` (a
    public key or trusted certificates), its OpenSSF model signature is checked too. `fast`: see
    `verify_view`; `model_store`: the folder where a workflow's models are checked too."""
    flavour = Flavour(parse_enum(Flavour, server, "--server")) if server is not None else None
    remote = is_url(path)
    if trust is not None and (remote or fast):
        raise UsageError(
            "a signature is checked against every member's SHA-256 of a local archive: "
            + ("download the archive first" if remote else "drop --fast"),
        )
    shown = str(path)
    if remote:
        from .remote import redact

        shown = redact(shown)
    report = Report(shown, None, flavour, strict=strict)
    signed: SignedModel | None = None
    if not remote:
        signed, report.findings = _signature_findings(Path(path), trust)
    try:
        view = open_archive(path)
    except ArchiveError as exc:
        report.findings.append(_error(exc.code or "archive-unreadable", exc.message, exc.member))
        return report
    with view:
        report.container = view.container
        findings, report.server = verify_view(
            view, flavour, signed, fast=fast, model_store=model_store
        )
        report.findings += findings
        report.transfer = view.transfer
    return report


def _signature_findings(
    path: Path, trust: Trust | None
) -> tuple[SignedModel | None, list[Finding]]:
    from .signing.engine import check_signature, signature_note

    if trust is not None:
        return check_signature(path, trust)
    note = signature_note(path)
    return None, [note] if note is not None else []


def _read_from_plan(plan: Plan) -> ReadMember:
    entries = {e.name: e for e in plan.entries}

    def read(name: str, limit: int) -> bytes | None:
        entry = entries.get(name)
        if entry is None or entry.size > limit:
            return None
        if entry.data is not None:
            return entry.data
        try:
            if entry.source is not None:
                with entry.source.open("rb") as fh:
                    return fh.read(limit)
            assert entry.stream is not None
            return b"".join(entry.stream())
        except (OSError, ArchiveError):
            return None  # the writer reports it, with the path

    return read


def check_plan(plan: Plan) -> list[Finding]:
    """The pre-write checks on a build plan: only small members are read, never weights."""
    names = {e.name for e in plan.entries}
    if plan.digests:
        names.add(digests_mod.DIGESTS_NAME)
    manifest = plan.manifest
    if plan.manifest_name == WAR_MANIFEST_NAME:
        return spec_findings(manifest, names, _read_from_plan(plan))[0]
    flavour = detect_flavour(manifest)
    read = _read_from_plan(plan)
    infos = {
        e.name: info
        for e in plan.entries
        if scannable(e.name) and (info := scan_entry(e)) is not None
    }
    return content_findings(manifest, flavour, names, read) + weights_findings(
        manifest, flavour is Flavour.TORCHSERVE, names, read, infos
    )


__all__ = [
    "Finding",
    "Report",
    "Severity",
    "check_plan",
    "content_findings",
    "module_names",
    "read_from_view",
    "verify",
    "verify_view",
]
