"""`mararch create` in a terminal without a spec asks for what is missing, and forgives typos:
an invalid answer is asked again with the reason, close handler names and files are offered,
and Ctrl-C at a prompt ends cleanly."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from conftest import ModelInputs, assert_exits_ok, spawn_mararch

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


def start(model: ModelInputs, out: Path, *args: str) -> Any:
    return spawn_mararch(
        "create", "--serialized-file", model.serialized_file, "--export-path", out, *args,
        cwd=model.root,
    )  # fmt: skip


def manifest(archive: Path) -> dict[str, object]:
    with zipfile.ZipFile(archive) as zf:
        data: dict[str, object] = json.loads(zf.read("MAR-INF/MANIFEST.json"))["model"]
        return data


def test_says_no_spec_was_found_before_asking(model: ModelInputs, tmp_path: Path) -> None:
    child = start(model, tmp_path)
    child.expect("no mararch.toml here")
    child.expect("`mararch init` writes one")
    before = child.before
    assert "Model name" not in before
    child.expect("Model name: ")
    child.sendcontrol("c")


def test_invalid_answers_are_asked_again_with_the_reason(
    model: ModelInputs, tmp_path: Path
) -> None:
    child = start(model, tmp_path)
    child.expect("Model name: ")
    child.sendline("not valid")
    child.expect("invalid model name 'not valid'")
    child.expect("Model name: ")
    child.sendline("m")
    child.expect("Model version: ")
    child.sendline("1.0")
    child.expect(r"Handler \(built-in name or \.py file\): ")
    child.sendline("nowhere/handler.py")
    child.expect("handler file 'nowhere/handler.py' does not exist")
    child.expect(r"Handler \(built-in name or \.py file\): ")
    child.sendline("text_classifier")
    assert_exits_ok(child)
    assert manifest(tmp_path / "m.mar")["handler"] == "text_classifier"


@pytest.mark.parametrize(
    ("typo", "offered", "handler"),
    [
        ("image_cl", "image_classifier", "image_classifier"),
        ("my_handlr", "my_handler.py", "my_handler.py"),
    ],
)
def test_close_handler_names_and_files_are_offered(
    typo: str, offered: str, handler: str, model: ModelInputs, tmp_path: Path
) -> None:
    child = start(model, tmp_path, "--model-name", "m", "-v", "1")
    child.expect(r"Handler \(built-in name or \.py file\): ")
    child.sendline(typo)
    child.expect(f"did you mean '{offered}'")
    # Enter takes the offer.
    child.expect(rf"Handler \(built-in name or \.py file\) \[{offered}\]: ")
    child.sendline("")
    assert_exits_ok(child)
    assert manifest(tmp_path / "m.mar")["handler"] == handler


def test_ctrl_c_at_a_prompt_ends_cleanly(model: ModelInputs, tmp_path: Path) -> None:
    import pexpect

    out = tmp_path / "out"
    child = start(model, out, "--model-name", "m")
    child.expect("Model version: ")
    child.sendcontrol("c")
    child.expect(pexpect.EOF)
    child.close()
    said = child.before
    assert child.exitstatus == 130, said
    assert "interrupted; nothing was left behind" in said
    assert "Traceback" not in said
    assert "Aborted" not in said
    assert not out.exists()


def test_ctrl_c_at_an_init_prompt_ends_cleanly(tmp_path: Path) -> None:
    import pexpect

    child = spawn_mararch("init", cwd=tmp_path)
    child.expect("Model name")
    child.sendcontrol("c")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130, child.before
    assert "Aborted" not in child.before
    assert list(tmp_path.iterdir()) == []
