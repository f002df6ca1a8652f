"""mkdocs hook: writes `mararch ... --help` into the pages at build time.

A page asks for it with a marker on a line of its own:

- `<!-- mararch-help create -->`: the help of one command (`<!-- mararch-help -->`: the top level);
- `<!-- mararch-help-all -->`: the top level and then every command the app registers, so a new
  command appears in the reference without anyone editing the docs.

The text is what a user sees in an 100-column terminal without colour, so the reference cannot
drift from `--help`. The rendering lives here (not in mararch) because only the docs need it.
"""

from __future__ import annotations

import re
from typing import Any

#: `<!-- mararch-help [COMMAND] -->` and `<!-- mararch-help-all -->`.
MARKER = re.compile(r"^<!--\s*mararch-help(-all)?((?:\s+[\w-]+)*)\s*-->$", re.MULTILINE)
#: A fixed terminal: the same text on every machine that builds the docs.
HELP_ENV = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}


def command_names() -> list[str]:
    """The app's visible commands, in the order `mararch --help` lists them."""
    from typer.main import get_command

    from mararch.cli import app

    group: Any = get_command(app)
    return [name for name, command in group.commands.items() if not command.hidden]


def help_text(*command: str) -> str:
    """What `mararch COMMAND --help` prints, without trailing blanks."""
    from typer.testing import CliRunner

    from mararch.cli import app

    result = CliRunner().invoke(
        app, [*command, "--help"], prog_name="mararch", env=HELP_ENV, catch_exceptions=False
    )
    if result.exit_code != 0:
        raise RuntimeError(f"mararch {' '.join(command)} --help exited {result.exit_code}")
    return "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())


def block(*command: str) -> str:
    return f"```text\n{help_text(*command)}\n```"


def reference() -> str:
    """The top-level help, then one section per command."""
    parts = ["## `mararch`", block()]
    for name in command_names():
        parts += [f"## `mararch {name}`", block(name)]
    return "\n\n".join(parts)


def expand(markdown: str) -> str:
    """`markdown` with every marker replaced by the help it names."""

    def render(match: re.Match[str]) -> str:
        if match.group(1):
            return reference()
        return block(*match.group(2).split())

    return MARKER.sub(render, markdown)


def on_page_markdown(markdown: str, **_: object) -> str:
    return expand(markdown)
