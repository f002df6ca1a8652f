"""One exception hierarchy for the whole engine; `cli.py` maps it to exit codes in one place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


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


class SpecError(MararchError):
    """The inputs to a build are invalid; every problem is collected before anything is written."""

    def __init__(self, problems: Sequence[str], *, hint: str | None = None) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems:\n" + "\n".join(
                f"  - {p}" for p in self.problems
            )
        super().__init__(message, hint=hint)


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
    """An archive is unreadable, corrupt or hostile."""

    def __init__(self, message: str, *, member: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.member = member


class UnsafeArchiveError(ArchiveError):
    """An archive member would escape the destination or is not a regular file."""


@dataclass(frozen=True)
class Finding:
    """One result of a check: `severity` is "error" or "warning"; `code` is short and stable."""

    severity: str
    code: str
    message: str
    member: str | None = None


class VerificationFailed(MararchError):
    """Verification found errors (or warnings, with --strict)."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        errors = sum(1 for f in self.findings if f.severity == "error")
        super().__init__(f"verification failed with {errors} error(s)")
