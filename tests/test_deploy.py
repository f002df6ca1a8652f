"""`mararch deploy`: the tree it writes, and what it refuses."""

# ruff: noqa: F811 - the pytest fixture imported from helpers_remote is a parameter by name

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import tree
from helpers_deploy import config_of, make_archive, run, snapshot_of
from helpers_remote import fake_gcs  # noqa: F401 - fixture

REFERENCE = Path(__file__).parent / "fixtures" / "reference"


def test_kserve_tree_has_the_settings_kserve_needs(tmp_path: Path) -> None:
    mar = make_archive(tmp_path, "sums")
    folder = make_archive(tmp_path, "labels", archive_format="no-archive")

    result = run("deploy", tmp_path / "tree", mar, folder, "--kserve")

    assert result.exit_code == 0, result.output
    tree = tmp_path / "tree"
    assert sorted(p.name for p in (tree / "model-store").iterdir()) == ["labels", "sums.mar"]
    lines = config_of(tree).splitlines()
    for setting in (
        "inference_address=http://0.0.0.0:8085",
        "enable_envvars_config=true",
        "disable_token_authorization=true",
        "enable_model_api=true",
        "service_envelope=kserve",
    ):
        assert setting in lines
    assert snapshot_of(tree) == {
        "name": "startup.cfg",
        "modelCount": 2,
        "models": {
            name: {
                "1.0": {
                    "defaultVersion": True,
                    "marName": mar_name,
                    "minWorkers": 1,
                    "maxWorkers": 1,
                    "batchSize": 1,
                    "maxBatchDelay": 100,
                    "responseTimeout": 120,
                }
            }
            for name, mar_name in (("labels", "labels"), ("sums", "sums.mar"))
        },
    }
    assert "start it with: torchserve --start --model-store=" in result.stderr
    # Nothing but the tree was written beside it.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_settings_come_from_model_config_then_flags_then_defaults(tmp_path: Path) -> None:
    mar = make_archive(tmp_path, "m", config={"minWorkers": 2, "maxWorkers": 4})

    result = run("deploy", tmp_path / "t", mar, "--max-workers", "2", "--max-batch-delay", "7")

    assert result.exit_code == 0, result.output
    entry = snapshot_of(tmp_path / "t")["models"]["m"]["1.0"]
    # Workers from the archive's config (over the flag), the delay from the flag, the rest
    # TorchServe's defaults.
    assert (entry["minWorkers"], entry["maxWorkers"]) == (2, 4)
    assert (entry["batchSize"], entry["maxBatchDelay"], entry["responseTimeout"]) == (1, 7, 120)
    assert "service_envelope" not in config_of(tmp_path / "t")


def test_several_versions_of_one_model_highest_is_default(tmp_path: Path) -> None:
    old = make_archive(tmp_path, "m", "1.10", out="m-1.10.mar")
    new = make_archive(tmp_path, "m", "1.9", out="m-1.9.mar")

    assert run("deploy", tmp_path / "t", old, new, "--kserve").exit_code == 0

    snapshot = snapshot_of(tmp_path / "t")
    assert snapshot["modelCount"] == 2
    versions = snapshot["models"]["m"]
    assert {v: e["defaultVersion"] for v, e in versions.items()} == {"1.10": True, "1.9": False}
    assert run("verify", tmp_path / "t").exit_code == 0


def test_same_version_twice_is_refused_and_nothing_written(tmp_path: Path) -> None:
    a = make_archive(tmp_path, "m", out="a.mar")
    b = make_archive(tmp_path, "m", out="b.mar")

    result = run("deploy", tmp_path / "t", a, b)

    assert result.exit_code == 1
    assert "are both model 'm' version '1.0'" in result.stderr
    assert not (tmp_path / "t").exists()


def test_same_file_name_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    a = make_archive(tmp_path, "a", out="m.mar")
    b = make_archive(tmp_path, "b", out="x/m.mar")

    result = run("deploy", tmp_path / "t", a, b)

    assert result.exit_code == 1
    assert "would both be model-store/m.mar" in result.stderr


def test_existing_root_needs_force_and_is_replaced_whole(tmp_path: Path) -> None:
    mar = make_archive(tmp_path, "m")
    root = tmp_path / "t"
    root.mkdir()
    (root / "old.txt").write_text("old")

    refused = run("deploy", root, mar)
    assert refused.exit_code == 1
    assert f"{str(root)!r} already exists" in refused.stderr
    assert (root / "old.txt").exists()

    assert run("deploy", root, mar, "--force").exit_code == 0
    assert sorted(p.name for p in root.iterdir()) == ["config", "model-store"]


def test_link_symlinks_the_archives(tmp_path: Path) -> None:
    mar = make_archive(tmp_path, "m")

    assert run("deploy", tmp_path / "t", mar, "--link").exit_code == 0

    placed = tmp_path / "t" / "model-store" / "m.mar"
    assert placed.is_symlink()
    assert os.path.samefile(placed, mar)


def test_empty_file_in_a_folder_model_is_warned_about(tmp_path: Path) -> None:
    folder = make_archive(tmp_path, "m", archive_format="no-archive", extra={"empty.txt": b""})

    result = run("deploy", tmp_path / "t", folder, "--kserve")

    assert result.exit_code == 0
    assert "[empty-file] m/empty.txt: an empty file: kserve-storage skips" in result.stderr


def test_broken_archive_is_refused_with_its_findings(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mar"
    bad.write_bytes(b"PK\x03\x04 not really a zip")

    result = run("deploy", tmp_path / "t", bad)

    assert result.exit_code == 1
    assert "bad.mar" in result.stderr
    assert not (tmp_path / "t").exists()


def test_http_root_is_refused(tmp_path: Path) -> None:
    mar = make_archive(tmp_path, "m")

    result = run("deploy", "https://user:pw@example.com/models?sig=abc", mar)

    assert result.exit_code == 2
    assert (
        "'https://example.com/models?…': deploy writes a local folder or an s3:// or gs:// prefix"
        in result.stderr
    )
    assert "pw" not in result.output and "abc" not in result.output


def test_url_of_another_scheme_is_refused_not_made_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mar = make_archive(tmp_path, "m")
    monkeypatch.chdir(tmp_path)

    result = run("deploy", "ftp://host/models", mar)

    assert result.exit_code == 2
    assert "'ftp://host/models': deploy writes a local folder or an s3://" in result.stderr
    assert not (tmp_path / "ftp:").exists()


def test_link_to_a_bucket_is_a_usage_error(tmp_path: Path) -> None:
    mar = make_archive(tmp_path, "m")

    result = run("deploy", "s3://bucket/models", mar, "--link")

    assert result.exit_code == 2
    assert "--link cannot be used with 's3://bucket/models'" in result.stderr
    assert "Drop --link" in result.stderr


def test_dry_run_to_a_bucket_checks_the_archives_and_sends_nothing(tmp_path: Path) -> None:
    mar = make_archive(tmp_path, "m")
    bad = tmp_path / "bad.mar"
    bad.write_bytes(b"PK\x03\x04 not really a zip")

    planned = run("deploy", "s3://bucket/models/", mar, "--dry-run", "--json")
    refused = run("deploy", "s3://bucket/models", mar, bad)

    assert planned.exit_code == 0, planned.output
    assert '"root": "s3://bucket/models"' in planned.stdout
    assert '"written": false' in planned.stdout
    # Refused while planning: the store is never asked (there is none at s3://bucket).
    assert refused.exit_code == 1
    assert "bad.mar" in refused.stderr


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    mar = make_archive(tmp_path, "m")

    result = run("deploy", tmp_path / "t", mar, "--dry-run", "--json")

    assert result.exit_code == 0
    assert '"written": false' in result.stdout
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("archive", ["tma_default.mar", "tma_no_archive"])
def test_reference_archives_deploy_and_verify(tmp_path: Path, archive: str) -> None:
    assert run("deploy", tmp_path / "t", REFERENCE / archive, "--kserve").exit_code == 0
    # Their requirements.txt asks for per-model installs.
    assert "install_py_dep_per_model=true" in config_of(tmp_path / "t")
    assert run("verify", tmp_path / "t").exit_code == 0


def test_failure_while_copying_leaves_nothing_and_keeps_the_old_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = make_archive(tmp_path, "a")
    second = make_archive(tmp_path, "b")
    root = tmp_path / "t"
    assert run("deploy", root, first).exit_code == 0
    before = (root / "config" / "config.properties").read_bytes()
    real_copy = shutil.copyfile
    copied: list[str] = []

    def copy_then_fail(src: str, dst: str, **kwargs: object) -> object:
        if copied:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        copied.append(str(src))
        return real_copy(src, dst)

    monkeypatch.setattr(shutil, "copyfile", copy_then_fail)

    result = run("deploy", root, first, second, "--force")

    assert result.exit_code == 1
    assert "No space left on device" in result.stderr
    assert (root / "config" / "config.properties").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_mms_archive_is_checked_for_torchserve(tmp_path: Path) -> None:
    # An MMS archive passes `verify` as an MMS archive; deployed to TorchServe it must load there.
    result = run("deploy", tmp_path / "t", REFERENCE / "mms_default.mar")

    assert result.exit_code == 1
    assert "mms_default.mar" in result.stderr
    assert not (tmp_path / "t").exists()


def test_an_input_that_vanishes_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mar = make_archive(tmp_path, "m")

    def vanished(src: str, dst: str, **kwargs: object) -> object:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(src))

    monkeypatch.setattr(shutil, "copyfile", vanished)

    result = run("deploy", tmp_path / "t", mar)

    assert result.exit_code == 1
    assert f"cannot read {str(mar)!r}: No such file or directory" in result.stderr
    assert not (tmp_path / "t").exists()


def test_kservev2_envelope(tmp_path: Path) -> None:
    mar = make_archive(tmp_path, "m")

    assert run("deploy", tmp_path / "t", mar, "--kserve", "--envelope", "kservev2").exit_code == 0

    assert "service_envelope=kservev2" in config_of(tmp_path / "t").splitlines()
    assert run("verify", tmp_path / "t").exit_code == 0


def test_deploy_to_gs_is_the_local_tree(tmp_path: Path, fake_gcs: Any) -> None:
    # gs:// goes through the same code as s3:// (fsspec; parts joined by compose).
    archives = [
        make_archive(tmp_path, "sums"),
        make_archive(tmp_path, "labels", archive_format="no-archive"),
    ]

    assert run("deploy", "gs://bucket/prod", *archives, "--kserve").exit_code == 0
    assert run("deploy", tmp_path / "local", *archives, "--kserve").exit_code == 0

    uploaded = {p: fake_gcs.cat_file(p) for p in fake_gcs.find("/bucket")}
    assert uploaded == {f"/bucket/prod/{k}": v for k, v in tree(tmp_path / "local").items()}
    again = run("deploy", "gs://bucket/prod", *archives)
    assert again.exit_code == 1
    assert "'gs://bucket/prod' already holds" in again.stderr


def test_tree_table_is_not_folded_in_a_pipe(tmp_path: Path) -> None:
    # A CI log or `| less`: no terminal, no COLUMNS; each model stays on one line.
    archive = make_archive(tmp_path, "a_rather_long_model_name", config={"batchSize": 4})
    assert run("deploy", tmp_path / "root", archive).exit_code == 0
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}

    shown = subprocess.run(
        [sys.executable, "-m", "mararch", "inspect", tmp_path / "root"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )

    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if "a_rather_long_model_name" in line)
    assert "1.0 (default)" in row
    assert "a_rather_long_model_name.mar" in row
    assert "passed" in row
