"""The weights rules of `mararch verify` against the real TorchServe 0.12: every archive verify
fails for "weights not loadable" is refused by the server's worker, and the server's error is
shown beside mararch's finding; a malicious state_dict is refused by verify before the server
ever unpickles it (torch 2.13's torch.load refuses it too; an older torch would run it).

The archives are built with `mararch create --no-verify`, since create refuses them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers_pickles import torch_zip

from .conftest import TinyModels, mararch
from .handlers import BASE_HANDLER_SUBCLASS
from .servers import Server

TWO_CLASSES = "\n\nclass Helper:\n    pass\n"


@dataclass(frozen=True)
class Case:
    name: str
    #: the serialized file (a path made by a fixture) and whether the model file goes in
    weights: str
    model_file: bool
    extra_model_source: str = ""
    #: mararch's finding, and what the server says (in its log)
    code: str = "weights-not-loadable"
    server_says: str = ""


CASES = [
    # A state_dict without a model file: BaseHandler calls torch.jit.load on it.
    Case("state_dict_alone", "state_dict.pt", False, server_says="constants.pkl"),
    # TorchScript named .pth: only ".pt" goes to torch.jit.load.
    Case("scripted_pth", "scripted.pth", False, server_says="No model weights could be loaded"),
    # Two classes in the model file.
    Case(
        "two_classes",
        "state_dict.pt",
        True,
        TWO_CLASSES,
        code="model-file-classes",
        server_says="Expected only one class as model definition",
    ),
]


def build(tiny: TinyModels, case: Case, tmp_path: Path, store: Path) -> Path:
    src = tmp_path / case.name
    src.mkdir()
    (src / "tiny_handler.py").write_text(BASE_HANDLER_SUBCLASS)
    weights = src / case.weights
    original = tiny.scripted if case.weights.startswith("scripted") else tiny.state_dict
    weights.write_bytes(original.read_bytes())
    args = ["--serialized-file", weights, "--handler", src / "tiny_handler.py"]
    if case.model_file:
        (src / "model.py").write_text(tiny.model_file.read_text() + case.extra_model_source)
        args += ["--model-file", src / "model.py"]
    result = mararch(
        "create", "--model-name", case.name, "-v", "1.0", *args,
        "--export-path", store, "--no-verify", "--force",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return store / f"{case.name}.mar"


def verify_errors(archive: Path) -> dict[str, str]:
    result = mararch("verify", "--json", archive)
    assert result.returncode == 1, result.stdout + result.stderr
    return {
        f["code"]: f"{f['member']}: {f['message']}"
        for f in json.loads(result.stdout)["findings"]
        if f["severity"] == "error"
    }


def server_error(server: Server, archive: Path, name: str) -> str:
    """Registers the archive, expects the worker to fail, returns the worker's error lines."""
    before = len(server.logs())
    response = server.register(archive.name, name)
    try:
        assert response.status == 500, response.text
        assert (
            response.json()["message"] == f"Failed to start workers for model {name} version: 1.0"
        )
    finally:
        if response.status == 200:
            server.unregister(name)
    return server.logs()[before:]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_torchserve_refuses_what_verify_calls_not_loadable(
    torchserve: Server, tiny: TinyModels, case: Case, tmp_path: Path
) -> None:
    archive = build(tiny, case, tmp_path, torchserve.model_store)
    finding = verify_errors(archive).get(case.code)
    log = server_error(torchserve, archive, case.name)
    # Side by side, in the test's output (pytest -rA) and in any failure.
    side_by_side = f"mararch [{case.code}] {finding}\nTorchServe: " + "\n".join(
        line for line in log.splitlines() if case.server_says in line
    )
    print(side_by_side)
    assert finding is not None, side_by_side
    assert case.server_says in log, log[-4000:]


def test_verify_refuses_a_malicious_state_dict_that_the_server_must_not_load(
    torchserve: Server, tiny: TinyModels, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    command = f"touch {marker}".encode()
    evil = (
        b"\x80\x02cposix\nsystem\nq\x00X" + len(command).to_bytes(4, "little") + command + b"\x85R."
    )
    src = tmp_path / "src"
    src.mkdir()
    (src / "tiny_handler.py").write_text(BASE_HANDLER_SUBCLASS)
    (src / "state_dict.pt").write_bytes(torch_zip(evil, root="state_dict"))
    store = torchserve.model_store
    result = mararch(
        "create", "--model-name", "evil", "-v", "1.0",
        "--model-file", tiny.model_file, "--serialized-file", src / "state_dict.pt",
        "--handler", src / "tiny_handler.py", "--export-path", store, "--no-verify", "--force",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    finding = verify_errors(store / "evil.mar").get("pickle-unsafe-import")
    assert finding is not None and "posix.system" in finding
    log = server_error(torchserve, store / "evil.mar", "evil")
    refusal = [
        line for line in log.splitlines() if "posix.system" in line or "Weights only" in line
    ]
    print(f"mararch [pickle-unsafe-import] {finding}\nTorchServe: " + "\n".join(refusal[:3]))
    # torch 2.13's torch.load defaults to weights_only=True and refuses the import; an older
    # torch (< 2.6) would have run the command.
    assert "Weights only load failed" in log or "weights_only" in log, log[-4000:]
    assert not marker.exists()
