"""Archives that break the servers' rules are in fact refused by the servers at registration.

Each broken archive is a good mararch archive with one small edit (Python's zipfile), so that
the rules `mararch verify` enforces stay tied to what the real servers do.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from .conftest import TinyModels, eager_model_args, mararch
from .legacy_models import legacy, mms_model_folder
from .servers import Server

MANIFEST = "MAR-INF/MANIFEST.json"


def rewrite(
    archive: Path,
    out: Path,
    drop: frozenset[str] = frozenset(),
    manifest_edit: dict[str, object] | None = None,
) -> Path:
    """A copy of `archive` without the `drop` members and with top-level manifest keys changed."""
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename in drop:
                continue
            data = src.read(info)
            if info.filename == MANIFEST and manifest_edit is not None:
                manifest = json.loads(data)
                manifest.update(manifest_edit)
                data = json.dumps(manifest, indent=2).encode()
            dst.writestr(info, data, compress_type=info.compress_type)
    return out


def torchserve_archive(tiny: TinyModels, tmp_path: Path) -> Path:
    build = tmp_path / "build"
    result = mararch(
        "create",
        "--model-name",
        "tiny",
        "--version",
        "1.0",
        *eager_model_args(tiny, tmp_path),
        "--export-path",
        build,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return build / "tiny.mar"


def mms_archive(tmp_path: Path) -> Path:
    build = tmp_path / "build"
    legacy(mms_model_folder(tmp_path / "model"), "mms_tiny", build)
    return build / "mms_tiny.mar"


def assert_refused(server: Server, archive: Path, name: str, status: int, message: str) -> None:
    response = server.register(archive.name, name)
    try:
        assert (response.status, response.json()["message"]) == (status, message), response.text
        listed = server.request("GET", "management", "/models").json()["models"]
        assert name not in [m["modelName"] for m in listed]
    finally:
        if response.status == 200:
            server.unregister(name)


def assert_verify_refuses(archive: Path, code: str) -> None:
    """`mararch verify` fails the same archive, for the reason the server gave."""
    result = mararch("verify", "--json", archive)
    assert result.returncode == 1, result.stdout + result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert code in [f["code"] for f in findings if f["severity"] == "error"], findings


def assert_bad_runtime_refused(server: Server, good: Path) -> None:
    """Both servers refuse the same way a manifest whose runtime is not one they know."""
    broken = rewrite(
        good, server.model_store / "bad_runtime.mar", manifest_edit={"runtime": "python4"}
    )

    assert_refused(server, broken, "bad_runtime", 400, "Runtime is not defined or invalid.")
    assert_verify_refuses(broken, "runtime-invalid")


def test_torchserve_refuses_a_missing_handler_file(
    torchserve: Server, tiny: TinyModels, tmp_path: Path
) -> None:
    broken = rewrite(
        torchserve_archive(tiny, tmp_path),
        torchserve.model_store / "no_handler.mar",
        drop=frozenset({"tiny_handler.py"}),
    )

    # The frontend accepts the manifest; the worker cannot import the handler and dies.
    assert_refused(
        torchserve,
        broken,
        "no_handler",
        500,
        "Failed to start workers for model no_handler version: 1.0",
    )
    assert "No module named 'tiny_handler'" in torchserve.logs()
    assert_verify_refuses(broken, "handler-missing")


def test_torchserve_refuses_a_bad_runtime(
    torchserve: Server, tiny: TinyModels, tmp_path: Path
) -> None:
    assert_bad_runtime_refused(torchserve, torchserve_archive(tiny, tmp_path))


def test_mms_refuses_a_bad_runtime(mms: Server, tmp_path: Path) -> None:
    assert_bad_runtime_refused(mms, mms_archive(tmp_path))


def test_mms_refuses_a_missing_handler_file(mms: Server, tmp_path: Path) -> None:
    broken = rewrite(
        mms_archive(tmp_path), mms.model_store / "no_handler.mar", drop=frozenset({"service.py"})
    )

    assert_refused(mms, broken, "no_handler", 500, "Failed to start workers")
    assert "No module named 'service'" in mms.logs()
    assert_verify_refuses(broken, "handler-missing")


def test_mms_refuses_an_archive_without_manifest(mms: Server, tmp_path: Path) -> None:
    # Unlike TorchServe, MMS has no default handler: without a manifest it names none.
    broken = rewrite(
        mms_archive(tmp_path), mms.model_store / "no_manifest.mar", drop=frozenset({MANIFEST})
    )

    assert_refused(mms, broken, "no_manifest", 400, "Model handler is not defined.")
    assert_verify_refuses(broken, "manifest-missing")
