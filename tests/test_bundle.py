"""`create --bundle-requirements`: the wheels go into the archive, and pip installs them the way
TorchServe 0.12 runs it, with the index unreachable."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from typer.testing import CliRunner, Result

from helpers_bundle import (
    DEP_MODULE,
    closed_port_index,
    create_args,
    make_wheel,
    offline_pip_env,
)
from mararch.cli import app

HANDLER = f"import {DEP_MODULE}\n\n\ndef handle(data, context):\n    return data\n"


def create(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> Result:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "handler.py").write_text(HANDLER)
    (src / "requirements.txt").write_text(
        "# the model's one dependency\n--index-url https://example.invalid/simple\n"
        "mararch-e2e-dep==1.0\n"
    )
    args = [*create_args(src / "handler.py", src / "requirements.txt", tmp_path / "out"), *extra]
    return CliRunner().invoke(app, args, env=env, catch_exceptions=False)


def test_wheels_and_offline_requirements_are_packaged(tmp_path: Path) -> None:
    make_wheel(tmp_path / "links")

    result = create(tmp_path, "--bundle-requirements", env=offline_pip_env(tmp_path / "links"))

    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(tmp_path / "out" / "dep.mar") as zf:
        names = set(zf.namelist())
        requirements = zf.read("requirements.txt").decode()
    assert f"wheels/{DEP_MODULE}-1.0-py3-none-any.whl" in names
    lines = [x for x in requirements.splitlines() if not x.startswith("#")]
    # The user's index option is replaced: the archive's wheels are the only source.
    assert lines == ["--no-index", "--find-links wheels", "mararch-e2e-dep==1.0"]
    # The download folder is gone.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dep.mar"]


def test_pip_installs_the_bundle_as_torchserve_runs_it_with_no_index(tmp_path: Path) -> None:
    make_wheel(tmp_path / "links")
    assert (
        create(tmp_path, "--bundle-requirements", env=offline_pip_env(tmp_path / "links")).exit_code
        == 0
    )
    model_dir = tmp_path / "model"
    with zipfile.ZipFile(tmp_path / "out" / "dep.mar") as zf:
        zf.extractall(model_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_INDEX_URL"] = closed_port_index()

    # ModelManager.setupModelDependencies: cwd MODEL_DIR, `pip install -U -t MODEL_DIR -r ABS`.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-U",
            "-t",
            str(model_dir),
            "-r",
            str(model_dir / "requirements.txt"),
        ],
        cwd=model_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert (model_dir / DEP_MODULE / "__init__.py").is_file()


def test_a_missing_wheel_is_a_clear_error_and_nothing_is_left(tmp_path: Path) -> None:
    (tmp_path / "links").mkdir()

    result = create(tmp_path, "--bundle-requirements", env=offline_pip_env(tmp_path / "links"))

    assert result.exit_code == 1
    assert "pip could not download the wheels" in result.stderr
    assert "mararch-e2e-dep==1.0" in result.stderr
    assert list((tmp_path / "out").iterdir()) == []


def test_target_flags_need_bundle_requirements(tmp_path: Path) -> None:
    result = create(tmp_path, "--target-python", "3.11")

    assert result.exit_code == 2
    assert "--target-platform and --target-python go with --bundle-requirements" in result.stderr


def test_target_platform_and_python_are_passed_to_pip(tmp_path: Path) -> None:
    make_wheel(tmp_path / "links")

    result = create(
        tmp_path,
        "--bundle-requirements",
        "--target-platform",
        "manylinux2014_aarch64",
        "--target-python",
        "3.9",
        env=offline_pip_env(tmp_path / "links"),
    )

    # A pure-Python wheel fits any platform and Python 3.
    assert result.exit_code == 0, result.output
