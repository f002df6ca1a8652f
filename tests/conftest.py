"""Shared test helpers: model inputs built in tmp_path, and a CLI runner with fixed output."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from mararch.cli import app


@pytest.fixture(autouse=True)
def _plain_console(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fixed width, no colour: assertions on messages must not depend on the terminal.
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def sigint_default() -> None:
    """`preexec_fn` for a child that must see Ctrl-C: a shell starts background jobs with SIGINT
    ignored, and Python keeps ignoring it, so a signal test must not depend on how the suite was
    launched."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class ModelInputs:
    """A small eager-mode model laid out as users keep one."""

    root: Path
    model_file: Path
    serialized_file: Path
    handler: Path
    config_file: Path
    requirements_file: Path
    assets: Path
    index: Path


def make_model(root: Path) -> ModelInputs:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.py").write_text(
        "import torch\n\n\nclass Net(torch.nn.Module):\n    def forward(self, x):\n"
        "        return x\n"
    )
    (root / "model.pt").write_bytes(os.urandom(200_000))
    (root / "my_handler.py").write_text("def handle(data, context):\n    return [len(data)]\n")
    (root / "model-config.yaml").write_text("minWorkers: 1\nmaxWorkers: 2\nbatchSize: 4\n")
    (root / "requirements.txt").write_text("numpy>=1.20\n")
    assets = root / "assets"
    (assets / "vocab").mkdir(parents=True)
    (assets / "labels.txt").write_text("cat\ndog\n")
    (assets / "vocab" / "words.txt").write_text("a\nb\n" * 100)
    (assets / ".hidden-file").write_text("kept, as the reference keeps it\n")
    (assets / ".git").mkdir()
    (assets / ".git" / "HEAD").write_text("dropped: hidden folder\n")
    (assets / "__pycache__").mkdir()
    (assets / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0" * 10)
    (root / "index_to_name.json").write_text('{"0": "cat", "1": "dog"}\n')
    return ModelInputs(
        root=root,
        model_file=root / "model.py",
        serialized_file=root / "model.pt",
        handler=root / "my_handler.py",
        config_file=root / "model-config.yaml",
        requirements_file=root / "requirements.txt",
        assets=assets,
        index=root / "index_to_name.json",
    )


@pytest.fixture
def model(tmp_path: Path) -> ModelInputs:
    return make_model(tmp_path / "src")


class Cli:
    """Runs `mararch` in-process, in a given working directory."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.runner = CliRunner()

    def __call__(self, *args: str | os.PathLike[str], env: dict[str, str] | None = None) -> Result:
        old = Path.cwd()
        os.chdir(self.cwd)
        try:
            return self.runner.invoke(app, [str(a) for a in args], env=env)
        finally:
            os.chdir(old)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    work = tmp_path / "work"
    work.mkdir()
    yield Cli(work)


def tree(root: Path) -> dict[str, bytes]:
    """Every file below `root` as {relative posix path: bytes}."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def write_files(root: Path, files: Mapping[str, bytes]) -> Path:
    """Writes {relative posix path: bytes} below `root` (the inverse of `tree`); returns `root`."""
    for name, data in files.items():
        path = root.joinpath(*name.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def spawn_mararch(*args: str | Path, cwd: Path) -> Any:
    """`mararch ARGS` in a pseudo-terminal (pexpect, POSIX only): it prompts as for a person."""
    import pexpect

    return pexpect.spawn(
        sys.executable,
        ["-m", "mararch", *map(str, args)],
        cwd=str(cwd),
        env={**os.environ, "NO_COLOR": "1"},
        timeout=30,
        encoding="utf-8",
    )


def assert_exits_ok(child: Any) -> None:
    """Waits for a spawn_mararch child to end; it must exit 0."""
    import pexpect

    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
