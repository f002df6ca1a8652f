"""What goes into an archive: closed sets as enums, and the validated build request."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TypeGuard, Union

from .errors import UsageError

MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.]*")
MAR_INF = "MAR-INF"
MANIFEST_NAME = f"{MAR_INF}/MANIFEST.json"
#: A workflow archive (NAME.war) keeps its manifest here instead.
WAR_INF = "WAR-INF"
WAR_MANIFEST_NAME = f"{WAR_INF}/MANIFEST.json"
WAR_SUFFIX = ".war"
#: What the API accepts wherever it takes a path.
PathLike = Union[str, "os.PathLike[str]"]
#: A URL's scheme; whatever else an argument is, it is a local path.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: Permissions of members written or extracted: executables keep their x bits, nothing else.
FILE_MODE = 0o644
EXEC_MODE = 0o755


class ArchiveFormat(str, Enum):
    """The four output formats of torch-model-archiver's --archive-format."""

    DEFAULT = "default"
    ZIP_STORE = "zip-store"
    TGZ = "tgz"
    NO_ARCHIVE = "no-archive"

    @property
    def suffix(self) -> str:
        return {"default": ".mar", "zip-store": ".mar", "tgz": ".tar.gz", "no-archive": ""}[
            self.value
        ]

    @property
    def is_zip(self) -> bool:
        return self in (ArchiveFormat.DEFAULT, ArchiveFormat.ZIP_STORE)

    def output_path(self, export_path: Path, model_name: str) -> Path:
        return export_path / f"{model_name}{self.suffix}"


class Runtime(str, Enum):
    """Runtimes of both servers; which ones a server accepts is in the sets below."""

    PYTHON = "python"
    PYTHON2 = "python2"
    PYTHON3 = "python3"
    LSP = "LSP"


TORCHSERVE_RUNTIMES = frozenset({Runtime.PYTHON, Runtime.PYTHON3, Runtime.LSP})
MMS_RUNTIMES = frozenset({Runtime.PYTHON, Runtime.PYTHON2, Runtime.PYTHON3})


class Compression(str, Enum):
    """How zip members are stored. AUTO deflates a member only where that pays for TorchServe's
    inflate at every load (`timetoserve`); DEFLATE deflates every member, as the reference does."""

    AUTO = "auto"
    DEFLATE = "deflate"
    STORE = "store"


def parse_enum(enum: type[Enum], value: object, option: str) -> Enum:
    """Turn a user's string into a member of `enum`, or raise a usage error listing the choices."""
    if isinstance(value, enum):
        return value
    for member in enum:
        if member.value == value:
            return member
    choices = ", ".join(repr(m.value) for m in enum)
    raise UsageError(f"invalid value {value!r} for {option}: choose one of {choices}")


def is_url(value: object) -> TypeGuard[str]:
    """Whether an argument names a remote object (`scheme://...`) rather than a local path."""
    return isinstance(value, str) and bool(_URL.match(value))


def valid_model_name(name: str) -> bool:
    return MODEL_NAME_PATTERN.fullmatch(name) is not None


def model_name_problem(name: str) -> str | None:
    if valid_model_name(name):
        return None
    return (
        f"invalid model name {name!r}: it must start with a letter or digit and contain only "
        "letters, digits, '_', '-' and '.'"
    )


def source_date_epoch() -> int | None:
    """The SOURCE_DATE_EPOCH timestamp when set (reproducible builds), else None."""
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise UsageError(
            f"SOURCE_DATE_EPOCH={raw!r} is not a whole number of seconds since 1970",
            hint="Unset it or set it to seconds since 1970, e.g. $(git log -1 --format=%ct).",
        ) from None
    # Zip timestamps cannot express dates before 1980.
    return max(value, 315532800)


@dataclass(frozen=True)
class StoredData:
    """A zip member's bytes as already compressed in another archive, copied without recompressing.

    `chunks()` yields exactly `compressed_size` bytes of `method` (0 stored, 8 deflated) data.
    """

    method: int
    crc: int
    compressed_size: int
    chunks: Callable[[], Iterator[bytes]]


@dataclass(frozen=True)
class Entry:
    """One member of the archive: its name inside, and where its bytes come from.

    Exactly one of `source` (a file), `data` (bytes in memory) and `stream` (chunks read from
    another archive) is set. `stored`, with `stream`, lets a zip writer copy compressed bytes as is.
    """

    name: str
    source: Path | None
    size: int
    data: bytes | None = None
    origin: str = ""
    executable: bool = False
    mtime: float | None = None
    stream: Callable[[], Iterator[bytes]] | None = None
    stored: StoredData | None = None
    #: With `stream`, bytes [offset, offset+n) read directly (`auto` samples a remote input).
    read_at: Callable[[int, int], bytes] | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.source, self.data, self.stream)) != 1:
            raise ValueError("an entry has exactly one of source, data and stream")


@dataclass(frozen=True)
class Plan:
    """Everything a writer needs: the output path, the format and the sorted entries."""

    output: Path
    archive_format: ArchiveFormat
    model_name: str
    entries: tuple[Entry, ...]
    manifest: dict[str, object] = field(default_factory=dict)
    compression: Compression = Compression.DEFLATE
    level: int | None = None
    timestamp: int | None = None
    force: bool = False
    #: Record MAR-INF/digests.json (SHA-256 of every other member), written last.
    digests: bool = False
    #: Sign the model as it is written (OpenSSF model signing): the EC private key, and the file
    #: holding its password.
    sign_key: Path | None = None
    sign_password_file: Path | None = None
    #: s3:// or gs:// folder the output goes to (then `output` is only its name there).
    export_url: str | None = None
    #: Where the manifest goes (a workflow archive's is WAR-INF/MANIFEST.json).
    manifest_name: str = MANIFEST_NAME

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.entries)
