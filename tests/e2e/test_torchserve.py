"""TorchServe 0.12 registers, serves and unregisters what `mararch create` builds."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from . import handlers
from .conftest import TinyModels, eager_model_args, mararch
from .servers import Server

#: Where each archive format lands in the model store, and the `url` TorchServe registers it by:
#: a .mar by its file name, a tgz by its NAME.tar.gz (read as gzip+tar, first path component
#: stripped), a no-archive folder by its folder name.
STORE_NAMES = {
    "default": "{}.mar",
    "zip-store": "{}.mar",
    "tgz": "{}.tar.gz",
    "no-archive": "{}",
}


def build(
    store: Path,
    name: str,
    *args: str | Path,
    archive_format: str = "default",
) -> str:
    """`mararch create` into the model store; returns the registration url."""
    result = mararch(
        "create",
        "--model-name",
        name,
        "--version",
        "1.0",
        "--export-path",
        store,
        "--archive-format",
        archive_format,
        *args,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    url = STORE_NAMES[archive_format].format(name)
    assert (store / url).exists(), sorted(p.name for p in store.iterdir())
    return url


def write_handler(folder: Path, filename: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(source)
    return path


def assert_close(actual: Any, expected: list[list[float]], scale: float = 1.0) -> None:
    # Same torch, same CPU: only float printing and parsing stand between the two.
    assert [len(row) for row in actual] == [len(row) for row in expected]
    flat = [v for row in actual for v in row]
    assert flat == pytest.approx([v * scale for row in expected for v in row], abs=1e-5)


def serve_once(
    server: Server, url: str, name: str, payload: Any, params: dict[str, str] | None = None
) -> tuple[Any, Any]:
    """Registers, describes, predicts once and unregisters; returns (prediction, description)."""
    # What the server accepts, `mararch verify` must pass too (no false alarms).
    verified = mararch("verify", server.model_store / url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    registered = server.register(url, name, **(params or {}))
    assert registered.status == 200, f"registration of {url} failed: {registered.text}"
    try:
        description = server.describe(name)
        answer = server.predict(name, payload)
        assert answer.status == 200, f"prediction on {name} failed: {answer.text}"
        return answer.json(), description
    finally:
        removed = server.unregister(name)
        assert removed.status == 200, removed.text


@pytest.mark.parametrize("archive_format", ["default", "zip-store", "tgz", "no-archive"])
def test_eager_model_with_base_handler_subclass(
    torchserve: Server, tiny: TinyModels, tmp_path: Path, archive_format: str
) -> None:
    name = f"tiny_eager_{archive_format.replace('-', '_')}"
    url = build(
        torchserve.model_store,
        name,
        *eager_model_args(tiny, tmp_path),
        archive_format=archive_format,
    )

    prediction, _ = serve_once(torchserve, url, name, {"input": tiny.input})

    assert_close(prediction, tiny.output)


@pytest.mark.parametrize(
    ("name", "filename", "source", "entry_point"),
    [
        ("tiny_scripted", "tiny_handler.py", handlers.BASE_HANDLER_SUBCLASS, ""),
        ("tiny_function", "entry.py", handlers.MODULE_FUNCTION, ":handle"),
    ],
    ids=["base-handler-subclass", "module-level-handle-function"],
)
def test_torchscript_model(
    torchserve: Server,
    tiny: TinyModels,
    tmp_path: Path,
    name: str,
    filename: str,
    source: str,
    entry_point: str,
) -> None:
    handler = write_handler(tmp_path, filename, source)
    url = build(
        torchserve.model_store,
        name,
        "--serialized-file",
        tiny.scripted,
        "--handler",
        f"{handler}{entry_point}",
    )

    prediction, _ = serve_once(torchserve, url, name, {"input": tiny.input})

    assert_close(prediction, tiny.output)


def test_config_file_values_reach_the_server_and_the_handler(
    torchserve: Server, tiny: TinyModels, tmp_path: Path
) -> None:
    config = tmp_path / "model-config.yaml"
    config.write_text(
        "minWorkers: 1\nmaxWorkers: 1\nbatchSize: 2\nmaxBatchDelay: 77\nresponseTimeout: 93\n"
        "handler:\n  scale: 2.5\n"
    )
    url = build(
        torchserve.model_store,
        "tiny_configured",
        *eager_model_args(tiny, tmp_path),
        "--config-file",
        config,
    )

    prediction, description = serve_once(
        torchserve, url, "tiny_configured", {"input": tiny.input}, params={"initial_workers": "1"}
    )

    (model,) = description
    assert (model["batchSize"], model["maxBatchDelay"], model["responseTimeout"]) == (2, 77, 93)
    assert (model["minWorkers"], model["maxWorkers"]) == (1, 1)
    assert_close(prediction, tiny.output, scale=2.5)


def test_requirements_file_is_accepted(
    torchserve: Server, tiny: TinyModels, tmp_path: Path
) -> None:
    # The server runs with install_py_dep_per_model=false (no network in CI): the archive must
    # still load, with the requirements file recorded in its manifest.
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy\n")
    url = build(
        torchserve.model_store,
        "tiny_requirements",
        *eager_model_args(tiny, tmp_path),
        "--requirements-file",
        requirements,
    )

    prediction, _ = serve_once(torchserve, url, "tiny_requirements", {"input": tiny.input})

    assert_close(prediction, tiny.output)


def test_large_member_deflated_in_parallel_pieces(
    torchserve: Server, tiny: TinyModels, tmp_path: Path
) -> None:
    # Above compress.PIECE_SIZE (4 MiB) `create` deflates a member in pieces on a thread pool and
    # joins them into one stream: Java's ZipInputStream checks each member's CRC-32 and size as
    # the server unpacks it, so a bad join fails the registration.
    vocab = tmp_path / "vocab.txt"
    with vocab.open("w") as f:
        for i in range(1_000_000):
            f.write(f"token{i} {i * 7919 % 10007}\n")
    assert vocab.stat().st_size > 3 * (4 << 20)
    url = build(
        torchserve.model_store,
        "tiny_large",
        *eager_model_args(tiny, tmp_path),
        "--extra-files",
        vocab,
    )
    with zipfile.ZipFile(torchserve.model_store / url) as archive:
        member = archive.getinfo("vocab.txt")
    assert member.compress_type == zipfile.ZIP_DEFLATED
    assert member.compress_size < member.file_size // 2

    prediction, _ = serve_once(torchserve, url, "tiny_large", {"input": tiny.input})

    assert_close(prediction, tiny.output)
