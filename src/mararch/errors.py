"""One exception hierarchy for the whole engine; `cli.py` maps it to exit codes in one place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

#: How many problems an error message lists before summarising the rest.
MAX_LISTED = 10


class MararchError(Exception):
    """Root of every error mararch raises on purpose.

    `message` says what went wrong and names the offending value; `hint` says how to fix it.
    """

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class UsageError(MararchError):
    """The request itself is wrong: a bad flag value, a missing required option."""

    exit_code = EXIT_USAGE


def problem_list(problems: Sequence[str], *, source: str | None = None) -> str:
    """The message of collected problems: a lone one as it is, several counted and listed
    (`source: N problems:` when they are all about one file)."""
    if len(problems) == 1:
        return problems[0]
    lead = f"{source}: " if source is not None else ""
    return f"{lead}{len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)


class RequestError(MararchError):
    """The inputs to a build are invalid; every problem is collected before anything is written."""

    def __init__(self, problems: Sequence[str], *, hint: str | None = None) -> None:
        self.problems = list(problems)
        super().__init__(problem_list(self.problems), hint=hint)


class InputError(MararchError):
    """An input file or folder is missing, unreadable or of the wrong kind."""

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class OutputError(MararchError):
    """The output cannot be written: it exists already, or the destination is not usable."""

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class ConflictError(MararchError):
    """Two inputs would land on the same member name inside the archive."""

    def __init__(self, member: str, first: str, second: str) -> None:
        super().__init__(
            f"two inputs would both be packaged as {member!r}: {first!r} and {second!r}",
            hint="Rename one of them, or drop one from --extra-files.",
        )
        self.member = member
        self.first = first
        self.second = second


class ArchiveError(MararchError):
    """An archive is unreadable, corrupt or hostile.

    `code` is the `verify` check code the problem belongs to (e.g. "member-crc"); the reader
    sets it so that `verify` reports the reader's findings without parsing messages.
    """

    def __init__(
        self,
        message: str,
        *,
        member: str | None = None,
        hint: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.member = member
        self.code = code


class UnsafeArchiveError(ArchiveError):
    """An archive member would escape the destination or is not a regular file."""


class SignatureError(MararchError):
    """A key, certificate or signature file cannot be used (OpenSSF model signing)."""

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class Severity(str, Enum):
    """How bad a verification finding is; only errors fail (warnings too, with --strict)."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One result of a check: a severity, a short stable code (docs/verify.md, Check codes), the
    member concerned (if any) and a message naming the offending value."""

    severity: Severity
    code: str
    message: str
    member: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "severity": self.severity.value,
            "code": self.code,
            "member": self.member,
            "message": self.message,
        }


class VerificationFailed(MararchError):
    """Checks found errors in what `create`, `legacy` or `convert` was about to write."""

    def __init__(self, findings: Sequence[Finding], *, hint: str | None = None) -> None:
        self.findings = list(findings)
        errors = [f for f in self.findings if f.severity is Severity.ERROR]
        lines = [f"  - [{f.code}] {f.member + ': ' if f.member else ''}{f.message}" for f in errors]
        super().__init__(
            f"{len(errors)} error{'s' * (len(errors) != 1)} in what would be written; "
            "nothing was written:\n" + "\n".join(lines),
            hint=hint,
        )
