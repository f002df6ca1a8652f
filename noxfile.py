"""The default test suite on every supported Python: `nox` runs them all, `nox -s tests-3.12` one.

The interpreters are found on PATH, and in pyenv's versions folder (where the CI machines have
them); a missing one is an error, never a silent skip. The e2e tier runs on one version, from
`.ci/run`.
"""

from __future__ import annotations

import glob
import os

import nox

#: The supported versions: keep in step with requires-python and the classifiers in
#: pyproject.toml (tests/test_python_versions.py checks it).
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = True
nox.options.download_python = "never"  # no interpreter downloads: registries only
nox.options.reuse_existing_virtualenvs = True

_PYENV = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
_pyenv = [
    folder
    for version in PYTHONS
    for folder in sorted(glob.glob(os.path.join(_PYENV, "versions", f"{version}.*", "bin")))
]
# After PATH, not before: pyenv's `python3` must not replace the one already there.
os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), *_pyenv])


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The default pytest selection (the e2e tier and other marked tiers stay out)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *session.posargs)
