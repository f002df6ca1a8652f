"""Member-name safety: which names may be created under a destination folder.

One rule for `extract` (which refuses such members), `verify` and `inspect` (which report them)
and `convert`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

from .reader import Member, MemberKind

_DRIVE = re.compile(r"^[A-Za-z]:")


def name_problem(name: str) -> str | None:
    """Why a member name is unsafe to create under a destination folder, or None if it is safe."""
    if name == "":
        return "empty name"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "control character (NUL, newline, escape ...) in the name"
    if "\\" in name:
        return "backslash in the name (a path separator on Windows)"
    if name.startswith("/"):
        return "absolute path"
    if _DRIVE.match(name):
        return "Windows drive letter"
    parts = name.split("/")
    if ".." in parts:
        return "'..' component escapes the destination"
    if any(p in ("", ".") for p in parts):
        return "empty or '.' path component"
    return None


def unsafe_members(members: Iterable[Member]) -> list[tuple[Member, str]]:
    """Every member that extraction refuses, with the reason: unsafe names, links and special
    files, encrypted or unsupported members, and names given twice (or as file and folder)."""
    problems: list[tuple[Member, str]] = []
    seen: dict[str, Member] = {}
    for m in members:
        reason = member_name_problem(m)
        if reason is None and m.kind in (MemberKind.SYMLINK, MemberKind.HARDLINK):
            target = f" -> {m.link_target!r}" if m.link_target else ""
            reason = f"{m.kind.value}{target}: links are not extracted"
        elif reason is None and m.kind is MemberKind.SPECIAL:
            reason = "device, FIFO or other special file"
        elif reason is None and m.is_file and m.encrypted:
            reason = "encrypted member"
        elif reason is None and m.is_file and m.method not in ("stored", "deflated", "tar", "file"):
            reason = f"unsupported compression method {m.method!r}"
        if reason is not None:
            problems.append((m, reason))
            continue
        # Names equal only on some file systems (case, Unicode normalisation) are caught when
        # writing: every file is created with O_EXCL.
        key = m.name
        first = seen.get(key)
        if first is not None and not (first.kind is MemberKind.DIR and m.kind is MemberKind.DIR):
            problems.append((m, "duplicate name: a later member would silently replace the first"))
            continue
        seen.setdefault(key, m)
    for m, parent in parent_conflicts(seen):
        problems.append((m, f"{parent.name!r} is a file but this member needs it to be a folder"))
    return problems


def member_name_problem(m: Member) -> str | None:
    """Why a member's name is unsafe (`name_problem`), on its name and on the name it is stored
    under: a tar's first component is dropped, but what it hid (e.g. '../x' -> 'x') still counts."""
    reason = name_problem(m.name)
    if reason is None and m.raw_name and m.raw_name != m.name:
        raw = m.raw_name.rstrip("/")
        hidden = name_problem(raw[2:] if raw.startswith("./") else raw)
        if hidden is not None:
            reason = f"{hidden} (stored as {m.raw_name!r})"
    return reason


def parent_conflicts(by_name: dict[str, Member]) -> Iterator[tuple[Member, Member]]:
    """(member, parent) for every member below a name that is not a folder."""
    for name, m in by_name.items():
        parts = name.split("/")
        for i in range(1, len(parts)):
            parent = by_name.get("/".join(parts[:i]))
            if parent is not None and parent.kind is not MemberKind.DIR:
                yield m, parent
                break
