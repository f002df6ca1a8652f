"""The supported Python versions are said once and honoured everywhere: requires-python, the
classifiers, ruff's and mypy's targets, and the nox sessions that CI runs the suite in."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from packaging.specifiers import SpecifierSet

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).parent.parent
SUPPORTED = ["3.10", "3.11", "3.12", "3.13"]


def pyproject() -> dict:  # type: ignore[type-arg]
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


def test_requires_python_is_the_oldest_supported_version() -> None:
    spec = SpecifierSet(pyproject()["project"]["requires-python"])
    assert "3.9" not in spec  # past its end of life, and nothing tests it
    assert all(v in spec for v in SUPPORTED)
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in spec


def test_classifiers_name_every_supported_version() -> None:
    classifiers = pyproject()["project"]["classifiers"]
    named = [c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(r".*Python :: 3\.\d+", c)]
    assert named == SUPPORTED


def test_tools_target_the_oldest_supported_version() -> None:
    tool = pyproject()["tool"]
    assert tool["ruff"]["target-version"] == "py310"
    assert tool["mypy"]["python_version"] == "3.10"


def test_ci_runs_the_suite_on_every_supported_version() -> None:
    noxfile = (ROOT / "noxfile.py").read_text()
    sessions = re.search(r"^PYTHONS = (\[.*\])$", noxfile, re.M)
    assert sessions is not None
    assert ast.literal_eval(sessions.group(1)) == SUPPORTED
    assert re.search(r"^\s*nox\b", (ROOT / ".ci" / "run").read_text(), re.M)
