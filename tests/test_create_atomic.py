"""Atomic output and no staging: a failed or interrupted build leaves nothing behind."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

import mararch
from helpers import ModelInputs, tree
from mararch.errors import InputError

FORMATS = ["default", "zip-store", "tgz", "no-archive"]
OUTPUT = {"default": "m.mar", "zip-store": "m.mar", "tgz": "m.tar.gz", "no-archive": "m"}


def plan(model: ModelInputs, out: Path, fmt: str, force: bool = True) -> mararch.plans.Plan:
    return mararch.plan_create(
        model_name="m",
        version="1.0",
        handler=str(model.handler),
        serialized_file=model.serialized_file,
        model_file=model.model_file,
        extra_files=str(model.assets),
        export_path=out,
        archive_format=fmt,
        force=force,
    )


def snapshot(path: Path) -> dict[str, bytes] | bytes:
    return tree(path) if path.is_dir() else path.read_bytes()


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("exc", [KeyboardInterrupt, Interrupt])
def test_interrupted_build_keeps_previous_output(
    fmt: str, exc: type[BaseException], model: ModelInputs, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    mararch.build(plan(model, out, fmt, force=False))
    before = snapshot(out / OUTPUT[fmt])
    calls = []

    def interrupt(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise exc

    with pytest.raises(exc):
        mararch.build(plan(model, out, fmt), progress=interrupt)
    assert len(calls) == 2
    assert sorted(p.name for p in out.iterdir()) == [OUTPUT[fmt]]
    assert snapshot(out / OUTPUT[fmt]) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_input_vanishing_mid_build_fails_cleanly(
    fmt: str, model: ModelInputs, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    p = plan(model, out, fmt)
    model.serialized_file.unlink()
    with pytest.raises(InputError, match=r"model\.pt"):
        mararch.build(p)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_input_growing_mid_build_is_refused(fmt: str, model: ModelInputs, tmp_path: Path) -> None:
    out = tmp_path / "out"
    p = plan(model, out, fmt)
    with model.serialized_file.open("ab") as fh:
        fh.write(b"more")
    with pytest.raises(InputError, match="changed while it was being packaged"):
        mararch.build(p)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_staging_copy(
    fmt: str, model: ModelInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While writing, the only new thing anywhere is the (temporary) output in the export folder;
    nothing goes to the temp folder, where the reference stages a full copy of the inputs."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    out = tmp_path / "out"
    out.mkdir()
    sources_before = tree(model.root)
    seen: list[list[str]] = []

    def look(done: int, total: int) -> None:
        seen.append(sorted(os.listdir(out)) + sorted(os.listdir(tmpdir)))

    mararch.build(plan(model, out, fmt), progress=look)
    assert seen
    for listing in seen:
        if fmt != "no-archive" and sys.platform.startswith("linux"):
            assert listing == []  # an unnamed file (O_TMPFILE), linked into place at the end
            continue
        # An owned temporary, and the lock file that tells it from a killed build's.
        temp = f".{OUTPUT[fmt]}.mararch-tmp-{os.getpid()}-"
        assert len(listing) == 2
        assert listing[0].startswith(temp)
        assert listing[1] == listing[0] + ".lock"
    assert sorted(os.listdir(out)) == [OUTPUT[fmt]]
    assert list(tmpdir.iterdir()) == []
    assert tree(model.root) == sources_before


def test_previous_archive_is_never_packed(
    model: ModelInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--extra-files '*'` in the export folder must not swallow the previous build."""
    monkeypatch.chdir(model.root)
    args = {
        "model_name": "m",
        "version": "1.0",
        "handler": "my_handler.py",
        "extra_files": "*.json,*",
        "force": True,
    }
    mararch.create(**args)
    import zipfile

    mararch.create(**args)
    with zipfile.ZipFile(model.root / "m.mar") as zf:
        assert "m.mar" not in zf.namelist()
        assert "index_to_name.json" in zf.namelist()


def test_no_archive_refuses_inputs_inside_its_output(model: ModelInputs, tmp_path: Path) -> None:
    out = tmp_path / "out"
    mararch.create(
        model_name="m",
        version="1",
        handler=str(model.handler),
        export_path=out,
        archive_format="no-archive",
    )
    with pytest.raises(mararch.MararchError, match="inside the output folder"):
        mararch.create(
            model_name="m",
            version="1",
            handler=str(out / "m" / "my_handler.py"),
            export_path=out,
            archive_format="no-archive",
            force=True,
        )
    assert (out / "m" / "my_handler.py").is_file()
