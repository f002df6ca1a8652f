"""Reproducible builds: with SOURCE_DATE_EPOCH, the same inputs give byte-identical outputs."""

from __future__ import annotations

import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

import mararch
from helpers import ModelInputs, tree

EPOCH = 1_700_000_000  # 2023-11-14 22:13:20 UTC


def build(model: ModelInputs, out: Path, fmt: str) -> Path:
    return mararch.create(
        model_name="m",
        version="1.0",
        handler=str(model.handler),
        serialized_file=model.serialized_file,
        model_file=model.model_file,
        extra_files=f"{model.assets},{model.index}",
        config_file=model.config_file,
        export_path=out,
        archive_format=fmt,
    )


@pytest.mark.parametrize("fmt", ["default", "zip-store", "tgz", "no-archive"])
def test_two_builds_are_identical(
    fmt: str, model: ModelInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    first = build(model, tmp_path / "a", fmt)
    # Touch every input and loosen its permissions: neither may show in the output.
    for path in model.root.rglob("*"):
        if path.is_file():
            os.utime(path, (EPOCH + 12345, EPOCH + 12345))
            path.chmod(0o664)
    second = build(model, tmp_path / "b", fmt)
    if fmt == "no-archive":
        assert tree(first) == tree(second)
        stamps = {p.stat().st_mtime for p in first.rglob("*") if p.is_file()}
        assert stamps == {EPOCH}
    else:
        assert first.read_bytes() == second.read_bytes()


def test_created_on_and_member_times_come_from_the_epoch(
    model: ModelInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    path = build(model, tmp_path, "default")
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("MAR-INF/MANIFEST.json"))
        assert manifest["createdOn"] == "14/11/2023 22:13:20"
        assert {i.date_time for i in zf.infolist()} == {(2023, 11, 14, 22, 13, 20)}
        assert {i.external_attr >> 16 for i in zf.infolist()} == {0o100644}
        names = zf.namelist()
    # Sorted, but for the digests: written last, as they cover every other member.
    assert names[-1] == "MAR-INF/digests.json"
    assert names[:-1] == sorted(names[:-1])


def test_tar_members_have_fixed_owner_and_time(
    model: ModelInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    path = build(model, tmp_path, "tgz")
    with tarfile.open(path) as tf:
        members = tf.getmembers()
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", EPOCH)}
    names = [m.name for m in members]
    assert names[-1] == "m/MAR-INF/digests.json"
    assert names[:-1] == sorted(names[:-1])


def test_executable_bit_is_kept(model: ModelInputs, tmp_path: Path) -> None:
    script = model.root / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    path = mararch.create(
        model_name="m",
        version="1",
        handler=str(model.handler),
        extra_files=str(script),
        export_path=tmp_path,
    )
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("run.sh").external_attr >> 16 == 0o100755
        assert zf.getinfo("my_handler.py").external_attr >> 16 == 0o100644
