"""The command line as a user meets it: --version, help, dry runs, JSON, prompts, completion."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import mararch
from helpers import Cli, ModelInputs, assert_exits_ok, create_args, spawn_mararch


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"mararch {mararch.__version__}"


def test_python_dash_m(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mararch", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"mararch {mararch.__version__}"


def test_help_lists_commands_and_flags(cli: Cli) -> None:
    top = cli("--help")
    assert top.exit_code == 0
    assert "create" in top.stdout
    sub = cli("create", "--help")
    assert sub.exit_code == 0
    for flag in [
        "--model-name",
        "--version",
        "--serialized-file",
        "--model-file",
        "--handler",
        "--extra-files",
        "--runtime",
        "--export-path",
        "--archive-format",
        "--force",
        "--requirements-file",
        "--config-file",
        "--dry-run",
        "--json",
    ]:
        assert flag in sub.stdout
    # Square brackets in help texts are Rich markup unless escaped: the default must show.
    assert "[default: current folder]" in " ".join(sub.stdout.split())


def test_dry_run_writes_nothing(model: ModelInputs, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = create_args(
        "m",
        "1.0",
        "image_classifier",
        serialized_file=model.serialized_file,
        extra_files=model.assets,
        export_path=out,
        dry_run=True,
    )
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert "vocab/words.txt" in result.stdout
    assert '"handler": "image_classifier"' in result.stdout
    assert "nothing was written" in result.stdout
    assert not out.exists()
    # Source paths as data: the table wraps a long tmp path at the console's width.
    as_json = cli(*[a for a in args if a != "--dry-run"], "--dry-run", "--json")
    assert as_json.exit_code == 0, as_json.output
    sources = {m["name"]: m["source"] for m in json.loads(as_json.stdout)["members"]}
    assert sources["model.pt"] == str(model.serialized_file)
    assert not out.exists()


def test_dry_run_json(model: ModelInputs, cli: Cli, tmp_path: Path) -> None:
    result = cli(
        *create_args(
            "m",
            "1.0",
            "image_classifier",
            serialized_file=model.serialized_file,
            export_path=tmp_path,
            dry_run=True,
            json=True,
        ),
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True
    assert [m["name"] for m in plan["members"]] == ["MAR-INF/MANIFEST.json", "model.pt"]
    assert plan["members"][1]["size"] == model.serialized_file.stat().st_size
    assert not (tmp_path / "m.mar").exists()


def test_json_describes_what_was_written(model: ModelInputs, cli: Cli, tmp_path: Path) -> None:
    result = cli(
        *create_args(
            "m",
            "1.0",
            model.handler,
            serialized_file=model.serialized_file,
            export_path=tmp_path,
            json=True,
        ),
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    path = tmp_path / "m.mar"
    assert info["path"] == str(path)
    assert info["format"] == "default"
    assert info["size"] == path.stat().st_size
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    with zipfile.ZipFile(path) as zf:
        assert sorted(m["name"] for m in info["members"]) == sorted(zf.namelist())
        for m in info["members"]:
            assert m["crc32"] == f"{zf.getinfo(m['name']).CRC:08x}"
    assert info["manifest"]["model"]["modelName"] == "m"


def test_success_message_on_stderr(model: ModelInputs, cli: Cli) -> None:
    result = cli(*create_args("m", "1", model.handler))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert f"wrote {cli.cwd / 'm.mar'} (default, 3 members" in result.stderr


def test_api_names_stay_functions_after_submodules_load() -> None:
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(mararch.__path__):
        importlib.import_module(f"mararch.{info.name}")
    for name in mararch.__all__:
        value = getattr(mararch, name)
        assert not isinstance(value, type(mararch)), f"mararch.{name} is shadowed by a module"


def completions(words: str, cword: int) -> list[str]:
    env = {
        **os.environ,
        "_MARARCH_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "mararch"], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_completion_of_handler_names() -> None:
    assert "image_classifier" in completions("mararch create --handler image_c", 3)
    assert "TorchScriptHandler" in completions("mararch create --handler Torch", 3)


def test_completion_of_choices() -> None:
    assert completions("mararch create --archive-format ", 3) == [
        "default",
        "zip-store",
        "tgz",
        "no-archive",
    ]
    assert completions("mararch create --runtime ", 3) == ["python", "python3", "LSP"]
    assert "create" in completions("mararch ", 1)


def test_choices_follow_the_core() -> None:
    # The CLI's choices are subsets of the core's enums, derived from the core's sets.
    from mararch.legacy import LEGACY_FORMATS
    from mararch.plans import MMS_RUNTIMES, TORCHSERVE_RUNTIMES

    assert completions("mararch legacy --archive-format ", 3) == [f.value for f in LEGACY_FORMATS]
    assert set(completions("mararch legacy --runtime ", 3)) == {r.value for r in MMS_RUNTIMES}
    assert set(completions("mararch create --runtime ", 3)) == {
        r.value for r in TORCHSERVE_RUNTIMES
    }
    assert completions("mararch convert --to ", 3) == ["torchserve", "mms"]


def test_show_completion_script() -> None:
    # Typer guesses the shell from the parent processes (under sh: "Shell sh not supported");
    # its own tests' switch makes the shell an argument, so the test holds under any parent.
    proc = subprocess.run(
        [sys.executable, "-m", "mararch", "--show-completion", "bash"],
        env={**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert "_MARARCH_COMPLETE" in proc.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_prompts_for_missing_values_in_a_terminal(model: ModelInputs, tmp_path: Path) -> None:
    child = spawn_mararch(
        "create",
        "--serialized-file",
        model.serialized_file,
        "--export-path",
        tmp_path,
        cwd=model.root,
    )
    child.expect("Model name: ")
    child.sendline("prompted")
    child.expect("Model version: ")
    child.sendline("3.1")
    child.expect(r"Handler \(built-in name or \.py file\): ")
    child.sendline("my_handler")
    assert_exits_ok(child)
    with zipfile.ZipFile(tmp_path / "prompted.mar") as zf:
        manifest = json.loads(zf.read("MAR-INF/MANIFEST.json"))
        assert "my_handler.py" in zf.namelist()
    assert manifest["model"]["modelVersion"] == "3.1"
    assert manifest["model"]["handler"] == "my_handler"


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_progress_bar_on_a_terminal_only(model: ModelInputs, tmp_path: Path) -> None:
    import pexpect

    weights = tmp_path / "weights.bin"
    weights.write_bytes(os.urandom(48 << 20))
    args = [
        "-m",
        "mararch",
        *create_args(
            "m",
            "1",
            "image_classifier",
            serialized_file=weights,
            export_path=tmp_path / "out",
            compression="deflate",
            force=True,
        ),
    ]
    env = {**os.environ, "CI": "", "TERM": "xterm"}
    child = pexpect.spawn(sys.executable, args, env=env, timeout=60, encoding="utf-8")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "writing m.mar" in child.before
    piped = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False)
    assert piped.returncode == 0
    assert "writing m.mar" not in piped.stderr


HOSTILE_NAME = "w[bold]x\x1b.pt"


def hostile_create(tmp_path: Path) -> list[str]:
    """`python -m mararch create` arguments naming a missing file with markup and a control
    character in its name."""
    return [
        "-m",
        "mararch",
        *create_args(
            "m",
            "1",
            "image_classifier",
            serialized_file=tmp_path / HOSTILE_NAME,
            export_path=tmp_path / "out",
        ),
    ]


def test_messages_show_names_verbatim_when_piped(tmp_path: Path) -> None:
    # No terminal: plain text; markup in a name is not interpreted, control characters escaped.
    proc = subprocess.run(
        [sys.executable, *hostile_create(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "FORCE_COLOR"},
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ")
    assert "w[bold]x\\x1b.pt" in proc.stderr
    assert "\x1b" not in proc.stderr  # neither colour codes nor the raw escape


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_messages_are_styled_on_a_terminal(tmp_path: Path) -> None:
    import pexpect

    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "CI")}
    child = pexpect.spawn(
        sys.executable,
        hostile_create(tmp_path),
        env={**env, "TERM": "xterm-256color", "COLUMNS": "200"},
        timeout=30,
        encoding="utf-8",
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert "\x1b[" in child.before  # styled by Rich
    assert "w[bold]x\\x1b.pt" in child.before  # the name as it is, markup not applied


def test_scripted_build_does_not_load_rich(model: ModelInputs, tmp_path: Path) -> None:
    # Every command pays for what it imports (~65 ms for Rich): a build in a pipe needs none.
    code = (
        "import sys; from mararch.cli import run; sys.argv = sys.argv[1:]\n"
        "try:\n    run()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = ('rich', 'yaml', 'packaging', 'cryptography', 'mararch.signing')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "mararch",
            *create_args(
                "m",
                "1",
                model.handler,
                serialized_file=model.serialized_file,
                export_path=tmp_path / "out",
            ),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert "wrote " in proc.stderr


def test_styled_messages_print_text_as_given() -> None:
    # Styled output goes through Rich as text, not markup: a trailing backslash stays one
    # backslash and brackets stay brackets.
    code = "from mararch import console; console.warn('C:\\\\models\\\\ [bold]x[/] \\\\')"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={
            **{k: v for k, v in os.environ.items() if k != "NO_COLOR"},
            "FORCE_COLOR": "1",
            "TERM": "xterm-256color",
        },
    )
    assert "\x1b[" in proc.stderr
    assert proc.stderr.rstrip().endswith("warning:\x1b[0m C:\\models\\ [bold]x[/] \\")
