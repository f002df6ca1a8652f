"""mararch against picklescan on the crafted corpus: every file picklescan calls dangerous, mararch
fails too. Where mararch is stricter is pinned here and listed in docs/weights-safety.md."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from helpers_differential import mararch_verdict, picklescan_dangerous
from helpers_pickles import (
    BENIGN,
    MALICIOUS,
    USER_CLASS,
    legacy_torch,
    state_dict_pickle,
    torch_zip,
)

# The reference scanner (picklescan 1.0.5) installs on Python 3.11+ only; mararch's own scanner
# is tested on every version by tests/test_pickles.py.
pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="picklescan 1.0.5 (the reference) needs Python 3.11+"
)

CORPUS = {
    **{f"{c.name}.pkl": c.data for c in MALICIOUS},
    **{f"{c.name}-zip.pt": torch_zip(c.data) for c in MALICIOUS},
    **{f"{c.name}-legacy.pt": legacy_torch(c.data) for c in MALICIOUS},
    "benign.pkl": BENIGN,
    "user-class.pkl": USER_CLASS,
    "state-dict.pt": torch_zip(state_dict_pickle()),
    "state-dict-legacy.pt": legacy_torch(state_dict_pickle()),
}
#: Crafted pickles mararch fails and picklescan 1.0.5 passes: imports missing from its list
#: (listed in docs/weights-safety.md).
STRICTER = {"p2-builtin-import", "p4-marshal-loads"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("differential")
    for name, data in CORPUS.items():
        (root / name).write_bytes(data)
    return root


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_whatever_picklescan_calls_dangerous_mararch_fails(name: str, corpus: Path) -> None:
    path = corpus / name
    if picklescan_dangerous(path):
        assert mararch_verdict(path) == "fail"


def test_mararch_is_stricter_only_where_documented(corpus: Path) -> None:
    stricter = {
        name.split(".")[0].removesuffix("-zip").removesuffix("-legacy")
        for name in CORPUS
        if mararch_verdict(corpus / name) == "fail" and not picklescan_dangerous(corpus / name)
    }
    assert stricter == STRICTER
