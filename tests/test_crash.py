"""A build or an extract killed outright (SIGKILL: OOM killer, CI timeout) leaves nothing behind,
or only temporaries that the next build or extract into the same folder removes, saying so."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import mararch
from conftest import Cli
from helpers_crash import listing, run_killed, spawn_holding

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and locks")

OUTPUT = {"default": "m.mar", "tgz": "m.tar.gz", "no-archive": "m"}
POINTS = ["0", "0.5", "1"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "weights.bin"
    path.write_bytes(os.urandom(6 << 20))
    return path


def previous_output(out: Path, fmt: str) -> bytes:
    """A finished output that a killed --force build must leave as it was."""
    out.mkdir()
    if fmt == "no-archive":
        (out / "m").mkdir()
        (out / "m" / "old.txt").write_bytes(b"previous")
    else:
        (out / OUTPUT[fmt]).write_bytes(b"previous")
    return b"previous"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="O_TMPFILE is Linux's")
@pytest.mark.parametrize("fmt", ["default", "tgz"])
@pytest.mark.parametrize("at", POINTS)
def test_killed_archive_build_leaves_nothing(
    fmt: str, at: str, weights: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    previous_output(out, fmt)
    run_killed("build", at, weights, out, fmt)
    assert listing(out) == [OUTPUT[fmt]]
    assert (out / OUTPUT[fmt]).read_bytes() == b"previous"


def sweep_message(stderr: str, count: int = 1) -> None:
    flat = " ".join(stderr.split())
    assert f"removed {count} temporar{'y' if count == 1 else 'ies'} left" in flat, stderr
    assert "by a mararch process that is gone" in flat, stderr


@pytest.mark.parametrize(
    ("fmt", "at", "no_tmpfile"),
    [("no-archive", p, False) for p in POINTS]
    + [("default", p, True) for p in POINTS]
    + [("tgz", "0.5", True)]
    + [(f, "replace", False) for f in ("default", "no-archive")]
    + [("no-archive", "replace2", False)],
)
def test_next_build_removes_what_a_killed_build_left(
    fmt: str, at: str, no_tmpfile: bool, weights: Path, tmp_path: Path, cli: Cli
) -> None:
    out = tmp_path / "out"
    previous_output(out, fmt)
    run_killed("build", at, weights, out, fmt, no_tmpfile=no_tmpfile)
    assert len(listing(out)) > 1  # the killed build's temporaries, and its owner's lock
    result = cli(
        "create", "--model-name", "m", "-v", "1", "--handler", "image_classifier",
        "--serialized-file", weights, "--export-path", out, "--archive-format", fmt, "--force",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    sweep_message(result.stderr)
    assert listing(out) == [OUTPUT[fmt]]


@pytest.mark.parametrize("at", [*POINTS, "replace"])
def test_next_extract_removes_what_a_killed_extract_left(
    at: str, weights: Path, tmp_path: Path, cli: Cli
) -> None:
    archive = mararch.create(
        model_name="m",
        version="1",
        handler="image_classifier",
        serialized_file=weights,
        export_path=tmp_path,
        compression="store",
    )
    dest = tmp_path / "into" / "m"
    dest.parent.mkdir()
    run_killed("extract", at, archive, dest)
    assert listing(dest.parent) != []
    result = cli("extract", archive, "-o", dest)
    assert result.exit_code == 0, result.output
    sweep_message(result.stderr)
    assert listing(dest.parent) == ["m"]
    assert (dest / "weights.bin").read_bytes() == weights.read_bytes()


@pytest.mark.parametrize("fmt", ["no-archive", "default"])
def test_a_running_build_keeps_its_temporaries(
    fmt: str, weights: Path, tmp_path: Path, cli: Cli
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    holder = spawn_holding("build", weights, out, fmt)
    try:
        during = listing(out)
        result = cli(
            "create", "--model-name", "other", "-v", "1", "--handler", "image_classifier",
            "--export-path", out, "--archive-format", fmt,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "removed" not in result.stderr
        assert set(during) <= set(listing(out))
    finally:
        holder.kill()
        holder.communicate()


def test_killed_between_the_renames_of_a_folder_puts_the_previous_back(
    weights: Path, tmp_path: Path, cli: Cli
) -> None:
    out = tmp_path / "out"
    previous_output(out, "no-archive")
    run_killed("build", "replace2", weights, out, "no-archive")
    assert not (out / "m").exists()  # moved away; the new one was not in place yet
    result = cli(
        "create", "--model-name", "other", "-v", "1", "--handler", "image_classifier",
        "--export-path", out, "--archive-format", "no-archive",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stderr.split())
    assert f"restored {str(out / 'm')!r}" in flat, result.stderr
    assert (out / "m" / "old.txt").read_bytes() == b"previous"
    assert listing(out) == ["m", "other"]


def test_api_reports_what_it_removed(weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    previous_output(out, "no-archive")
    run_killed("build", "0.5", weights, out, "no-archive")
    left = [p for p in listing(out) if p != "m" and not p.endswith(".lock")]
    result = mararch.build(
        mararch.plan_create(
            model_name="m",
            version="1",
            handler="image_classifier",
            export_path=out,
            archive_format="no-archive",
            force=True,
        )
    )
    assert sorted(s.path.name for s in result.swept) == left


def test_names_without_an_owner_lock_are_left_alone(tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "out"
    out.mkdir()
    # Not ours to judge: no lock file says whose they are (e.g. an older mararch's temporary).
    kept = [".m.mar.mararch-tmp-1-deadbeef", ".m.mar.mararch-tmp-0123abcd", "notes.txt"]
    for name in kept:
        (out / name).write_text("x")
    result = cli(
        "create", "--model-name", "m", "-v", "1", "--handler", "image_classifier",
        "--export-path", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "removed" not in result.stderr
    assert listing(out) == sorted([*kept, "m.mar"])
