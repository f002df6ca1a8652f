"""Building several archives at once (a build spec's --all), and one, with an outcome each.

Every archive is checked before the first is written: an archive refused by its checks means
nothing is written (a spec's archives usually ship together). Then each is written in turn; one
that fails to write stops none of the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from enum import Enum

from .builder import BuildResult, build, check_plans, refusal
from .errors import Finding, MararchError, VerificationFailed
from .plans import Plan
from .progress import OptionalProgress

#: Opens the progress callback of one archive's write (the CLI: a progress bar).
ProgressFor = Callable[[Plan], AbstractContextManager[OptionalProgress]]


class Status(str, Enum):
    """What became of one archive."""

    WRITTEN = "written"
    #: Its own checks found errors; nothing was written.
    REFUSED = "refused"
    #: Its checks passed, but another archive's did not; nothing was written.
    SKIPPED = "skipped"
    #: Writing it failed (the output is left as it was).
    FAILED = "failed"


SKIPPED_MESSAGE = "not written: another archive of the build was refused (nothing is written then)"


@dataclass(frozen=True)
class Outcome:
    """One archive of a build: its plan, status, the checks' findings, what was written (when
    it was) and the error (when it was not)."""

    plan: Plan
    status: Status
    findings: tuple[Finding, ...] = ()
    result: BuildResult | None = None
    error: MararchError | None = None

    @property
    def written(self) -> bool:
        return self.status is Status.WRITTEN


def build_all(
    plans: Sequence[Plan],
    *,
    verify: bool = True,
    digest: bool = False,
    progress: ProgressFor | None = None,
) -> list[Outcome]:
    """Check every plan, then write each (see the module); return an outcome per plan, in
    order. `verify=False` (--no-verify) writes despite errors; `digest` records each output's
    SHA-256. Only an interrupt (Ctrl-C) stops the writing."""
    checked = check_plans(plans, enforce=False)
    refusals: dict[int, VerificationFailed] = {}
    for i, (plan, findings) in enumerate(zip(plans, checked)):
        if verify and (exc := refusal([(plan, findings)], named=len(plans) > 1)) is not None:
            refusals[i] = exc
    if refusals:
        return [
            Outcome(plan, Status.REFUSED, findings, error=refusals[i])
            if i in refusals
            else Outcome(plan, Status.SKIPPED, findings, error=MararchError(SKIPPED_MESSAGE))
            for i, (plan, findings) in enumerate(zip(plans, checked))
        ]
    outcomes = []
    for plan, findings in zip(plans, checked):
        try:
            with progress(plan) if progress is not None else nullcontext() as callback:
                result = build(plan, progress=callback, digest=digest, checked=findings)
        except MararchError as exc:
            outcomes.append(Outcome(plan, Status.FAILED, findings, error=exc))
            continue
        outcomes.append(Outcome(plan, Status.WRITTEN, findings, result))
    return outcomes


__all__ = ["Outcome", "ProgressFor", "Status", "build_all"]
