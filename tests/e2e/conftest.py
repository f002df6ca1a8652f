"""Fixtures of the e2e tier: one real TorchServe and one real MMS per test session, the tiny
torch models, and the server log tail attached to every failing test's report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from . import handlers
from .servers import MMS, TORCHSERVE, Kind, Server, find_server, new_server_root

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        for name in ("torchserve", "mms"):
            server = item.funcargs.get(name) if hasattr(item, "funcargs") else None
            if isinstance(server, Server):
                report.sections.append((f"{server.kind.name} log tail", server.log_tail()))
    return report


def _serve(kind: Kind) -> Iterator[Server]:
    binary = find_server(kind)
    server = Server(kind, binary, new_server_root())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def torchserve() -> Iterator[Server]:
    yield from _serve(TORCHSERVE)


@pytest.fixture(scope="session")
def mms() -> Iterator[Server]:
    yield from _serve(MMS)


@dataclass(frozen=True)
class TinyModels:
    """The files torch_models.py made, and the output the local torch computed."""

    root: Path
    model_file: Path
    state_dict: Path
    scripted: Path
    input: list[list[float]]
    output: list[list[float]]


@pytest.fixture(scope="session")
def tiny(torchserve: Server, tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    # The TorchServe venv's Python has the pinned torch; the test venv does not need it.
    python = torchserve.binary.parent / "python"
    out = tmp_path_factory.mktemp("tiny")
    subprocess.run([str(python), str(HERE / "torch_models.py"), str(out)], check=True, timeout=300)
    expected = json.loads((out / "expected.json").read_text())
    return TinyModels(
        root=out,
        model_file=out / "model.py",
        state_dict=out / "state_dict.pt",
        scripted=out / "scripted.pt",
        input=expected["input"],
        output=expected["output"],
    )


def mararch(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Runs the mararch CLI of the test venv, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "mararch", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def eager_model_args(tiny: TinyModels, folder: Path) -> list[str | Path]:
    """`create` arguments for the tiny eager model with the BaseHandler subclass, written as
    `folder`/tiny_handler.py."""
    folder.mkdir(parents=True, exist_ok=True)
    handler = folder / "tiny_handler.py"
    handler.write_text(handlers.BASE_HANDLER_SUBCLASS)
    return [
        "--model-file",
        tiny.model_file,
        "--serialized-file",
        tiny.state_dict,
        "--handler",
        handler,
    ]
