"""Child processes that kill themselves (SIGKILL) at a chosen point of a build or an extract."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

#: Run in a child: build or extract, and SIGKILL ourselves when `at` of the bytes are written
#: (`at` = 'replace' kills at the first rename instead, 'replace2' at the second (a folder replaced:
#: the previous output is moved away, the new one not yet in place); 'hold' stops half way and
#: waits).
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    import mararch
    from mararch import output

    job, at, *args = sys.argv[1:]
    if os.environ.get("NO_TMPFILE"):
        # A file system (or system) without O_TMPFILE: the owned temporaries take over.
        output.open_anonymous = lambda folder: None

    def die():
        if at == "hold":
            print("holding", flush=True)
            time.sleep(60)
        os.kill(os.getpid(), signal.SIGKILL)

    def progress(done, total):
        if not at.startswith("replace") and done >= float(at if at != "hold" else 0.5) * total:
            die()

    if at.startswith("replace"):
        renames = []
        real_rename = os.rename
        def replace(*a, **k):
            renames.append(a)
            if at == "replace" or len(renames) == 2:
                die()
            real_rename(*a, **k)
        os.replace = os.rename = replace
    if job == "build":
        model, out, fmt = args
        mararch.create(
            model_name="m", version="1", handler="image_classifier",
            serialized_file=model, export_path=out, archive_format=fmt, force=True,
            progress=progress,
        )
    else:
        archive, dest = args
        mararch.extract(archive, dest, progress=progress)
    print("finished", flush=True)
    """
)


def run_killed(
    job: str, at: str, *args: str | Path, no_tmpfile: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run CHILD to its SIGKILL (`no_tmpfile`: as if O_TMPFILE were missing); fail if it
    finished instead."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, job, at, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NO_TMPFILE": "1" if no_tmpfile else ""},
    )
    assert proc.returncode == -9, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def spawn_holding(job: str, *args: str | Path) -> subprocess.Popen[str]:
    """CHILD stopped half way through (alive, its temporaries in place)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, job, "hold", *map(str, args)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "holding\n"
    return proc


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())
