"""`mararch deploy s3://BUCKET/PREFIX ...` against a real S3 API server (moto's, its own process
on 127.0.0.1): the objects are the local tree's files byte for byte, the config goes up last, a
failure or Ctrl-C leaves nothing the run created, existing objects need --force."""

# ruff: noqa: F811 - pytest fixtures imported from helpers_remote are parameters by name

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import Cli, tree
from helpers_deploy import make_archive
from helpers_remote import (  # noqa: F401 - fixtures
    S3Server,
    new_bucket,
    objects,
    pending_uploads,
    rcli,
    s3,
    s3_server,
)
from mararch import remote_write
from mararch.deploy import deploy, plan_deploy
from mararch.errors import ArchiveError

pytestmark = pytest.mark.remote

CONFIG = "config/config.properties"


def inputs(folder: Path, *, weights: bytes = b"w") -> list[Path]:
    """A .mar (`big`, with `weights` in it) and a no-archive folder (`labels`)."""
    return [
        make_archive(folder, "big", extra={"weights.bin": weights}),
        make_archive(folder, "labels", archive_format="no-archive", extra={"labels.txt": b"a,b"}),
    ]


def with_prefix(prefix: str, files: dict[str, bytes]) -> dict[str, bytes]:
    return {f"{prefix}/{name}": data for name, data in files.items()}


def test_uploaded_tree_is_the_local_tree_byte_for_byte(
    s3: S3Server, rcli: Cli, tmp_path: Path
) -> None:
    bucket = new_bucket(s3)
    archives = inputs(tmp_path)

    up = rcli("deploy", f"s3://{bucket}/prod/", *archives, "--kserve", "--json")
    local = rcli("deploy", tmp_path / "local", *archives, "--kserve")

    assert up.exit_code == 0, up.output
    assert local.exit_code == 0, local.output
    expected = tree(tmp_path / "local")
    assert CONFIG in expected and "model-store/labels/labels.txt" in expected
    assert objects(s3, bucket) == with_prefix("prod", expected)
    assert pending_uploads(s3, bucket) == []
    report = json.loads(up.stdout)
    assert report["root"] == f"s3://{bucket}/prod"
    assert report["written"] is True
    assert [m["marName"] for m in report["models"]] == ["big.mar", "labels"]


def test_inspecting_the_uploaded_prefix_says_how_to_check_a_tree(
    s3: S3Server, rcli: Cli, tmp_path: Path
) -> None:
    bucket = new_bucket(s3)
    assert rcli("deploy", f"s3://{bucket}/prod", *inputs(tmp_path)).exit_code == 0

    result = rcli("inspect", f"s3://{bucket}/prod")

    assert result.exit_code == 1
    assert f"'s3://{bucket}/prod' is a folder (a prefix), not a file" in result.stderr
    assert "deploy the same archives to a folder and verify that" in result.stderr


def test_summary_names_the_storage_uri(s3: S3Server, rcli: Cli, tmp_path: Path) -> None:
    bucket = new_bucket(s3)

    result = rcli("deploy", f"s3://{bucket}/m", *inputs(tmp_path), "--kserve")

    assert result.exit_code == 0, result.output
    assert f"wrote s3://{bucket}/m (2 model versions)" in result.stderr
    assert f"serve it with KServe: storageUri: s3://{bucket}/m\n" in result.stderr


def test_config_is_uploaded_last(
    s3: S3Server, rcli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = new_bucket(s3)
    order: list[str] = []
    real_put = remote_write.S3PartStore.put

    def put(self: remote_write.S3PartStore, data: bytes) -> None:
        order.append(self.key)
        real_put(self, data)

    monkeypatch.setattr(remote_write.S3PartStore, "put", put)

    assert rcli("deploy", f"s3://{bucket}/m", *inputs(tmp_path)).exit_code == 0

    assert order[-1] == f"m/{CONFIG}"
    assert sorted(order) == sorted(objects(s3, bucket))


@pytest.mark.parametrize("fault", [KeyboardInterrupt, OSError])
def test_failed_config_upload_leaves_no_config_and_no_archives(
    s3: S3Server,
    rcli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault: type[BaseException],
) -> None:
    bucket = new_bucket(s3)
    real_put = remote_write.S3PartStore.put

    def put(self: remote_write.S3PartStore, data: bytes) -> None:
        if self.key.endswith(CONFIG):
            raise fault("connection lost")
        real_put(self, data)

    monkeypatch.setattr(remote_write.S3PartStore, "put", put)

    result = rcli("deploy", f"s3://{bucket}/m", *inputs(tmp_path))

    assert result.exit_code == (130 if fault is KeyboardInterrupt else 1)
    assert "Traceback" not in result.output
    assert objects(s3, bucket) == {}


def test_failure_mid_archive_leaves_nothing(
    s3: S3Server, rcli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 20 MB of weights: the archive goes up in 8 MiB parts; part 2 fails.
    bucket = new_bucket(s3)
    first = make_archive(tmp_path, "aaa")  # uploaded (and then removed) before the big one
    archives = [first, *inputs(tmp_path, weights=os.urandom(20_000_000))]
    real = remote_write.S3PartStore.upload_part

    def upload_part(self: remote_write.S3PartStore, number: int, data: bytes) -> None:
        if number == 2:
            raise OSError("connection lost")
        real(self, number, data)

    monkeypatch.setattr(remote_write.S3PartStore, "upload_part", upload_part)

    result = rcli("deploy", f"s3://{bucket}/m", *archives)

    assert result.exit_code == 1
    assert f"error: cannot write 's3://{bucket}/m/model-store/big.mar'" in result.stderr
    assert objects(s3, bucket) == {}
    assert pending_uploads(s3, bucket) == []


def test_existing_objects_are_refused_then_replaced_with_force(
    s3: S3Server, rcli: Cli, tmp_path: Path
) -> None:
    bucket = new_bucket(s3)
    client = s3.client()
    client.put_object(Bucket=bucket, Key="m/model-store/old.mar", Body=b"old")
    client.put_object(Bucket=bucket, Key="m/notes.txt", Body=b"notes")
    client.put_object(Bucket=bucket, Key="m2/keep.txt", Body=b"another prefix")
    before = objects(s3, bucket)
    archives = inputs(tmp_path)

    refused = rcli("deploy", f"s3://{bucket}/m", *archives)

    assert refused.exit_code == 1
    assert (
        f"error: 's3://{bucket}/m' already holds 2 objects: model-store/old.mar, notes.txt"
        in refused.stderr
    )
    assert "--force" in refused.stderr
    assert objects(s3, bucket) == before

    forced = rcli("deploy", f"s3://{bucket}/m", *archives, "--force")

    assert forced.exit_code == 0, forced.output
    assert rcli("deploy", tmp_path / "local", *archives).exit_code == 0
    expected = with_prefix("m", tree(tmp_path / "local"))
    # The old tree's archive is gone; what is not part of a tree stays, below the prefix too.
    assert objects(s3, bucket) == {
        **expected,
        "m/notes.txt": b"notes",
        "m2/keep.txt": b"another prefix",
    }


def test_force_on_a_bucket_root_leaves_other_objects(
    s3: S3Server, rcli: Cli, tmp_path: Path
) -> None:
    bucket = new_bucket(s3)
    client = s3.client()
    client.put_object(Bucket=bucket, Key="model-store/old.mar", Body=b"old")
    client.put_object(Bucket=bucket, Key="datasets/train.csv", Body=b"a,b")
    archives = inputs(tmp_path)

    forced = rcli("deploy", f"s3://{bucket}", *archives, "--force")

    assert forced.exit_code == 0, forced.output
    assert rcli("deploy", tmp_path / "local", *archives).exit_code == 0
    assert objects(s3, bucket) == {**tree(tmp_path / "local"), "datasets/train.csv": b"a,b"}


def test_missing_bucket_is_named(s3: S3Server, rcli: Cli, tmp_path: Path) -> None:
    result = rcli("deploy", "s3://no-such-bucket/m", *inputs(tmp_path))

    assert result.exit_code == 1
    assert "the bucket 'no-such-bucket' does not exist" in result.stderr


def test_secret_storage_option_is_never_shown(s3: S3Server, rcli: Cli, tmp_path: Path) -> None:
    bucket = new_bucket(s3)
    secret = "wrong-secret-do-not-print"

    result = rcli(
        "deploy",
        f"s3://{bucket}/m",
        *inputs(tmp_path),
        "--storage-option",
        "key=AKIAWRONGWRONGWRONG1",
        "--storage-option",
        f"secret={secret}",
    )

    assert result.exit_code == 1
    # Wrong keys cannot see the bucket: named, with the credentials as the likely cause.
    assert f"error: cannot write 's3://{bucket}/m': the bucket {bucket!r}" in result.stderr
    assert "credentials" in result.stderr
    assert secret not in result.output
    assert objects(s3, bucket) == {}


def test_storage_options_reach_the_store(s3: S3Server, rcli: Cli, tmp_path: Path) -> None:
    bucket = new_bucket(s3)

    result = rcli(
        "deploy",
        f"s3://{bucket}/m",
        *inputs(tmp_path),
        "--storage-option",
        f"key={s3.key_id}",
        "--storage-option",
        f"secret={s3.secret}",
        env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""},
    )

    assert result.exit_code == 0, result.output
    assert f"m/{CONFIG}" in objects(s3, bucket)


def test_progress_counts_every_byte_uploaded(s3: S3Server, tmp_path: Path) -> None:
    bucket = new_bucket(s3)
    plan = plan_deploy(f"s3://{bucket}/m", inputs(tmp_path, weights=os.urandom(3_000_000)))
    calls: list[tuple[int, int]] = []

    deploy(plan, lambda done, total: calls.append((done, total)))

    uploaded = sum(len(data) for data in objects(s3, bucket).values())
    assert calls[-1] == (uploaded, uploaded)
    assert plan.size == uploaded  # the bar's total
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_an_input_that_vanishes_is_named_and_nothing_is_sent(s3: S3Server, tmp_path: Path) -> None:
    bucket = new_bucket(s3)
    mar, folder = inputs(tmp_path)
    plan = plan_deploy(f"s3://{bucket}/m", [mar, folder])
    (folder / "labels.txt").unlink()
    (folder / "labels.txt").symlink_to(tmp_path / "gone")

    with pytest.raises(ArchiveError, match=r"^cannot read '.*labels.txt': No such file"):
        deploy(plan)

    assert objects(s3, bucket) == {}
