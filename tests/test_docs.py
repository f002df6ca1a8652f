"""The README and the documentation say what mararch does: their commands run, their links resolve,
and the command reference is rendered from the CLI itself."""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from helpers import Cli

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)#\s]+\.md)(#[^)\s]*)?\)")


def quick_start(page: Path) -> list[str]:
    """The commands of the page's Quick start section, one per ```bash block."""
    section = page.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, re.DOTALL)


def cli_help_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_help", DOCS / "hooks" / "cli_help.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_quick_start_is_the_same_in_the_readme_and_the_docs() -> None:
    readme = quick_start(ROOT / "README.md")
    assert len(readme) == 2
    assert readme == quick_start(DOCS / "getting-started.md")[:2]


def test_the_quick_start_commands_build_the_same_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    flags_command, spec_command = quick_start(ROOT / "README.md")
    # Run in a copy of the checkout's examples: the commands write model-store/ beside them.
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    install, build = flags_command.rsplit(" && ", 1)
    assert install == "python3 -m venv .venv && .venv/bin/pip install ."
    argv = shlex.split(build)
    assert argv[0] == ".venv/bin/mararch"
    result = Cli(tmp_path)(*argv[1:])
    assert result.exit_code == 0, result.output
    by_flags = (tmp_path / "model-store" / "linear.mar").read_bytes()

    folder, command = spec_command.split(" && ")
    assert folder == "cd examples/linear"
    assert shlex.split(command) == ["../../.venv/bin/mararch", "create"]
    result = Cli(tmp_path / "examples" / "linear")("create")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "model-store" / "linear.mar").read_bytes() == by_flags

    # The docs go on to inspect and verify what was built.
    for line in quick_start(DOCS / "getting-started.md")[2].splitlines():
        argv = shlex.split(line)
        assert argv[0] == ".venv/bin/mararch"
        result = Cli(tmp_path)(*argv[1:])
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize("page", [ROOT / "README.md", *sorted(DOCS.glob("*.md"))], ids=str)
def test_relative_links_resolve(page: Path) -> None:
    for target, _ in LINK.findall(page.read_text()):
        if "://" not in target:
            assert (page.parent / target).is_file(), f"{page.name} links to a missing {target}"


def test_the_command_reference_covers_every_command() -> None:
    hook = cli_help_hook()
    names = hook.command_names()
    assert {"create", "legacy", "init", "inspect", "extract", "convert", "verify"} <= set(names)
    page = hook.expand((DOCS / "reference.md").read_text())
    assert "mararch-help" not in page
    for name in names:
        assert f"## `mararch {name}`\n\n```text\n" in page
        assert f"Usage: mararch {name} [OPTIONS]" in page


def test_a_command_page_shows_that_commands_help() -> None:
    hook = cli_help_hook()
    page = hook.expand((DOCS / "verify.md").read_text())
    assert "mararch-help" not in page
    shown = page.split("```text\n", 1)[1].split("\n```", 1)[0]
    assert "Usage: mararch verify [OPTIONS]" in shown
    for flag in ("--json", "--strict", "--server"):
        assert flag in shown
    assert all(line == line.rstrip() for line in shown.splitlines())
