"""`mararch extract` doing its job: destinations, --force, --member, layouts, round trip."""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import mararch
from crafted import MANIFEST_BYTES, ZEntry, make_mar, make_tgz, raw_tgz, raw_zip, tar_member
from helpers import Cli, ModelInputs, file_trees, split_digests, tree, write_files

FILES = {"handler.py": b"def handle(d, c):\n    return d\n", "assets/labels.txt": b"cat\ndog\n"}


def expected(files: dict[str, bytes]) -> dict[str, bytes]:
    return {"MAR-INF/MANIFEST.json": MANIFEST_BYTES, **files}


@pytest.mark.parametrize(
    ("name", "stem"), [("m.mar", "m"), ("resnet-18.tar.gz", "resnet-18"), ("m.tgz", "m")]
)
def test_default_destination_is_stem(cli: Cli, tmp_path: Path, name: str, stem: str) -> None:
    src = tmp_path / name
    if name.endswith(".mar"):
        make_mar(src, FILES)
    else:
        make_tgz(src, FILES)
    result = cli("extract", src)
    assert result.exit_code == 0, result.output
    dest = cli.cwd / stem
    # A tgz gives the model folder's contents, not the folder itself (TorchServe's layout).
    assert tree(dest) == expected(FILES)
    assert "extracted 3 files (" in result.stderr
    assert sorted(os.listdir(cli.cwd)) == [stem]


def test_output_option_and_api_result(tmp_path: Path) -> None:
    src = make_mar(tmp_path / "m.mar", FILES)
    result = mararch.extract(src, tmp_path / "a" / "b")
    assert result.destination == tmp_path / "a" / "b"
    assert result.size == sum(len(v) for v in expected(FILES).values())
    assert sorted(m.name for m in result.members) == sorted(expected(FILES))
    assert tree(tmp_path / "a" / "b") == expected(FILES)


def test_non_empty_destination_needs_force(cli: Cli, tmp_path: Path) -> None:
    src = make_mar(tmp_path / "m.mar", FILES)
    dest = cli.cwd / "m"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    result = cli("extract", src)
    assert result.exit_code == 1
    assert f"'{dest}' exists and is not empty" in result.stderr
    assert "--force" in result.stderr
    assert tree(dest) == {"old.txt": b"old"}
    result = cli("extract", src, "--force")
    assert result.exit_code == 0, result.output
    assert tree(dest) == expected(FILES)
    assert [p.name for p in cli.cwd.iterdir()] == ["m"]  # no temporary or old folder left


def test_empty_destination_is_used(cli: Cli, tmp_path: Path) -> None:
    src = make_mar(tmp_path / "m.mar", FILES)
    (cli.cwd / "out").mkdir()
    result = cli("extract", src, "--output", "out")
    assert result.exit_code == 0, result.output
    assert tree(cli.cwd / "out") == expected(FILES)


def test_destination_is_a_file(cli: Cli, tmp_path: Path) -> None:
    src = make_mar(tmp_path / "m.mar", FILES)
    (cli.cwd / "m").write_text("x")
    for args in ((), ("--force",)):
        result = cli("extract", src, *args)
        assert result.exit_code == 1
        assert "exists and is not a folder" in result.stderr
    assert (cli.cwd / "m").read_text() == "x"


def test_destination_containing_the_archive_refused(cli: Cli) -> None:
    src = make_mar(cli.cwd / "m.mar", FILES)
    result = cli("extract", src, "--output", ".", "--force")
    assert result.exit_code == 1
    assert "is the archive itself, inside it or contains it" in result.stderr
    assert src.exists()


def test_folder_archive_onto_itself_refused(cli: Cli) -> None:
    folder = cli.cwd / "m"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    result = cli("extract", "m", "--force")
    assert result.exit_code == 1
    assert "is the archive itself" in result.stderr
    assert tree(folder) == {"a.txt": b"a"}


def test_member_selection(cli: Cli, tmp_path: Path) -> None:
    src = make_mar(tmp_path / "m.mar", {**FILES, "assets/more/x.txt": b"x"})
    result = cli("extract", src, "--member", "handler.py", "-m", "assets/more")
    assert result.exit_code == 0, result.output
    assert tree(cli.cwd / "m") == {"handler.py": FILES["handler.py"], "assets/more/x.txt": b"x"}


def test_unknown_member_is_usage_error(cli: Cli, tmp_path: Path) -> None:
    src = make_mar(tmp_path / "m.mar", FILES)
    result = cli("extract", src, "--member", "nope.py", "--member", "handler.py")
    assert result.exit_code == 2
    assert "no member named 'nope.py'" in result.stderr
    assert not (cli.cwd / "m").exists()


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_executable_bit_kept_special_bits_dropped(tmp_path: Path, fmt: str) -> None:
    if fmt == "zip":
        src = raw_zip(
            tmp_path / "m.mar",
            [
                ZEntry("run.sh", b"#!/bin/sh\n", mode=stat.S_IFREG | 0o4755),
                ZEntry("data.txt", b"x", mode=stat.S_IFREG | 0o666),
            ],
        )
    else:
        src = raw_tgz(
            tmp_path / "m.tar.gz",
            [
                tar_member("m/run.sh", b"#!/bin/sh\n", mode=0o4755),
                tar_member("m/data.txt", b"x", mode=0o666),
            ],
        )
    mararch.extract(src, tmp_path / "out")
    assert stat.S_IMODE((tmp_path / "out" / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "out" / "data.txt").stat().st_mode) == 0o644


def test_tar_with_dot_root_and_directory_entries(tmp_path: Path) -> None:
    # `tar czf m.tar.gz -C model .` stores './MAR-INF/...': the first component is '.'.
    src = raw_tgz(
        tmp_path / "m.tar.gz",
        [
            tar_member("./", kind=tarfile.DIRTYPE, mode=0o755),
            tar_member("./MAR-INF", kind=tarfile.DIRTYPE, mode=0o755),
            tar_member("./MAR-INF/MANIFEST.json", MANIFEST_BYTES),
            tar_member("./empty", kind=tarfile.DIRTYPE, mode=0o755),
            tar_member("./handler.py", FILES["handler.py"]),
        ],
    )
    with mararch.open_archive(src) as view:
        assert view.model_root == "."
        assert [m.name for m in view.members] == [
            "MAR-INF",
            "MAR-INF/MANIFEST.json",
            "empty",
            "handler.py",
        ]
        assert view.manifest() is not None
    mararch.extract(src, tmp_path / "out")
    assert tree(tmp_path / "out") == {
        "MAR-INF/MANIFEST.json": MANIFEST_BYTES,
        "handler.py": FILES["handler.py"],
    }
    assert (tmp_path / "out" / "empty").is_dir()


def test_progress_reports_bytes(tmp_path: Path) -> None:
    big = {"w.pt": os.urandom(3 << 20), "x.bin": os.urandom(100)}
    src = make_mar(tmp_path / "m.mar", big)
    seen: list[tuple[int, int]] = []
    mararch.extract(src, tmp_path / "out", progress=lambda d, t: seen.append((d, t)))
    total = sum(len(v) for v in expected(big).values())
    assert seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_extract_folder_archive(model: ModelInputs, tmp_path: Path) -> None:
    made = mararch.create(
        model_name="net",
        version="1",
        handler=str(model.handler),
        serialized_file=model.serialized_file,
        archive_format="no-archive",
        export_path=tmp_path / "made",
    )
    mararch.extract(made, tmp_path / "copy")
    assert tree(tmp_path / "copy") == tree(made)


# -- round trip -------------------------------------------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=file_trees)
def test_round_trip_create_extract(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes]
) -> None:
    base = tmp_path_factory.mktemp("rt")
    src = write_files(base / "src", files)
    for fmt in ("default", "zip-store", "tgz", "no-archive"):
        made = mararch.create(
            model_name="rt",
            version="1.0",
            handler="image_classifier",
            extra_files=[str(src)],
            archive_format=fmt,
            export_path=base / fmt,
        )
        result = mararch.extract(made, base / f"out-{fmt}")
        got = split_digests(tree(result.destination))
        assert got.pop("MAR-INF/MANIFEST.json")
        assert got == files, fmt


def test_help_lists_flags(cli: Cli) -> None:
    top = cli("--help")
    assert "inspect" in top.stdout
    assert "extract" in top.stdout
    for command, flags in (
        ("extract", ["--output", "--member", "--force", "--allow-high-ratio"]),
        ("inspect", ["--json", "--all"]),
    ):
        result = cli(command, "--help")
        assert result.exit_code == 0
        for flag in flags:
            assert flag in result.stdout
