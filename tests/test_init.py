"""`mararch init`: a starter mararch.toml, asked for in a terminal or given by flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import Cli, assert_exits_ok, spawn_mararch

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def model_folder(root: Path) -> Path:
    """What a model folder holds when someone runs `mararch init` in it."""
    root.mkdir(parents=True)
    (root / "model.pt").write_bytes(os.urandom(5000))
    (root / "handler.py").write_text("def handle(data, context):\n    return data\n")
    (root / "model.py").write_text("class Net:\n    pass\n")
    (root / "model-config.yaml").write_text("minWorkers: 1\n")
    (root / "requirements.txt").write_text("numpy\n")
    return root


def read_spec(folder: Path) -> dict[str, object]:
    with (folder / "mararch.toml").open("rb") as fh:
        return tomllib.load(fh)


def test_flags_without_a_terminal(cli: Cli) -> None:
    model_folder(cli.cwd / "m")
    cli.cwd = cli.cwd / "m"
    result = cli(
        "init", "--model-name", "net", "-v", "2.0", "--handler", "handler.py",
        "--serialized-file", "model.pt", "-c", "model-config.yaml",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stderr
    assert "mararch create" in result.stderr
    text = (cli.cwd / "mararch.toml").read_text()
    assert text.startswith("# mararch build spec")
    assert '# model-file = "..."' in text  # what was not given stays a commented example
    assert read_spec(cli.cwd)["archive"] == {
        "net": {
            "model-name": "net",
            "version": "2.0",
            "handler": "handler.py",
            "serialized-file": "model.pt",
            "config-file": "model-config.yaml",
            "export-path": "model-store",
            "force": True,
        }
    }
    # The starter builds as it is, and again (force = true).
    for _ in range(2):
        built = cli("create")
        assert built.exit_code == 0, built.output
    with zipfile.ZipFile(cli.cwd / "model-store" / "net.mar") as zf:
        assert sorted(zf.namelist()) == [
            "MAR-INF/MANIFEST.json",
            "MAR-INF/digests.json",
            "handler.py",
            "model-config.yaml",
            "model.pt",
        ]
        manifest = json.loads(zf.read("MAR-INF/MANIFEST.json"))
    assert manifest["model"]["modelVersion"] == "2.0"


def test_builtin_handler_and_defaults(cli: Cli) -> None:
    result = cli("init", "--model-name", "tiny", "--handler", "image_classifier")
    assert result.exit_code == 0, result.output
    archive = read_spec(cli.cwd)["archive"]
    assert archive == {
        "tiny": {
            "model-name": "tiny",
            "version": "1.0",
            "handler": "image_classifier",
            "export-path": "model-store",
            "force": True,
        }
    }
    assert cli("create").exit_code == 0
    assert (cli.cwd / "model-store" / "tiny.mar").is_file()


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--handler", "handler.py"], "--model-name"),
        (["--model-name", "m"], "--handler"),
    ],
)
def test_missing_required_flag_without_a_terminal(args: list[str], flag: str, cli: Cli) -> None:
    result = cli("init", *args)
    assert result.exit_code == 2
    assert f"missing option {flag}" in result.stderr
    assert "in a terminal" in result.stderr
    assert not (cli.cwd / "mararch.toml").exists()


def test_invalid_model_name(cli: Cli) -> None:
    result = cli("init", "--model-name", "no spaces", "--handler", "h.py")
    assert result.exit_code == 2
    assert "invalid model name 'no spaces'" in result.stderr
    assert not (cli.cwd / "mararch.toml").exists()


def test_refuses_to_overwrite_without_force(cli: Cli) -> None:
    (cli.cwd / "mararch.toml").write_text("# mine\n")
    result = cli("init", "--model-name", "m", "--handler", "h.py")
    assert result.exit_code == 2
    assert "'mararch.toml' exists already" in result.stderr
    assert "--force" in result.stderr
    assert (cli.cwd / "mararch.toml").read_text() == "# mine\n"
    forced = cli("init", "--model-name", "m", "--handler", "h.py", "--force")
    assert forced.exit_code == 0, forced.output
    assert read_spec(cli.cwd)["archive"]["m"]["handler"] == "h.py"  # type: ignore[index]
    assert sorted(p.name for p in cli.cwd.iterdir()) == ["mararch.toml"]


def test_names_that_need_quoting_in_toml(cli: Cli) -> None:
    result = cli("init", "--model-name", "bert.v2", "--handler", 'we"ird\\path.py')
    assert result.exit_code == 0, result.output
    archive = read_spec(cli.cwd)["archive"]
    assert archive["bert.v2"]["handler"] == 'we"ird\\path.py'  # type: ignore[index]


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_asks_with_defaults_found_in_the_folder(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "mymodel")
    child = spawn_mararch("init", cwd=folder)
    answers = [
        (r"Model name \[mymodel\]: ", ""),
        (r"Model version \[1\.0\]: ", "3.2"),
        (r"Handler \(built-in name or \.py file\) \[handler\.py\]: ", ""),
        (r"Serialized file \(weights\) \('-' for none\) \[model\.pt\]: ", ""),
        (r"Model file \(model class\) \('-' for none\) \[model\.py\]: ", "-"),
        (r"Requirements file \('-' for none\) \[requirements\.txt\]: ", ""),
        (r"Model config file \('-' for none\) \[model-config\.yaml\]: ", ""),
        (r"Export path \[model-store\]: ", "out"),
    ]
    for prompt, answer in answers:
        child.expect(prompt)
        child.sendline(answer)
    assert_exits_ok(child)
    assert read_spec(folder)["archive"] == {
        "mymodel": {
            "model-name": "mymodel",
            "version": "3.2",
            "handler": "handler.py",
            "serialized-file": "model.pt",
            "requirements-file": "requirements.txt",
            "config-file": "model-config.yaml",
            "export-path": "out",
            "force": True,
        }
    }
    built = subprocess.run(
        [sys.executable, "-m", "mararch", "create"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    with zipfile.ZipFile(folder / "out" / "mymodel.mar") as zf:
        assert sorted(zf.namelist()) == [
            "MAR-INF/MANIFEST.json",
            "MAR-INF/digests.json",
            "handler.py",
            "model-config.yaml",
            "model.pt",
            "requirements.txt",
        ]


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_asks_again_for_a_bad_name_and_has_no_default_it_cannot_find(tmp_path: Path) -> None:
    folder = tmp_path / "two models"
    folder.mkdir()
    (folder / "a.pt").write_bytes(b"a")
    (folder / "b.safetensors").write_bytes(b"b")
    child = spawn_mararch("init", "--handler", "text_classifier", cwd=folder)
    child.expect("Model name: ")  # 'two models' is no valid model name: no default
    child.sendline("not valid")
    child.expect("invalid model name 'not valid'")
    child.expect("Model name: ")
    child.sendline("valid")
    child.expect(r"Model version \[1\.0\]: ")
    child.sendline("")
    # The handler was given as a flag; two weight files: no default to propose.
    child.expect(r"Serialized file \(weights\) \(Enter for none\): ")
    child.sendline("b.safetensors")
    for _ in range(3):
        child.expect(r"\(Enter for none\): ")
        child.sendline("")
    child.expect(r"Export path \[model-store\]: ")
    child.sendline("")
    assert_exits_ok(child)
    archive = read_spec(folder)["archive"]
    assert archive["valid"] == {  # type: ignore[index]
        "model-name": "valid",
        "version": "1.0",
        "handler": "text_classifier",
        "serialized-file": "b.safetensors",
        "export-path": "model-store",
        "force": True,
    }
