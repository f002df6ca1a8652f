"""The planning steps `create` and `legacy` share (`mararch.planning`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mararch.errors import InputError, RequestError, UsageError
from mararch.planning import ProblemCollector, parse_choice
from mararch.plans import TORCHSERVE_RUNTIMES, Runtime
from mararch.sources import split_extra_files


def test_one_problem_is_raised_as_itself() -> None:
    problems = ProblemCollector()
    problems.attempt(_fail, InputError("no such file", path="x"))
    with pytest.raises(InputError, match=r"^no such file$"):
        problems.raise_if_any()


def test_several_problems_are_listed_in_order() -> None:
    problems = ProblemCollector()
    problems.problem("first")
    with problems.collecting():
        _fail(UsageError("second", hint="how to fix it"))
    assert problems.attempt(len, "abc") == 3
    with pytest.raises(RequestError) as info:
        problems.raise_if_any()
    assert info.value.problems == ["first", "second\nhow to fix it"]


def test_no_problems_raise_nothing() -> None:
    ProblemCollector().raise_if_any()


def test_parse_choice_refuses_a_value_outside_the_commands_set() -> None:
    assert parse_choice(Runtime, "LSP", "--runtime", TORCHSERVE_RUNTIMES, "says", "hint") is (
        Runtime.LSP
    )
    with pytest.raises(UsageError) as info:
        parse_choice(Runtime, "python2", "--runtime", TORCHSERVE_RUNTIMES, "says", "hint")
    assert (info.value.message, info.value.hint) == (
        "invalid value 'python2' for --runtime: says",
        "hint",
    )
    with pytest.raises(UsageError, match=r"^invalid value 'python4' for --runtime: choose one"):
        parse_choice(Runtime, "python4", "--runtime", TORCHSERVE_RUNTIMES, "says", "hint")


def test_extra_files_from_the_api_may_be_paths() -> None:
    assert split_extra_files([Path("a.json"), " b.txt ", ""]) == ["a.json", "b.txt"]
    assert split_extra_files("a.json, b.txt,") == ["a.json", "b.txt"]
    assert split_extra_files(None) == []


def _fail(exc: Exception) -> None:
    raise exc
