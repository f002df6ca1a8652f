"""Fixtures shared by the tests; the helpers they use live in tests/helpers.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# Re-exported for test modules that still import helpers from here.
from helpers import (  # noqa: F401
    Cli,
    ModelInputs,
    assert_exits_ok,
    make_model,
    sigint_default,
    spawn_mararch,
    tree,
    write_files,
)


@pytest.fixture(autouse=True)
def _plain_console(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fixed width, no colour: assertions on messages must not depend on the terminal.
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


@pytest.fixture
def model(tmp_path: Path) -> ModelInputs:
    return make_model(tmp_path / "src")


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    work = tmp_path / "work"
    work.mkdir()
    yield Cli(work)
