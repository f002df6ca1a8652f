"""Bad input gives one clear message, a documented exit code, and leaves nothing behind."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from helpers import Cli, ModelInputs, create_args


def base_args(model: ModelInputs, name: str = "m") -> list[str]:
    return create_args(name, "1.0", model.handler, serialized_file=model.serialized_file)


def assert_nothing_written(folder: Path) -> None:
    assert not folder.exists() or list(folder.iterdir()) == []


def test_missing_serialized_file(model: ModelInputs, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli(
        *create_args(
            "m", "1", "image_classifier", serialized_file=tmp_path / "nope.pt", export_path=out
        ),
    )
    assert result.exit_code == 1
    assert result.stderr == f"error: --serialized-file '{tmp_path / 'nope.pt'}' does not exist\n"
    assert result.stdout == ""
    assert_nothing_written(out)


def test_input_is_a_folder(model: ModelInputs, cli: Cli, tmp_path: Path) -> None:
    result = cli(
        *create_args(
            "m", "1", "image_classifier", serialized_file=model.assets, export_path=tmp_path / "out"
        ),
    )
    assert result.exit_code == 1
    assert "is a folder, not a file" in result.stderr


@pytest.mark.parametrize("name", ["-bad", "has space", "slash/name", "ünïcode", "_x"])
def test_bad_model_name(name: str, model: ModelInputs, cli: Cli, tmp_path: Path) -> None:
    result = cli(*base_args(model, name), "--export-path", tmp_path / "out")
    assert result.exit_code == 1
    assert f"invalid model name {name!r}" in result.stderr
    assert_nothing_written(tmp_path / "out")


def test_export_path_is_a_file(model: ModelInputs, cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = cli(*base_args(model), "--export-path", target)
    assert result.exit_code == 1
    assert f"export path '{target}' is a file, not a folder" in result.stderr
    assert target.read_text() == "x"


def test_export_path_is_created(model: ModelInputs, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    result = cli(*base_args(model), "--export-path", out)
    assert result.exit_code == 0, result.output
    assert (out / "m.mar").is_file()


def test_default_export_path_is_cwd(model: ModelInputs, cli: Cli) -> None:
    assert cli(*base_args(model)).exit_code == 0
    assert (cli.cwd / "m.mar").is_file()


@pytest.mark.parametrize(
    "fmt,name", [("default", "m.mar"), ("tgz", "m.tar.gz"), ("no-archive", "m")]
)
def test_output_exists_needs_force(
    fmt: str, name: str, model: ModelInputs, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert cli(*base_args(model), "--archive-format", fmt, "--export-path", out).exit_code == 0
    before = sorted(p.name for p in out.iterdir())
    result = cli(*base_args(model), "--archive-format", fmt, "--export-path", out)
    assert result.exit_code == 1
    assert f"'{out / name}' already exists" in result.stderr
    assert "--force" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == before
    forced = cli(*base_args(model), "--archive-format", fmt, "--export-path", out, "-f")
    assert forced.exit_code == 0, forced.output
    assert sorted(p.name for p in out.iterdir()) == before


def test_no_archive_force_replaces_stale_files(
    model: ModelInputs, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = [*base_args(model), "--archive-format", "no-archive", "--export-path", str(out)]
    assert cli(*args).exit_code == 0
    (out / "m" / "stale.txt").write_text("from an earlier build")
    assert cli(*args, "--force").exit_code == 0
    assert not (out / "m" / "stale.txt").exists()
    assert (out / "m" / "MAR-INF" / "MANIFEST.json").is_file()


def test_two_inputs_on_one_member_name(model: ModelInputs, cli: Cli, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "labels.txt").write_text("different\n")
    result = cli(
        *base_args(model),
        "--extra-files",
        f"{model.assets}/labels.txt,{other}/labels.txt",
        "--export-path",
        tmp_path / "out",
    )
    assert result.exit_code == 1
    assert "would both be packaged as 'labels.txt'" in result.stderr
    assert str(model.assets / "labels.txt") in result.stderr
    assert str(other / "labels.txt") in result.stderr
    assert_nothing_written(tmp_path / "out")


def test_same_file_twice_is_not_a_conflict(model: ModelInputs, cli: Cli, tmp_path: Path) -> None:
    result = cli(
        *base_args(model),
        "--extra-files",
        f"{model.handler},{model.root}/*.py",
        "--export-path",
        tmp_path / "out",
    )
    assert result.exit_code == 0, result.output


def test_missing_handler_file(model: ModelInputs, cli: Cli, tmp_path: Path) -> None:
    result = cli(
        *create_args("m", "1", tmp_path / "handlers" / "custom", export_path=tmp_path / "out"),
    )
    assert result.exit_code == 1
    assert f"handler file '{tmp_path / 'handlers' / 'custom.py'}' does not exist" in result.stderr


def test_misspelt_builtin_handler_suggests_the_name(
    model: ModelInputs, cli: Cli, tmp_path: Path
) -> None:
    result = cli(
        *create_args("m", "1", "image_clasifier", export_path=tmp_path / "out"),
    )
    assert result.exit_code == 1
    assert "Did you mean the built-in handler 'image_classifier'?" in result.stderr


def test_missing_extra_file_but_empty_glob_is_fine(
    model: ModelInputs, cli: Cli, tmp_path: Path
) -> None:
    missing = cli(
        *base_args(model),
        "--extra-files",
        f"{model.root}/missing.json",
        "--export-path",
        tmp_path / "out",
    )
    assert missing.exit_code == 1
    assert f"extra file '{model.root}/missing.json' does not exist" in missing.stderr
    empty_glob = cli(
        *base_args(model),
        "--extra-files",
        f"{model.root}/*.none",
        "--export-path",
        tmp_path / "out",
    )
    assert empty_glob.exit_code == 0, empty_glob.output


def test_all_problems_reported_at_once(cli: Cli, tmp_path: Path) -> None:
    result = cli(
        *create_args(
            "bad name",
            "1",
            "image_classifier",
            serialized_file=tmp_path / "a.pt",
            model_file=tmp_path / "m.py",
            export_path=tmp_path / "out",
        ),
    )
    assert result.exit_code == 1
    assert "3 problems" in result.stderr
    assert "invalid model name 'bad name'" in result.stderr
    assert "a.pt' does not exist" in result.stderr
    assert "m.py' does not exist" in result.stderr


@pytest.mark.parametrize(
    "missing,flag",
    [("--model-name", "--model-name"), ("-v", "-v/--version"), ("--handler", "--handler")],
)
def test_missing_required_without_terminal_is_usage_error(
    missing: str, flag: str, model: ModelInputs, cli: Cli
) -> None:
    values = {"--model-name": "m", "-v": "1.0", "--handler": "image_classifier"}
    del values[missing]
    result = cli("create", *[x for kv in values.items() for x in kv])
    assert result.exit_code == 2
    assert f"missing option {flag}" in result.stderr
    assert list(cli.cwd.iterdir()) == []


def test_invalid_choice_is_usage_error(model: ModelInputs, cli: Cli) -> None:
    result = cli(*base_args(model), "--archive-format", "zip")
    assert result.exit_code == 2
    assert "zip" in result.stderr


def test_compression_contradicting_format(model: ModelInputs, cli: Cli) -> None:
    result = cli(*base_args(model), "--archive-format", "zip-store", "--compression", "deflate")
    assert result.exit_code == 2
    assert "contradicts --archive-format zip-store" in result.stderr


def test_bad_source_date_epoch(model: ModelInputs, cli: Cli) -> None:
    result = cli(*base_args(model), env={"SOURCE_DATE_EPOCH": "yesterday"})
    assert result.exit_code == 2
    assert "SOURCE_DATE_EPOCH='yesterday'" in result.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="file names that are not UTF-8")
@pytest.mark.parametrize("where", ["handler", "extra-files", "legacy"])
def test_file_name_that_is_not_utf8(cli: Cli, tmp_path: Path, where: str) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "svc.py").write_text("def handle(data, context):\n    return data\n")
    odd = folder / os.fsdecode(b"w\xff.py")
    odd.write_text("def handle(data, context):\n    return data\n")
    out = tmp_path / "out"
    if where == "handler":
        result = cli(*create_args("m", "1", odd, export_path=out))
    elif where == "extra-files":
        result = cli(*create_args("m", "1", "base_handler", extra_files=folder, export_path=out))
    else:
        args = ["--model-path", folder, "--handler", "svc", "--export-path", out]
        result = cli("legacy", "--model-name", "m", *args)
    assert result.exit_code == 1
    assert "the member name 'w\\udcff.py' is not valid UTF-8" in result.stderr
    assert "Rename the file: archive member names must be UTF-8 text." in result.stderr
    assert_nothing_written(out)
