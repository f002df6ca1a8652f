"""`mararch deploy --kserve` trees served by real TorchServe 0.12, started as KServe's runtime
starts it; broken trees refused by `mararch verify` and failing in the server too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers_bundle import (
    DEP_MODULE,
    DEP_VALUE,
    closed_port_index,
    create_args,
    make_wheel,
    offline_pip_env,
)

from .conftest import mararch
from .kserve import KServeTorchServe, kserve_torchserve
from .servers import TORCHSERVE, find_server, new_server_root

#: A module-level handler: with the kserve envelope each of the request's `instances` arrives as
#: one item of `data`, and the list returned becomes `predictions`.
SUMS_HANDLER = """\
def handle(data, context):
    if data is None:
        return None
    return [sum(instance) for instance in data]
"""
LABELS_HANDLER = """\
import os

_labels = None


def handle(data, context):
    global _labels
    if _labels is None:
        with open(os.path.join(context.system_properties["model_dir"], "labels.txt")) as f:
            _labels = f.read().split()
    if data is None:
        return None
    return [_labels[len(instance) % len(_labels)] for instance in data]
"""


@pytest.fixture(scope="module")
def torchserve_binary() -> Path:
    return find_server(TORCHSERVE)


@pytest.fixture
def home() -> Iterator[Path]:
    root = new_server_root()
    yield root
    shutil.rmtree(root, ignore_errors=True)


def build_models(folder: Path) -> tuple[Path, Path]:
    """`sums.mar` (a .mar) and `labels/` (a no-archive folder with a model-config.yaml)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sums_handler.py").write_text(SUMS_HANDLER)
    (folder / "labels_handler.py").write_text(LABELS_HANDLER)
    (folder / "labels.txt").write_text("even odd\n")
    (folder / "model-config.yaml").write_text(
        "minWorkers: 1\nmaxWorkers: 2\nbatchSize: 1\nmaxBatchDelay: 50\nresponseTimeout: 60\n"
    )
    common = ("--version", "1.0", "--export-path", folder)
    made = mararch(
        "create", "--model-name", "sums", "--handler", folder / "sums_handler.py", *common
    )
    assert made.returncode == 0, made.stderr
    made = mararch(
        "create",
        "--model-name",
        "labels",
        "--handler",
        folder / "labels_handler.py",
        "--extra-files",
        folder / "labels.txt",
        "--config-file",
        folder / "model-config.yaml",
        "--archive-format",
        "no-archive",
        *common,
    )
    assert made.returncode == 0, made.stderr
    return folder / "sums.mar", folder / "labels"


def deploy(tmp_path: Path, *archives: Path) -> Path:
    tree = tmp_path / "tree"
    written = mararch("deploy", tree, *archives, "--kserve")
    assert written.returncode == 0, written.stdout + written.stderr
    return tree


def predict(
    server: KServeTorchServe, name: str, instances: list[list[int]], timeout: float = 60
) -> tuple[int, str]:
    """A KServe v1 request on TorchServe's own inference API (service_envelope=kserve)."""
    answer = server.request(
        "POST", f"/predictions/{name}", {"instances": instances}, timeout=timeout
    )
    return answer.status, answer.text


def test_kserve_tree_with_a_mar_and_a_folder_is_served(
    torchserve_binary: Path, home: Path, tmp_path: Path
) -> None:
    tree = deploy(tmp_path, *build_models(tmp_path / "src"))
    verified = mararch("verify", tree)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "PASSED" in verified.stdout

    with kserve_torchserve(torchserve_binary, tree, home) as server:
        assert server.process.poll() is None, server.log_tail()
        assert server.models() == ["labels", "sums"]
        server.wait_ready(["labels", "sums"])
        status, body = predict(server, "sums", [[1, 2], [3, 4, 5]])
        assert status == 200, body
        assert json.loads(body) == {"predictions": [3, 12]}
        status, body = predict(server, "labels", [[1, 2], [3]])
        assert status == 200, body
        assert json.loads(body) == {"predictions": ["even", "odd"]}
        # The snapshot carried the folder's model-config.yaml settings to the server.
        described = server.request("GET", "/models/labels").json()[0]
        assert (described["minWorkers"], described["maxWorkers"]) == (1, 2)
        assert (described["maxBatchDelay"], described["responseTimeout"]) == (50, 60)


def broken_tree(tmp_path: Path, breakage: Callable[[Path], None]) -> Path:
    """A KServe tree of the `sums` model, then broken."""
    sums, _ = build_models(tmp_path / "src")
    tree = deploy(tmp_path, sums)
    breakage(tree)
    return tree


def _edit_config(tree: Path, edit: Callable[[str], str]) -> None:
    config = tree / "config" / "config.properties"
    config.write_text(edit(config.read_text()))


def _missing_mar(tree: Path) -> None:
    (tree / "model-store" / "sums.mar").unlink()


def _kfserving(tree: Path) -> None:
    _edit_config(tree, lambda t: t.replace("service_envelope=kserve", "service_envelope=kfserving"))


def _count_as_string(tree: Path) -> None:
    _edit_config(tree, lambda t: t.replace('"modelCount":1', '"modelCount":"1"'))


def _name_mismatch(tree: Path) -> None:
    _edit_config(tree, lambda t: t.replace('"models":{"sums":', '"models":{"summer":'))


@pytest.mark.parametrize(
    ("breakage", "code", "envelope", "server_says"),
    [
        # SnapshotManager.validate refuses the snapshot: TorchServe exits at start-up.
        (_missing_mar, "snapshot-mar-missing", "kserve", "not found in model store"),
        # The worker imports ts.torch_handler.request_envelope.kfserving, which 0.12 removed.
        (_kfserving, "envelope-retired", "kfserving", "request_envelope.kfserving"),
        # Registered under the snapshot's name: the archive's name answers 404.
        (_name_mismatch, "snapshot-model-name", "kserve", "summer"),
    ],
    ids=["missing-mar", "kfserving-envelope", "model-name-mismatch"],
)
def test_broken_tree_refused_by_verify_and_failing_in_torchserve(
    torchserve_binary: Path,
    home: Path,
    tmp_path: Path,
    breakage: Callable[[Path], None],
    code: str,
    envelope: str,
    server_says: str,
) -> None:
    tree = broken_tree(tmp_path, breakage)

    verified = mararch("verify", tree, "--json")
    assert verified.returncode == 1, verified.stdout + verified.stderr
    assert code in [f["code"] for f in json.loads(verified.stdout)["findings"]]

    with kserve_torchserve(torchserve_binary, tree, home, envelope=envelope) as server:
        # The client's view: /predictions/sums with a KServe v1 request does not answer.
        if server.process.poll() is None:
            server.settle("sums")
            # A model whose worker cannot load leaves the request queued: no answer is a failure.
            status, body = predict(server, "sums", [[1, 2]], timeout=20)
        else:
            status, body = 0, "TorchServe exited"
        assert status != 200, body
        if code == "snapshot-mar-missing":
            # Java exits (the launcher itself reports 0): nothing listens any more.
            server.process.wait(timeout=60)
        listed = server.models() if server.process.poll() is None else []
        assert server_says in server.logs() + " ".join(listed), server.log_tail()


def test_model_count_as_a_string_is_read_by_torchserve_and_warned_about(
    torchserve_binary: Path, home: Path, tmp_path: Path
) -> None:
    # KServe's generator writes "modelCount":"1". TorchServe 0.12 reads it with Gson, which
    # parses a quoted integer: the model loads. verify warns (and fails with --strict) instead of
    # refusing what the server accepts.
    tree = broken_tree(tmp_path, _count_as_string)

    verified = mararch("verify", tree, "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert [f["code"] for f in report["findings"] if f["severity"] == "warning"] == ["snapshot-int"]
    assert mararch("verify", tree, "--strict").returncode == 1

    with kserve_torchserve(torchserve_binary, tree, home) as server:
        server.wait_ready(["sums"])
        status, body = predict(server, "sums", [[1, 2]])
        assert (status, json.loads(body)) == (200, {"predictions": [3]})


DEP_HANDLER = f"""\
import {DEP_MODULE}


def handle(data, context):
    if data is None:
        return None
    return [{DEP_MODULE}.VALUE + sum(instance) for instance in data]
"""


def test_bundled_wheel_installs_with_no_index(
    torchserve_binary: Path, home: Path, tmp_path: Path
) -> None:
    # The handler imports a package that exists only as the wheel bundled in the archive; pip's
    # index is a closed port on 127.0.0.1, so only the bundle can satisfy the requirement.
    src = tmp_path / "src"
    src.mkdir()
    (src / "dep_handler.py").write_text(DEP_HANDLER)
    (src / "requirements.txt").write_text("mararch-e2e-dep==1.0\n")
    make_wheel(tmp_path / "links")
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "mararch",
            *create_args(src / "dep_handler.py", src / "requirements.txt", src),
            "--bundle-requirements",
        ],
        env={**os.environ, **offline_pip_env(tmp_path / "links")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    tree = deploy(tmp_path, src / "dep.mar")
    assert "install_py_dep_per_model=true" in (tree / "config" / "config.properties").read_text()

    with kserve_torchserve(
        torchserve_binary, tree, home, PIP_INDEX_URL=closed_port_index()
    ) as server:
        server.wait_ready(["dep"])
        status, body = predict(server, "dep", [[1, 2]])
        assert (status, json.loads(body)) == (200, {"predictions": [DEP_VALUE + 3]})
        assert "Installed custom pip packages for model dep" in server.logs()


def test_two_versions_of_one_model_highest_is_default(
    torchserve_binary: Path, home: Path, tmp_path: Path
) -> None:
    archives = []
    for version, factor in (("1.0", 1), ("2.0", 10)):
        src = tmp_path / f"v{version}"
        src.mkdir()
        (src / "sums_handler.py").write_text(
            SUMS_HANDLER.replace("sum(instance)", f"{factor} * sum(instance)")
        )
        made = mararch(
            "create",
            "--model-name",
            "sums",
            "--version",
            version,
            "--handler",
            src / "sums_handler.py",
            "--export-path",
            src,
        )
        assert made.returncode == 0, made.stderr
        archives.append((src / "sums.mar").rename(tmp_path / f"sums-{version}.mar"))
    tree = deploy(tmp_path, *archives)
    assert mararch("verify", tree).returncode == 0

    with kserve_torchserve(torchserve_binary, tree, home) as server:
        server.wait_ready(["sums"])
        for path, expected in (("sums", 30), ("sums/2.0", 30), ("sums/1.0", 3)):
            # wait_ready saw the default version's worker; the other may still be starting.
            status, body = predict(server, path, [[1, 2]])
            for _ in range(120):
                if status != 503:
                    break
                time.sleep(1)
                status, body = predict(server, path, [[1, 2]])
            assert (status, json.loads(body)) == (200, {"predictions": [expected]})
