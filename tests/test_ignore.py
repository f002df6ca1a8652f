"""`.marignore` / `--exclude` patterns behave as git's .gitignore: checked against git itself.

For each case the same tree is given to `git ls-files --others --exclude-standard` (what git
would add) and to `plan_legacy` (what mararch packages); hidden files aside, the sets must agree.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import mararch
from mararch.errors import UsageError
from mararch.ignore import parse_rule, rules_from_lines

GIT = shutil.which("git")

FILES = [
    "a.txt",
    "b.bin",
    "important.txt",
    "notes.md",
    "x.md",
    "#lit",
    "sp ace ",
    "doc/a.txt",
    "doc/x/y.txt",
    "doc/frotz/z",
    "frotz/w",
    "q/b",
    "a/b/c.txt",
    "a/x/b/d.txt",
    "a/x/y/b/e",
    "foo/bar.txt",
    "sub/foo",
    "logs/2024/01.log",
    "logs/top.log",
    "keep/k.bin",
    "deep/keep/k.bin",
    "xay",
    "xy",
    "build/out/keep.txt",
]

CASES = {
    "plain name at any depth": "foo\n",
    "extension with negation": "*.txt\n!important.txt\n",
    "anchored at the root": "/a.txt\n/doc\n",
    "inner slash anchors": "doc/frotz\n",
    "single star does not cross /": "doc/*.txt\n",
    "folders only": "b/\nfoo/\n",
    "leading **": "**/keep\n",
    "trailing **": "logs/**\n!logs/top.log\n",
    "inner **": "a/**/b\n",
    "? and classes": "x?y\n[abc].txt\n[!n]*.md\n",
    "escapes": "\\#lit\nsp\\ ace\\ \n",
    "everything but python": "*\n!*.md\n",
    "negation cannot reach into excluded folder": "build/\n!build/out/keep.txt\n",
    "comments and blanks": "# *.txt\n\n   \n*.bin\n",
    "anchored negation": "*.bin\n!/keep/k.bin\n",
}


def git_keeps(root: Path) -> set[str]:
    assert GIT is not None, "these tests compare with git: install git"
    if not (root / ".git").exists():
        subprocess.run([GIT, "init", "-q", str(root)], check=True)
    out = subprocess.run(
        [
            GIT,
            "-C",
            str(root),
            "-c",
            "core.quotePath=false",
            "ls-files",
            "-z",
            "--others",
            "--exclude-standard",
        ],
        check=True,
        capture_output=True,
    ).stdout.decode()
    return {p for p in out.split("\0") if p and p not in (".gitignore", ".marignore")}


def mararch_keeps(root: Path, export: Path) -> set[str]:
    plan = mararch.plan_legacy(model_name="m", model_path=root, handler="h", export_path=export)
    return {e.name for e in plan.entries} - {"MAR-INF/MANIFEST.json"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_as_git(case: str, tmp_path: Path) -> None:
    root = tmp_path / "model"
    for name in FILES:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    (root / ".gitignore").write_text(CASES[case])
    (root / ".marignore").write_text(CASES[case])
    assert mararch_keeps(root, tmp_path) == git_keeps(root)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab/*?[]!\\#. -^&~|", max_size=12))
def test_any_pattern_compiles_or_is_a_usage_error(pattern: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            rule = parse_rule(pattern, "test")
        except UsageError:
            return
        if rule is not None:
            for path in ("a", "a/b", "ab/.b", "a b", "[a]", "!#"):
                rule.matches(path, True)
                rule.matches(path, False)


def test_last_match_wins() -> None:
    rules = rules_from_lines(["*.log", "!keep.log", "keep.log"], ".marignore")
    assert rules.ignored("keep.log", False)
    assert rules.rules[1].origin == ".marignore:2"


RANDOM_TREE = ["a", "b", "ab", "ba/ab", "a1/b", "c/a/b", "c/b/a", "c/ab/b", "d/e/f/a"]
PATTERN = st.text(alphabet="abc/*?![]\\ #", min_size=1, max_size=7)


@pytest.fixture(scope="module")
def random_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One git repository for all examples: only the ignore files change between them."""
    root = tmp_path_factory.mktemp("random") / "model"
    for name in RANDOM_TREE:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    assert GIT is not None, "these tests compare with git: install git"
    subprocess.run([GIT, "init", "-q", str(root)], check=True)
    return root


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(patterns=st.lists(PATTERN, min_size=1, max_size=3))
# Git strips only one trailing or leading slash: these match nothing (found by hypothesis).
@example(patterns=["?//"])
@example(patterns=["//a"])
@example(patterns=["c//"])
def test_random_patterns_same_as_git(random_repo: Path, patterns: list[str]) -> None:
    text = "\n".join(patterns) + "\n"
    (random_repo / ".gitignore").write_text(text)
    (random_repo / ".marignore").write_text(text)
    try:
        ours = mararch_keeps(random_repo, random_repo.parent)
    except mararch.MararchError as exc:
        # Everything excluded: git simply lists nothing.
        assert "nothing to package" in str(exc)
        ours = set()
    assert ours == git_keeps(random_repo), text
