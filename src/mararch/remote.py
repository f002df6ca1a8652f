"""Remote stores: telling URLs from paths, opening them through fsspec, and keeping secrets out
of every message.

Nothing here imports fsspec at module level: a local build never pays for it (nor for s3fs,
gcsfs or aiohttp). Credentials come from each backend's own sources (for S3 the AWS environment
variables, `AWS_ENDPOINT_URL` included, the config files and roles); `storage_options` passes
anything else, as `--storage-option KEY=VALUE` on the command line.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from enum import Enum
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

from .errors import MararchError, UsageError
from .plans import is_url

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

#: URLs inside third-party messages (botocore, aiohttp): shown without query or credentials.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
#: Signature-like fields that can appear outside a URL in a backend's message.
_SECRET_FIELD = re.compile(
    r"(?i)(x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|"
    r"x-goog-credential|signature|aws_secret_access_key|secret|token|sig)=[^&\s'\"]+"
)


class Scheme(str, Enum):
    """The stores mararch knows, and the extra that brings each one's backend."""

    S3 = "s3"
    GS = "gs"
    GCS = "gcs"
    HTTP = "http"
    HTTPS = "https"

    @property
    def extra(self) -> str:
        return {Scheme.S3: "s3", Scheme.GS: "gcs", Scheme.GCS: "gcs"}.get(self, "remote")

    @property
    def ranged_stream_only(self) -> bool:
        """HTTP servers may not honour Range; object stores always do."""
        return self in (Scheme.HTTP, Scheme.HTTPS)


def scheme_of(url: str) -> Scheme:
    """The URL's scheme as a `Scheme`; UsageError for one mararch does not support."""
    name = url.split("://", 1)[0].lower()
    try:
        return Scheme(name)
    except ValueError:
        raise UsageError(
            f"unsupported URL scheme {name + '://'!r} in {redact(url)!r}",
            hint="mararch reads and writes s3://, gs:// and http(s):// URLs, and local paths.",
        ) from None


def redact(url: str) -> str:
    """The URL without user, password, query string or fragment: safe to print.

    A presigned URL's signature and a token in a query string are never shown.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if not parts.netloc:
        host = ""
    shown = urlunsplit((parts.scheme, host, parts.path, "", ""))
    return shown + ("?…" if parts.query else "")


def scrub(text: str) -> str:
    """A third-party message with every URL redacted and signature-like fields masked."""
    text = _URL_IN_TEXT.sub(lambda m: redact(m.group(0)), text)
    return _SECRET_FIELD.sub(lambda m: f"{m.group(1)}=***", text)


def basename(url: str) -> str:
    """The last component of the URL's path (`model.mar` of `s3://b/models/model.mar`)."""
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


# -- storage options ---------------------------------------------------------------------------

_options: ContextVar[Mapping[str, Any] | None] = ContextVar("mararch_storage_options", default=None)


def parse_storage_options(items: Sequence[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings as fsspec storage options; VALUE is read as YAML (true, 3, {a: b}),
    and a dotted KEY nests (`client_kwargs.region_name=eu-west-1`)."""
    import yaml

    options: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"invalid --storage-option {key.strip() or item!r}: expected KEY=VALUE",
                hint="For example --storage-option anon=true.",
            )
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        if value is None:
            value = raw
        target = options
        *parents, leaf = key.strip().split(".")
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise UsageError(f"--storage-option {key!r} nests below a value that is not a map")
        target[leaf] = value
    return options


@contextlib.contextmanager
def storage_options(options: Mapping[str, Any]) -> Iterator[None]:
    """Use these fsspec storage options for every URL opened inside the block."""
    token = _options.set(dict(options))
    try:
        yield
    finally:
        _options.reset(token)


def current_options() -> Mapping[str, Any]:
    return _options.get() or {}


# -- opening -----------------------------------------------------------------------------------


def filesystem(url: str) -> tuple[AbstractFileSystem, str]:
    """The fsspec file system for a URL and the path inside it; a missing backend is a clear
    error naming the extra to install."""
    scheme = scheme_of(url)
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        missing_backend(url, scheme, "fsspec")
    try:
        # A fresh instance: fsspec caches them by options, not by the environment the
        # credentials and endpoint come from.
        options = {"skip_instance_cache": True, **current_options()}
        if scheme.ranged_stream_only:
            # A URL is used as given: re-encoding its query breaks a presigned signature.
            options.setdefault("encoded", True)
        fs, path = url_to_fs(url, **options)
    except ImportError as exc:
        missing_backend(url, scheme, getattr(exc, "name", None) or scheme.value)
    except (TypeError, ValueError) as exc:
        raise UsageError(
            f"cannot open {redact(url)!r}: {scrub(str(exc))}",
            hint="Check the --storage-option values for this store.",
        ) from None
    return fs, str(path)


def missing_backend(url: str, scheme: Scheme, module: str) -> NoReturn:
    raise UsageError(
        f"{redact(url)!r} needs {module!r}, which is not installed",
        hint=f"Install the extra: pip install 'mararch[{scheme.extra}]'.",
    )


def _cause_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def remote_problem(exc: BaseException) -> str:
    """A short, secret-free description of a backend's failure."""
    # fsspec's HTTP filesystem reports a server it cannot reach as a missing file; the
    # connection error is still in the chain.
    if any(isinstance(e, ConnectionError) for e in _cause_chain(exc)):
        return "cannot connect to the server (is it running, and is the URL or endpoint right?)"
    if isinstance(exc, FileNotFoundError):
        return "no such object (or bucket)"
    if isinstance(exc, PermissionError):
        return "access denied (check the credentials: AWS_* variables, config files or role)"
    status = getattr(exc, "status", None)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(status, int):
        message = f"HTTP {status} {message}"
    return scrub(str(message)).strip().splitlines()[0][:300]


@contextlib.contextmanager
def remote_errors(
    url: str, make: Callable[[str], MararchError], action: str = "read"
) -> Iterator[None]:
    """The boundary around fsspec and its backends: any failure becomes one mararch error
    naming the redacted URL (third-party exceptions carry signed URLs and request ids)."""
    try:
        yield
    except MararchError:
        raise
    # The backends raise from a wide, open set of exception types.
    except Exception as exc:
        raise make(f"cannot {action} {redact(url)!r}: {remote_problem(exc)}") from None


__all__ = [
    "Scheme",
    "basename",
    "current_options",
    "filesystem",
    "is_url",
    "parse_storage_options",
    "redact",
    "remote_errors",
    "scrub",
    "storage_options",
]
