"""Real servers for the remote-store tests, each its own process on 127.0.0.1: moto's standalone
S3 server (as s3fs's own tests use) and nginx (the Debian package, with a config of our own)."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from helpers import Cli, free_port
from mararch import remote_write

STARTUP_TIMEOUT = 60.0
#: moto answers this many requests without credentials: the IAM user the tests sign with is made
#: by them, after which every request must be signed by a known key (so wrong keys fail).
NO_AUTH_ACTIONS = 3
REGION = "us-east-1"


def create_args(model: Any, export: str, *extra: str) -> list[str]:
    """`mararch create` of the test model (`conftest.ModelInputs`) into `export`."""
    return [
        "create",
        "--model-name",
        "net",
        "-v",
        "1.0",
        "--handler",
        str(model.handler),
        "--serialized-file",
        str(model.serialized_file),
        "--model-file",
        str(model.model_file),
        "--extra-files",
        str(model.index),
        "--export-path",
        export,
        *extra,
    ]


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {port}: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class S3Server:
    """A moto S3 server and the credentials of the IAM user it knows."""

    endpoint: str
    key_id: str
    secret: str

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": REGION,
        }

    def client(self, service: str = "s3") -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
            region_name=REGION,
        )


@contextlib.contextmanager
def moto_server(folder: Path, *, auth: bool = True) -> Iterator[S3Server]:
    """moto's S3 server; with `auth`, only the IAM user's keys are accepted (moto then cannot
    serve presigned URLs: it looks for an Authorization header)."""
    import boto3

    port = free_port()
    log = folder / "moto.log"
    env = dict(os.environ)
    if auth:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(NO_AUTH_ACTIONS)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_for_port(port, proc, log)
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
            region_name=REGION,
        )
        iam.create_user(UserName="mararch")
        key = iam.create_access_key(UserName="mararch")["AccessKey"]
        iam.put_user_policy(
            UserName="mararch",
            PolicyName="all",
            PolicyDocument='{"Version": "2012-10-17", "Statement": '
            '[{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
        )
        yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Server:
    """The S3 server's credentials in the environment, as a user sets them; no config files."""
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return s3_server


_buckets = itertools.count(1)


def new_bucket(server: S3Server) -> str:
    """A fresh bucket per test: tests never see each other's objects."""
    name = f"models-{os.getpid()}-{next(_buckets)}"
    server.client().create_bucket(Bucket=name)
    return name


def objects(server: S3Server, bucket: str) -> dict[str, bytes]:
    """Every object of the bucket: {key: bytes}."""
    client = server.client()
    found = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in found}


def pending_uploads(server: S3Server, bucket: str) -> list[str]:
    """Keys of the multipart uploads started and neither completed nor aborted."""
    reply = server.client().list_multipart_uploads(Bucket=bucket)
    return [u["Key"] for u in reply.get("Uploads", [])]


@pytest.fixture
def fake_gcs(monkeypatch: pytest.MonkeyPatch) -> Any:
    """gs:// served by fsspec's memory file system with GCS's compose as `merge` (no GCS
    server runs here: gcsfs itself is not exercised)."""
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    class FakeGCS(MemoryFileSystem):  # type: ignore[misc]
        protocol = ("gs", "gcs")
        # Its own objects, not the memory file system's (class-level, as fsspec keeps them).
        store: ClassVar[dict[str, Any]] = {}
        pseudo_dirs: ClassVar[list[str]] = [""]

        @classmethod
        def _strip_protocol(cls, path: str) -> str:
            for prefix in ("gs://", "gcs://"):
                path = path.removeprefix(prefix)
            return str(MemoryFileSystem._strip_protocol(path))

        def merge(self, path: str, paths: list[str]) -> None:
            assert len(paths) <= remote_write.COMPOSE_LIMIT
            self.pipe_file(path, b"".join(self.cat_file(p) for p in paths))

    fsspec.register_implementation("gs", FakeGCS, clobber=True)
    FakeGCS.store.clear()
    fs = FakeGCS()
    fs.mkdir("/bucket")
    yield fs
    fsspec.register_implementation("gs", "gcsfs.GCSFileSystem", clobber=True)


# -- nginx ---------------------------------------------------------------------------------------

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 64; }}
http {{
    log_format counted '$request_method $uri $status $body_bytes_sent "$http_range"';
    access_log {root}/access.log counted;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    types {{ }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {docs};
        location /norange/ {{
            alias {docs}/;
            max_ranges 0;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None
    )
    if found is None:
        pytest.fail("nginx is not installed: run .ci/remote-setup.sh (apt-get install nginx)")
    return found


@dataclass
class HttpServer:
    """nginx serving `docs`; `/norange/...` serves the same files ignoring Range headers."""

    url: str
    docs: Path
    log: Path

    def sent(self, path: str) -> int:
        """Body bytes nginx sent for requests of `path`, counted from its access log."""
        total = 0
        for line in self.log.read_text().splitlines():
            m = re.match(r"^\S+ (\S+) (\d+) (\d+) ", line)
            if m and m.group(1) == path:
                total += int(m.group(3))
        return total

    def requests(self, path: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if f" {path} " in line]


@contextlib.contextmanager
def nginx_server(root: Path) -> Iterator[HttpServer]:
    """nginx serving `root`/docs on a free port, as its own process with our config."""
    docs = root / "docs"
    docs.mkdir(parents=True)
    (root / "tmp").mkdir()
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=root, port=port, docs=docs))
    log = root / "stderr.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [nginx_binary(), "-c", str(conf), "-p", str(root), "-e", str(root / "error.log")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, proc, log)
        yield HttpServer(f"http://127.0.0.1:{port}", docs, root / "access.log")
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    with nginx_server(tmp_path_factory.mktemp("nginx")) as server:
        yield server


@pytest.fixture
def rcli(tmp_path: Path) -> Cli:
    work = tmp_path / "cwd"
    work.mkdir()
    return Cli(work)
