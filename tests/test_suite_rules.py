"""Rules that keep the test suite honest, checked on its own source: a CLI test fails when a command
raises, and test modules share helpers through helper modules, never by importing each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
MODULES = sorted(p for p in TESTS.rglob("*.py") if "fixtures" not in p.parts)


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(TESTS)))
def test_cli_runner_lets_exceptions_through(path: Path) -> None:
    # CliRunner catches exceptions by default and turns them into an exit code of 1: a test that
    # expects exit 1 would then pass on a traceback.
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "invoke":
            given = {k.arg: k.value for k in node.keywords}
            value = given.get("catch_exceptions")
            assert isinstance(value, ast.Constant) and value.value is False, (
                f"{path.name}:{node.lineno}: CliRunner.invoke without catch_exceptions=False"
            )


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(TESTS)))
def test_test_modules_do_not_import_each_other(path: Path) -> None:
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            last = name.rsplit(".", 1)[-1]
            assert not last.startswith("test_"), (
                f"{path.name}:{node.lineno}: imports the test module {name!r}; "
                "move what it shares into a helper module"
            )
