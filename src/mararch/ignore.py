"""Ignore rules: gitignore-style patterns from a `.marignore` file and from `--exclude`.

Supported: blank lines and `#` comments, `!` negation (the last matching rule wins), a trailing
`/` for folders only, a leading or inner `/` anchoring the pattern at the model folder, `*`, `?`,
`[...]` and `**` (`**/x`, `x/**`, `a/**/b`). As in git, a file inside an excluded folder cannot be
re-included: the folder is never entered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, UsageError

IGNORE_FILE = ".marignore"


@dataclass(frozen=True)
class IgnoreRule:
    """One pattern: where it came from, and how it matches a relative path."""

    pattern: str
    origin: str
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool
    anchored: bool

    def matches(self, rel: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        subject = rel if self.anchored else rel.rpartition("/")[2]
        return self.regex.fullmatch(subject) is not None


#: POSIX classes git's wildmatch knows inside brackets, as Python regex class contents.
POSIX_CLASSES = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "blank": " \\t",
    "digit": "0-9",
    "lower": "a-z",
    "upper": "A-Z",
    "space": " \\t\\n\\r\\f\\v",
    "xdigit": "0-9a-fA-F",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
}


def _bracket(pattern: str, start: int) -> tuple[str, int] | None:
    """The bracket expression opening at `start` as a regex class and the index after it; None
    when git's wildmatch would give up on it (unterminated, unknown class), so nothing matches."""
    n = len(pattern)
    i = start + 1
    negate = i < n and pattern[i] in "!^"
    if negate:
        i += 1
    items: list[str] = []
    first = True
    while i < n:
        if pattern[i] == "]" and not first:
            body = "".join(items)
            if not body:
                return ("[^/]" if negate else "(?!)"), i + 1
            # Git's bracket expressions never match the separator, even when they list it.
            return (f"[^/{body}]" if negate else f"(?!/)[{body}]"), i + 1
        first = False
        item = _bracket_item(pattern, i)
        if item is None:
            return None
        text, i = item
        items.append(text)
    return None


def _bracket_item(pattern: str, i: int) -> tuple[str, int] | None:
    """The member of a bracket expression at `i` (a POSIX class, a range or one character) as
    regex class contents, and the index after it; None where wildmatch gives up."""
    if pattern.startswith("[:", i):
        close = pattern.find(":]", i + 2)
        if close == -1 or pattern[i + 2 : close] not in POSIX_CLASSES:
            return None
        return POSIX_CLASSES[pattern[i + 2 : close]], close + 2
    low = _bracket_char(pattern, i)
    if low is None:
        return None
    lo, after = low
    if after + 1 < len(pattern) and pattern[after] == "-" and pattern[after + 1] != "]":
        high = _bracket_char(pattern, after + 1)
        if high is None:
            return None
        hi, end = high
        # A reversed range matches nothing in git; Python would refuse to compile it.
        return (f"{re.escape(lo)}-{re.escape(hi)}" if lo <= hi else ""), end
    return re.escape(lo), after


def _bracket_char(pattern: str, i: int) -> tuple[str, int] | None:
    """The character at `i`, a backslash escaping it, and the index after it; None for a
    backslash that ends the pattern."""
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            return None
    return pattern[i], i + 1


def translate(pattern: str) -> str | None:
    """A gitignore glob (without `!`, anchoring `/` or trailing `/`) as a regular expression;
    None for a pattern git can never match (a broken bracket expression, a trailing backslash)."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        at_segment_start = i == 0 or pattern[i - 1] == "/"
        if at_segment_start and pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif at_segment_start and pattern[i:] == "**":
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            bracket = _bracket(pattern, i)
            if bracket is None:
                return None
            out.append(bracket[0])
            i = bracket[1]
        elif pattern[i] == "\\":
            if i + 1 >= n:
                return None
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def parse_rule(line: str, origin: str) -> IgnoreRule | None:
    """One pattern line as a rule; None for blank lines and comments."""
    text = line.rstrip("\n\r")
    # Trailing spaces are dropped unless escaped with a backslash, as git does.
    stripped = text.rstrip(" ")
    if stripped.endswith("\\") and len(stripped) < len(text):
        stripped += " "
    text = stripped
    if not text or text.startswith("#"):
        return None
    negated = text.startswith("!")
    if negated or text.startswith("\\!") or text.startswith("\\#"):
        text = text[1:]
    # Git strips one trailing and one leading slash; a pattern left with another one (`a//`,
    # `//a`) can never match a path, and the regex below keeps it that way.
    dir_only = text.endswith("/")
    body = text[:-1] if dir_only else text
    anchored = "/" in body
    body = body[1:] if body.startswith("/") else body
    if not body:
        return None
    try:
        regex = re.compile(translate(body) or "(?!)", re.DOTALL)
    except re.error as exc:
        raise UsageError(f"invalid exclude pattern {line.strip()!r} ({origin}): {exc}") from None
    return IgnoreRule(line.strip(), origin, regex, negated, dir_only, anchored)


@dataclass(frozen=True)
class IgnoreRules:
    """An ordered list of rules; the last one matching a path decides."""

    rules: tuple[IgnoreRule, ...] = ()

    def ignored(self, rel: str, is_dir: bool) -> bool:
        decision = False
        for rule in self.rules:
            if rule.matches(rel, is_dir):
                decision = not rule.negated
        return decision

    def excludes(self, member: str, is_dir: bool = False) -> bool:
        """Whether a member name (`a/b/c.txt`, or a folder's `a/b`) is excluded, by itself or by
        one of its folders."""
        parts = member.split("/")
        # As in git, a file below an excluded folder stays excluded whatever later rules say.
        for depth in range(1, len(parts)):
            if self.ignored("/".join(parts[:depth]), True):
                return True
        return self.ignored(member, is_dir)

    def __add__(self, other: IgnoreRules) -> IgnoreRules:
        return IgnoreRules(self.rules + other.rules)


def rules_from_lines(lines: Iterable[str], origin: str) -> IgnoreRules:
    rules = []
    for number, line in enumerate(lines, start=1):
        rule = parse_rule(line, f"{origin}:{number}")
        if rule is not None:
            rules.append(rule)
    return IgnoreRules(tuple(rules))


def rules_from_excludes(patterns: str | Iterable[str]) -> IgnoreRules:
    """`--exclude` values: each one is a pattern line with the same syntax as `.marignore` (a
    lone string is one pattern, not a list of one-letter ones)."""
    if isinstance(patterns, str):
        patterns = [patterns]
    rules = []
    for pattern in patterns:
        if not pattern.strip():
            raise UsageError(
                "empty --exclude pattern",
                hint="Give a glob such as '*.onnx', 'data/' or '/notes.txt'.",
            )
        rule = parse_rule(pattern, f"--exclude {pattern}")
        if rule is not None:
            rules.append(rule)
    return IgnoreRules(tuple(rules))


def load_ignore_file(folder: Path) -> IgnoreRules:
    """The rules of `folder/.marignore`, or no rules when there is none."""
    path = folder / IGNORE_FILE
    if not path.is_file():
        return IgnoreRules()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            f"{str(path)!r} is not UTF-8 text",
            path=str(path),
            hint="Save it as UTF-8; it holds one gitignore-style pattern per line.",
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read {str(path)!r}: {exc.strerror}", path=str(path)) from None
    return rules_from_lines(text.splitlines(), IGNORE_FILE)
