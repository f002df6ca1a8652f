"""`create --bundle-requirements`: the wheels a model's requirements.txt needs, inside the archive,
so that TorchServe installs them with no package index (pytorch/serve#1935).

How TorchServe 0.12 installs them (`ModelManager.setupModelDependencies`, with
`install_py_dep_per_model=true` and no `useVenv`): it runs `python -m pip install -U -t MODEL_DIR
-r MODEL_DIR/REQUIREMENTS` with the working directory MODEL_DIR (the unpacked archive, or the
link to a no-archive folder) and its own environment. pip reads `--find-links wheels` written in a
requirements file relative to that file's folder when the folder exists there
(`pip._internal.req.req_file.handle_option_line`), so the bundled requirements say exactly that.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, UsageError
from .output import remove_path

WHEELS_DIR = "wheels"
#: Options that choose where pip looks for packages: the bundle replaces them with its own.
INDEX_OPTIONS = (
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--no-index",
    "--trusted-host",
)
HEADER = (
    "# Bundled by mararch: pip installs these from the archive's wheels/ folder, with no index.\n"
    "--no-index\n"
    f"--find-links {WHEELS_DIR}\n"
)
#: How long a `pip download` may take (large wheels over a slow link).
PIP_TIMEOUT = 3600


@dataclass(frozen=True)
class Bundle:
    """The requirements file to package (same file name as the user's) and the wheels folder."""

    requirements: Path
    wheels: Path
    names: tuple[str, ...]


def _kept_lines(text: str) -> list[str]:
    kept = []
    for line in text.splitlines():
        option = line.strip().split("=", 1)[0].split(" ", 1)[0]
        if option in INDEX_OPTIONS:
            continue
        kept.append(line)
    return kept


def pip_download_args(
    requirements: Path, dest: Path, platform: str | None, python_version: str | None
) -> list[str]:
    """The `pip download` command line: binary wheels only (there is no compiler, and no index
    to fetch build dependencies from, where the server installs them)."""
    args = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--only-binary=:all:",
        "--dest",
        str(dest),
        "-r",
        str(requirements),
    ]
    if platform:
        args += ["--platform", platform]
    if python_version:
        args += ["--python-version", python_version]
    return args


@contextmanager
def bundled_requirements(
    requirements: Path,
    workdir: Path,
    *,
    platform: str | None = None,
    python_version: str | None = None,
) -> Iterator[Bundle]:
    """Download the wheels into a hidden temporary folder in `workdir` (the export folder) and
    yield what to package; the folder is removed on the way out, whatever happens."""
    try:
        text = requirements.read_text("utf-8")
    except FileNotFoundError:
        raise InputError(
            f"requirements file {str(requirements)!r} does not exist",
            path=str(requirements),
            hint="--bundle-requirements needs -r/--requirements-file PATH.",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot read {str(requirements)!r}: {exc}", path=str(requirements)
        ) from None
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = workdir / f".mararch-wheels-{secrets.token_hex(4)}"
    try:
        wheels = tmp / WHEELS_DIR
        wheels.mkdir(parents=True)
        _download(requirements, wheels, platform, python_version)
        bundled = tmp / requirements.name
        bundled.write_text(HEADER + "\n".join(_kept_lines(text)) + "\n", "utf-8")
        names = tuple(sorted(p.name for p in wheels.iterdir()))
        yield Bundle(bundled, wheels, names)
    finally:
        remove_path(tmp)


def _download(requirements: Path, dest: Path, platform: str | None, version: str | None) -> None:
    args = pip_download_args(requirements, dest, platform, version)
    try:
        done = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT,
            check=False,
            cwd=requirements.parent,
            env={**os.environ, "PIP_REQUIRE_VIRTUALENV": "0"},
        )
    except subprocess.TimeoutExpired:
        raise InputError(f"pip download did not finish within {PIP_TIMEOUT} s") from None
    if done.returncode == 0:
        return
    if "No module named pip" in done.stderr:
        raise UsageError(
            f"--bundle-requirements runs pip, and {sys.executable!r} has no pip",
            hint="Install pip into mararch's environment (python -m ensurepip).",
        )
    tail = "\n".join(f"  {line}" for line in done.stderr.strip().splitlines()[-8:])
    raise InputError(
        f"pip could not download the wheels {str(requirements)!r} needs:\n{tail}",
        path=str(requirements),
        hint="Only binary wheels can be bundled; check --target-platform/--target-python, and "
        "pip's index settings (PIP_INDEX_URL, PIP_FIND_LINKS, pip.conf).",
    )


__all__ = ["Bundle", "bundled_requirements", "pip_download_args"]
