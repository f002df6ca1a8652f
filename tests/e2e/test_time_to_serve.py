"""TorchServe 0.12 serves what time-to-serve's `auto` builds: float32 weights stored, text
deflated; and an every-member-deflated archive re-packed by `mararch convert --compression auto`."""

from __future__ import annotations

import hashlib
import random
import struct
import zipfile
from pathlib import Path

import pytest

from .conftest import mararch
from .servers import Server

WEIGHTS = "weights.bin"
VOCAB = "vocab.txt"

#: A pure-Python handler (no torch): it answers the SHA-256 of the files TorchServe unpacked, which
#: proves both members came out of the archive byte for byte.
DIGEST_HANDLER = """\
import hashlib
import os

_digests = None


def handle(data, context):
    global _digests
    if _digests is None:
        model_dir = context.system_properties["model_dir"]
        _digests = {}
        for name in ("weights.bin", "vocab.txt"):
            with open(os.path.join(model_dir, name), "rb") as f:
                _digests[name] = hashlib.sha256(f.read()).hexdigest()
    if data is None:
        return None
    return [_digests for _ in data]
"""


def model_files(folder: Path) -> dict[str, Path]:
    """8 MiB of normal float32 weights (above the 4 MiB piece size: sampled), a 12 MB vocabulary
    and the handler."""
    folder.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(13)
    weights = folder / WEIGHTS
    with weights.open("wb") as f:
        for _ in range(8):
            f.write(struct.pack("<262144f", *(rnd.gauss(0, 0.02) for _ in range(262144))))
    vocab = folder / VOCAB
    with vocab.open("w") as f:
        for i in range(1_000_000):
            f.write(f"token{i} {i * 7919 % 10007}\n")
    handler = folder / "digest_handler.py"
    handler.write_text(DIGEST_HANDLER)
    return {"weights": weights, "vocab": vocab, "handler": handler}


def create(store: Path, name: str, files: dict[str, Path], *flags: str) -> Path:
    result = mararch(
        "create",
        "--model-name",
        name,
        "-v",
        "1.0",
        "--serialized-file",
        files["weights"],
        "--extra-files",
        files["vocab"],
        "--handler",
        f"{files['handler']}:handle",
        "--export-path",
        store,
        *flags,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return store / f"{name}.mar"


def serve_digests(server: Server, archive: Path, name: str) -> object:
    """Registers the archive, asks for the digests once, unregisters; returns the answer."""
    verified = mararch("verify", "--strict", archive)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    registered = server.register(archive.name, name)
    assert registered.status == 200, f"registration of {archive.name} failed: {registered.text}"
    try:
        answer = server.predict(name, {"input": []})
        assert answer.status == 200, answer.text
        return answer.json()
    finally:
        removed = server.unregister(name)
        assert removed.status == 200, removed.text


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return model_files(tmp_path_factory.mktemp("time-to-serve"))


def expected(files: dict[str, Path]) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in (files["weights"], files["vocab"])
    }


def test_default_archive_with_stored_weights_and_deflated_text_is_served(
    torchserve: Server, files: dict[str, Path]
) -> None:
    archive = create(torchserve.model_store, "tts_default", files)
    with zipfile.ZipFile(archive) as zf:
        assert zf.getinfo(WEIGHTS).compress_type == zipfile.ZIP_STORED
        vocab = zf.getinfo(VOCAB)
        assert vocab.compress_type == zipfile.ZIP_DEFLATED
        assert vocab.compress_size < vocab.file_size // 2

    assert serve_digests(torchserve, archive, "tts_default") == expected(files)


def test_deflated_archive_repacked_by_convert_is_served(
    torchserve: Server, files: dict[str, Path], tmp_path: Path
) -> None:
    deflated = create(tmp_path, "tts_repacked", files, "--compression", "deflate")
    repacked = torchserve.model_store / "tts_repacked.mar"
    result = mararch("convert", deflated, "--compression", "auto", "-o", repacked)
    assert result.returncode == 0, result.stdout + result.stderr
    with zipfile.ZipFile(repacked) as zf:
        assert zf.getinfo(WEIGHTS).compress_type == zipfile.ZIP_STORED
        assert zf.getinfo(VOCAB).compress_type == zipfile.ZIP_DEFLATED

    assert serve_digests(torchserve, repacked, "tts_repacked") == expected(files)
