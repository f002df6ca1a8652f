"""An archive that mararch uploaded to an S3 server is registered in real TorchServe 0.12 by a
presigned URL, with `allowed_urls` admitting only that server, and answers a prediction."""

from __future__ import annotations

import re
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers_remote import S3Server, moto_server

from .conftest import TinyModels, eager_model_args, mararch
from .servers import TORCHSERVE, Server, find_server, new_server_root


@pytest.fixture(scope="module")
def s3_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    # Without IAM checks: moto cannot check a presigned URL's signature when they are on.
    with moto_server(tmp_path_factory.mktemp("moto"), auth=False) as server:
        server.client().create_bucket(Bucket="models")
        yield server


@pytest.fixture(scope="module")
def torchserve_by_url(s3_store: S3Server) -> Iterator[Server]:
    # Only the S3 server's URLs may be registered (TorchServe's default admits any http URL).
    allowed = re.escape(s3_store.endpoint) + "/.*"
    server = Server(
        TORCHSERVE,
        find_server(TORCHSERVE),
        new_server_root(),
        extra_config=[f"allowed_urls={allowed}"],
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


def test_archive_pushed_to_s3_is_registered_by_presigned_url(
    s3_store: S3Server,
    torchserve_by_url: Server,
    tiny: TinyModels,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in s3_store.env().items():
        monkeypatch.setenv(key, value)
    built = mararch(
        "create",
        "--model-name",
        "tiny_from_s3",
        "--version",
        "1.0",
        "--export-path",
        "s3://models/prod/",
        *eager_model_args(tiny, tmp_path),
    )
    assert built.returncode == 0, built.stdout + built.stderr
    url = s3_store.client().generate_presigned_url(
        "get_object", Params={"Bucket": "models", "Key": "prod/tiny_from_s3.mar"}, ExpiresIn=600
    )
    signature = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    secret = (signature.get("Signature") or signature["X-Amz-Signature"])[0]
    checked = mararch("verify", url)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert secret not in checked.stdout + checked.stderr  # never printed

    registered = torchserve_by_url.register(url, "tiny_from_s3")
    assert registered.status == 200, registered.text
    try:
        answer = torchserve_by_url.predict("tiny_from_s3", {"input": tiny.input})
        assert answer.status == 200, answer.text
        # Same torch, same CPU as the expected output: only float printing stands between.
        got = [v for row in answer.json() for v in row]
        assert got == pytest.approx([v for row in tiny.output for v in row], abs=1e-5)
    finally:
        torchserve_by_url.unregister("tiny_from_s3")


def test_url_outside_allowed_urls_is_refused(torchserve_by_url: Server) -> None:
    refused = torchserve_by_url.register("http://127.0.0.1:9/elsewhere/model.mar", "elsewhere")
    assert refused.status >= 400
    assert "allowed" in refused.text.lower() or "invalid" in refused.text.lower()
