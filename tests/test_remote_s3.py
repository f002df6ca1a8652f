"""Remote stores against a real S3 API server (moto's standalone server, its own process on
127.0.0.1): create into a bucket, inspect/verify/extract back, --force, interrupted uploads,
missing buckets and wrong credentials."""

# ruff: noqa: F811 - pytest fixtures imported from helpers_remote are parameters by name

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mararch
from conftest import Cli, ModelInputs, sigint_default, tree
from helpers_remote import (  # noqa: F401 - fixtures
    S3Server,
    create_args,
    new_bucket,
    objects,
    pending_uploads,
    rcli,
    s3,
    s3_server,
)
from mararch import remote_write

pytestmark = pytest.mark.remote

EPOCH = "1700000000"


def test_create_to_bucket_is_the_local_build_byte_for_byte(
    s3: S3Server, rcli: Cli, model: ModelInputs, tmp_path: Path
) -> None:
    bucket = new_bucket(s3)
    env = {"SOURCE_DATE_EPOCH": EPOCH}
    up = rcli(*create_args(model, f"s3://{bucket}/prod/", "--json"), env=env)
    assert up.exit_code == 0, up.output
    local = rcli(*create_args(model, str(tmp_path / "local")), env=env)
    assert local.exit_code == 0, local.output
    built = (tmp_path / "local" / "net.mar").read_bytes()
    assert objects(s3, bucket) == {"prod/net.mar": built}
    report = json.loads(up.stdout)
    assert report["url"] == f"s3://{bucket}/prod/net.mar"
    assert report["size"] == len(built)
    import hashlib

    assert report["sha256"] == hashlib.sha256(built).hexdigest()
    assert pending_uploads(s3, bucket) == []


def test_large_archive_goes_up_in_parts_and_reads_back(
    s3: S3Server, rcli: Cli, model: ModelInputs, tmp_path: Path
) -> None:
    # 20 MB of weights: three 8 MiB parts, the first held until its header is written.
    model.serialized_file.write_bytes(os.urandom(20_000_000))
    bucket = new_bucket(s3)
    url = f"s3://{bucket}/net.mar"
    assert rcli(*create_args(model, f"s3://{bucket}")).exit_code == 0
    assert remote_write.part_size(20_000_000) == remote_write.MIN_PART
    inspected = rcli("inspect", url, "--json")
    assert inspected.exit_code == 0, inspected.output
    transfer = json.loads(inspected.stdout)["transfer"]
    assert transfer["mode"] == "ranges"
    assert transfer["bytes_fetched"] < 256 * 1024  # of a 20 MB object
    verified = rcli("verify", url, "--json")
    assert verified.exit_code == 0, verified.output
    codes = [f["code"] for f in json.loads(verified.stdout)["findings"]]
    assert "data-read" in codes and "digest-mismatch" not in codes
    out = rcli("extract", url, "-o", str(tmp_path / "out"))
    assert out.exit_code == 0, out.output
    assert tree(tmp_path / "out")["model.pt"] == model.serialized_file.read_bytes()


def test_existing_object_needs_force(s3: S3Server, rcli: Cli, model: ModelInputs) -> None:
    bucket = new_bucket(s3)
    assert rcli(*create_args(model, f"s3://{bucket}/m")).exit_code == 0
    before = objects(s3, bucket)
    again = rcli(*create_args(model, f"s3://{bucket}/m"))
    assert again.exit_code == 1
    assert f"error: 's3://{bucket}/m/net.mar' already exists" in again.stderr
    assert objects(s3, bucket) == before
    model.serialized_file.write_bytes(b"new weights")
    forced = rcli(*create_args(model, f"s3://{bucket}/m", "--force"))
    assert forced.exit_code == 0, forced.output
    assert objects(s3, bucket) != before
    assert pending_uploads(s3, bucket) == []


@pytest.mark.parametrize("fault", [KeyboardInterrupt, OSError])
def test_interrupted_upload_leaves_no_object_and_no_pending_upload(
    s3: S3Server,
    rcli: Cli,
    model: ModelInputs,
    monkeypatch: pytest.MonkeyPatch,
    fault: type[BaseException],
) -> None:
    model.serialized_file.write_bytes(os.urandom(20_000_000))
    bucket = new_bucket(s3)
    real = remote_write.S3PartStore.upload_part

    def upload_part(self: remote_write.S3PartStore, number: int, data: bytes) -> None:
        if number == 2:
            raise fault("connection lost")
        real(self, number, data)

    monkeypatch.setattr(remote_write.S3PartStore, "upload_part", upload_part)
    result = rcli(*create_args(model, f"s3://{bucket}/"))
    assert result.exit_code == (130 if fault is KeyboardInterrupt else 1)
    assert "Traceback" not in result.output
    assert objects(s3, bucket) == {}
    assert pending_uploads(s3, bucket) == []


def test_missing_bucket(s3: S3Server, rcli: Cli, model: ModelInputs) -> None:
    result = rcli(*create_args(model, "s3://no-such-bucket/models"))
    assert result.exit_code == 1
    assert (
        "error: cannot write 's3://no-such-bucket/models/net.mar': the bucket "
        "'no-such-bucket' does not exist" in result.stderr
    )
    gone = rcli("inspect", "s3://no-such-bucket/net.mar")
    assert gone.exit_code == 1
    assert "error: cannot read 's3://no-such-bucket/net.mar': no such object" in gone.stderr


def test_wrong_credentials_fail_without_showing_them(
    s3: S3Server, rcli: Cli, model: ModelInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = new_bucket(s3)
    assert rcli(*create_args(model, f"s3://{bucket}")).exit_code == 0
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-do-not-print")
    for args in (["inspect", f"s3://{bucket}/net.mar"], create_args(model, f"s3://{bucket}/b")):
        result = rcli(*args)
        assert result.exit_code == 1, result.output
        assert "error: cannot" in result.stderr
        assert "wrong-secret-do-not-print" not in result.output
        assert "Traceback" not in result.output
    inspected = rcli("inspect", f"s3://{bucket}/net.mar")
    assert "access denied" in inspected.stderr


def test_storage_option_overrides_the_environment(
    s3: S3Server, rcli: Cli, model: ModelInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = new_bucket(s3)
    assert rcli(*create_args(model, f"s3://{bucket}")).exit_code == 0
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    result = rcli(
        "inspect", f"s3://{bucket}/net.mar", "--storage-option", f"endpoint_url={s3.endpoint}"
    )
    assert result.exit_code == 0, result.output
    endpoint = ["--storage-option", f"endpoint_url={s3.endpoint}"]
    again = rcli(*create_args(model, f"s3://{bucket}/again", *endpoint))
    assert again.exit_code == 0, again.output
    assert "again/net.mar" in objects(s3, bucket)
    bad = rcli("inspect", f"s3://{bucket}/net.mar", "--storage-option", "nonsense")
    assert bad.exit_code == 2
    assert "invalid --storage-option 'nonsense': expected KEY=VALUE" in bad.stderr


def test_no_archive_to_bucket_writes_objects_and_removes_them_on_failure(
    s3: S3Server, rcli: Cli, model: ModelInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = new_bucket(s3)
    ok = rcli(*create_args(model, f"s3://{bucket}/store", "--archive-format", "no-archive"))
    assert ok.exit_code == 0, ok.output
    names = set(objects(s3, bucket))
    assert {"store/net/MAR-INF/MANIFEST.json", "store/net/model.pt"} <= names
    assert objects(s3, bucket)["store/net/model.pt"] == model.serialized_file.read_bytes()

    real = remote_write.RemoteFolderWriter.add
    calls = []

    def add(self: remote_write.RemoteFolderWriter, entry: object) -> object:
        calls.append(entry)
        if len(calls) == 3:
            raise OSError("connection reset")
        return real(self, entry)  # type: ignore[arg-type]

    monkeypatch.setattr(remote_write.RemoteFolderWriter, "add", add)
    failed = rcli(*create_args(model, f"s3://{bucket}/other", "--archive-format", "no-archive"))
    assert failed.exit_code == 1
    assert f"error: cannot write 's3://{bucket}/other/net'" in failed.stderr
    assert set(objects(s3, bucket)) == names  # nothing of the failed build remains


def test_tgz_in_bucket_is_streamed_once(
    s3: S3Server, rcli: Cli, model: ModelInputs, tmp_path: Path
) -> None:
    bucket = new_bucket(s3)
    assert rcli(*create_args(model, f"s3://{bucket}", "--archive-format", "tgz")).exit_code == 0
    result = rcli("inspect", f"s3://{bucket}/net.tar.gz", "--json")
    assert result.exit_code == 0, result.output
    transfer = json.loads(result.stdout)["transfer"]
    assert transfer["mode"] == "stream"
    assert "a .tar.gz has no index to read by ranges" in transfer["note"]
    out = rcli("extract", f"s3://{bucket}/net.tar.gz", "-o", str(tmp_path / "x"))
    assert out.exit_code == 0, out.output
    assert tree(tmp_path / "x")["model.pt"] == model.serialized_file.read_bytes()


def test_inputs_from_urls_make_the_same_archive_as_local_files(
    s3: S3Server, rcli: Cli, model: ModelInputs, tmp_path: Path
) -> None:
    bucket = new_bucket(s3)
    client = s3.client()
    client.upload_file(str(model.serialized_file), bucket, "weights/model.pt")
    client.upload_file(str(model.index), bucket, "weights/index_to_name.json")
    env = {"SOURCE_DATE_EPOCH": EPOCH}
    args = create_args(model, str(tmp_path / "remote-in"))
    args[args.index(str(model.serialized_file))] = f"s3://{bucket}/weights/model.pt"
    args[args.index(str(model.index))] = f"s3://{bucket}/weights/index_to_name.json"
    remote_in = rcli(*args, env=env)
    assert remote_in.exit_code == 0, remote_in.output
    local = rcli(*create_args(model, str(tmp_path / "local")), env=env)
    assert local.exit_code == 0, local.output
    assert (tmp_path / "remote-in" / "net.mar").read_bytes() == (
        tmp_path / "local" / "net.mar"
    ).read_bytes()
    args[args.index(f"s3://{bucket}/weights/model.pt")] = f"s3://{bucket}/weights/gone.pt"
    missing = rcli(*args, "--force")
    assert missing.exit_code == 1
    assert f"error: cannot read 's3://{bucket}/weights/gone.pt': no such object" in missing.stderr


def test_build_spec_with_urls(s3: S3Server, rcli: Cli, model: ModelInputs, tmp_path: Path) -> None:
    bucket = new_bucket(s3)
    s3.client().upload_file(str(model.serialized_file), bucket, "w/model.pt")
    spec = rcli.cwd / "mararch.toml"
    spec.write_text(
        "[archive.net]\n"
        'model-name = "net"\nversion = "1.0"\n'
        f'handler = "{model.handler}"\n'
        f'serialized-file = "s3://{bucket}/w/model.pt"\n'
        f'export-path = "s3://{bucket}/store/"\n'
    )
    result = rcli("create", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["url"] == f"s3://{bucket}/store/net.mar"
    back = rcli("verify", f"s3://{bucket}/store/net.mar", "--fast")
    assert back.exit_code == 0, back.output


def test_ctrl_c_during_an_upload_aborts_it(
    s3: S3Server, model: ModelInputs, tmp_path: Path
) -> None:
    # A real SIGINT to a real process, sent once the multipart upload is under way.
    with model.serialized_file.open("wb") as fh:
        fh.write(os.urandom(1 << 20) * 400)  # 400 MiB: seconds of uploading to moto
    bucket = new_bucket(s3)
    child = subprocess.Popen(
        [sys.executable, "-m", "mararch", *create_args(model, f"s3://{bucket}/")],
        env={**os.environ, **s3.env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_default,  # noqa: PLW1509 - the child must see SIGINT
    )
    try:
        deadline = time.monotonic() + 120
        while not pending_uploads(s3, bucket):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, err
    assert "interrupted; nothing was left behind" in err
    assert "Traceback" not in err
    assert objects(s3, bucket) == {}
    assert pending_uploads(s3, bucket) == []


def test_legacy_build_to_a_bucket(s3: S3Server, rcli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "mms-model"
    folder.mkdir()
    (folder / "service.py").write_text("def handle(data, context):\n    return data\n")
    (folder / "weights.params").write_bytes(os.urandom(50_000))
    bucket = new_bucket(s3)
    args = ["legacy", "--model-name", "old", "--model-path", folder, "--handler", "service:handle"]
    result = rcli(*args, "--export-path", f"s3://{bucket}/mms")
    assert result.exit_code == 0, result.output
    local = rcli(*args, "--export-path", tmp_path / "local")
    assert local.exit_code == 0, local.output
    assert set(objects(s3, bucket)) == {"mms/old.mar"}
    back = rcli("verify", f"s3://{bucket}/mms/old.mar")
    assert back.exit_code == 0, back.output


def test_object_writer_api_commits_on_success_only(s3: S3Server) -> None:
    # The small API other commands (deploy) write objects with.
    bucket = new_bucket(s3)
    with remote_write.object_writer(f"s3://{bucket}/a.bin") as out:
        out.file.write(b".....world")
        out.file.seek(0)
        out.file.write(b"hello")
    assert out.size == 10
    assert objects(s3, bucket) == {"a.bin": b"helloworld"}
    with pytest.raises(RuntimeError), remote_write.object_writer(f"s3://{bucket}/b.bin") as out:
        out.file.write(b"x" * (9 << 20))  # past one part: a multipart upload is under way
        raise RuntimeError("the producer failed")
    assert set(objects(s3, bucket)) == {"a.bin"}
    assert pending_uploads(s3, bucket) == []
    refused = pytest.raises(mararch.MararchError, match="already exists")
    with refused, remote_write.object_writer(f"s3://{bucket}/a.bin"):
        pass
