"""The `torch` tier: real torch.save / torch.jit / safetensors outputs pass `verify`, real malicious
torch files fail naming the callable, in .mar, .tar.gz and folder; `inspect --weights` counts
what torch counts; picklescan never calls dangerous what mararch passes.

Run with `pytest -m torch tests/test_torch_corpus.py` (needs a Python with torch, see
tests/helpers_torch.py); `.ci/run` runs it after the e2e setup.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import mararch
from helpers_pickles import build_archive
from helpers_torch import Corpus, make_corpus
from mararch.weights import inspect_weights

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def archive(corpus: Corpus, container: str, tmp_path: Path) -> Path:
    files = {rel: (corpus.root / rel).read_bytes() for rel in corpus.files}
    return build_archive(tmp_path, container, files)


@pytest.mark.parametrize("container", ["mar-deflated", "mar-stored", "tgz", "folder"])
def test_corpus_verdicts_in_every_container(corpus: Corpus, container: str, tmp_path: Path) -> None:
    report = mararch.verify(archive(corpus, container, tmp_path))
    by_member: dict[str, list[mararch.Finding]] = {}
    for f in report.findings:
        if f.code.startswith(("pickle", "safetensors")):
            by_member.setdefault(f.member or "", []).append(f)
    for rel, facts in corpus.files.items():
        found = by_member.get(rel, [])
        severities = {f.severity.value for f in found}
        if facts["verdict"] == "pass":
            assert found == [], (rel, found)
        elif facts["verdict"] == "warn":
            assert severities == {"warning"}, (rel, found)
            assert all(f.code == "pickle-unknown-import" for f in found)
        else:
            messages = [f.message for f in found if f.code == "pickle-unsafe-import"]
            assert any(f"imports {facts['callable']} " in m for m in messages), (rel, found)


def test_inspect_counts_what_torch_counts(corpus: Corpus, tmp_path: Path) -> None:
    with mararch.open_archive(archive(corpus, "mar-deflated", tmp_path)) as view:
        infos = {i.member: i for i in inspect_weights(view)}
    checked = 0
    for rel, facts in corpus.files.items():
        if "tensors" in facts:
            info = infos[rel]
            assert info.format.value == facts["format"], rel
            assert (info.tensors, info.parameters) == (facts["tensors"], facts["parameters"]), rel
            checked += 1
        elif "format" in facts:
            assert infos[rel].format.value == facts["format"], rel
    assert checked >= 18
    assert infos["benign/conv_bf16.pt"].dtypes == {"bfloat16", "int64"}  # BatchNorm's counter
    assert infos["benign/lstm_f16.safetensors"].dtypes == {"float16"}


def test_picklescan_finds_nothing_mararch_passes(corpus: Corpus) -> None:
    from helpers_differential import mararch_verdict, picklescan_dangerous

    for rel in corpus.files:
        path = corpus.root / rel
        if picklescan_dangerous(path):
            assert mararch_verdict(path) == "fail", rel
    for rel in corpus.of("fail"):
        assert picklescan_dangerous(corpus.root / rel), f"picklescan misses {rel}"
