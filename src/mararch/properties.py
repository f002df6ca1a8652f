"""TorchServe's `config.properties`: read as `java.util.Properties.load` reads it, written so that
KServe's wrapper (which splits each line on its first `=`) reads the same values.

TorchServe loads the file from a byte stream, so it is ISO-8859-1 with `\\uXXXX` escapes; a line
may continue on the next after a trailing backslash, and a key ends at the first unescaped `=`,
`:` or whitespace. The KServe wrapper knows none of that: what it would read differently is a
finding of `verify`, and `dumps` only writes lines both read alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

#: Java's `Properties.load` escapes for a backslash followed by one of these letters.
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_KEY_END = "=: \t\f"
_BLANK = " \t\f"


@dataclass(frozen=True)
class Property:
    """One key and value as TorchServe reads them; `line` is the 1-based line it starts on and
    `raw` the text of its (logical) line as the KServe wrapper sees the first physical line."""

    key: str
    value: str
    line: int
    raw: str


def _logical_lines(text: str) -> Iterator[tuple[int, str, str]]:
    """(first line number, logical line with continuations joined, first physical line)."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i
        line = lines[i].lstrip(_BLANK)
        i += 1
        if not line or line[0] in "#!":
            continue
        first = lines[start]
        # An odd number of trailing backslashes continues the line; leading blanks of the
        # continuation are dropped (Java's rule).
        while _continues(line) and i < len(lines):
            line = line[:-1] + lines[i].lstrip(_BLANK)
            i += 1
        if _continues(line):
            line = line[:-1]
        yield start + 1, line, first


def _continues(line: str) -> bool:
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 == len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "u":
            digits = text[i + 2 : i + 6]
            try:
                out.append(chr(int(digits, 16)))
            except ValueError:
                raise ValueError(f"malformed \\uxxxx escape {text[i : i + 6]!r}") from None
            i += 6
            continue
        out.append(_ESCAPES.get(nxt, nxt))
        i += 2
    return "".join(out)


def _split(line: str) -> tuple[str, str]:
    """A logical line's raw key and raw value (Java's key/value separation)."""
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\":
            i += 2
            continue
        if ch in _KEY_END:
            break
        i += 1
    key = line[:i]
    rest = line[i:].lstrip(_BLANK)
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(_BLANK)
    return key, rest


def parse(data: bytes) -> list[Property]:
    """Every property in file order (a later duplicate wins in TorchServe, as in `to_dict`);
    ValueError for a malformed `\\u` escape, which Java refuses too."""
    text = data.decode("latin-1")
    out = []
    for number, line, first in _logical_lines(text):
        key, value = _split(line)
        out.append(Property(_unescape(key), _unescape(value), number, first))
    return out


def to_dict(props: Iterable[Property]) -> dict[str, Property]:
    """The properties TorchServe ends up with: the last of each key."""
    return {p.key: p for p in props}


def wrapper_value(prop: Property) -> str | None:
    """What KServe's wrapper reads for this property's key on its line, or None when it reads no
    such key there (it splits the first physical line on `=` and strips both sides)."""
    if "=" not in prop.raw:
        return None
    key, value = prop.raw.split("=", 1)
    return value.strip() if key.strip() == prop.key else None


def _plain(text: str) -> bool:
    return all(" " < ch < "\x7f" and ch != "\\" for ch in text)


def dumps(pairs: Iterable[tuple[str, str]], header: Iterable[str] = ()) -> bytes:
    """`key=value` lines that Java and KServe's wrapper read alike: printable ASCII, no
    backslash, no blanks; anything else is a ValueError (a bug of the caller)."""
    lines = [f"# {h}" for h in header]
    for key, value in pairs:
        if not (_plain(key) and all(ch not in key for ch in "=:#!") and _plain(value)):
            raise ValueError(f"cannot write {key}={value!r} as a plain property line")
        lines.append(f"{key}={value}")
    return ("\n".join(lines) + "\n").encode("ascii")


__all__ = ["Property", "dumps", "parse", "to_dict", "wrapper_value"]
