"""Remote stores without a server: URL redaction, storage options, the part sink that lets the
zip writer seek back over an upload, the compose-based store used for gs://, and what a local
build imports (nothing remote)."""

# ruff: noqa: F811 - the pytest fixture imported from helpers_remote is a parameter by name

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mararch
from conftest import Cli, ModelInputs
from helpers import free_port
from helpers_remote import create_args, fake_gcs  # noqa: F401 - fixture
from helpers_signing import make_key
from mararch import remote_write
from mararch.errors import UsageError
from mararch.remote import parse_storage_options, redact, scrub


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("s3://bucket/models/net.mar", "s3://bucket/models/net.mar"),
        (
            "https://h.example:8443/net.mar?X-Amz-Signature=abc&X-Amz-Credential=AKIA",
            "https://h.example:8443/net.mar?…",
        ),
        ("https://user:pa55@h.example/net.mar#frag", "https://h.example/net.mar"),
        ("gs://b/net.mar", "gs://b/net.mar"),
    ],
)
def test_redact_drops_credentials_and_queries(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_scrub_masks_urls_and_signature_fields_in_backend_messages() -> None:
    text = (
        "403 Forbidden for url: http://127.0.0.1:9/b/k.mar?X-Amz-Signature=deadbeef "
        "(signature=cafe, token=xyz)"
    )
    cleaned = scrub(text)
    assert "deadbeef" not in cleaned and "cafe" not in cleaned and "xyz" not in cleaned
    assert "http://127.0.0.1:9/b/k.mar?…" in cleaned


def test_storage_options_parse_yaml_values_and_dotted_keys() -> None:
    options = parse_storage_options(
        ["anon=true", "client_kwargs.region_name=eu-west-1", "default_block_size=5242880"]
    )
    assert options == {
        "anon": True,
        "client_kwargs": {"region_name": "eu-west-1"},
        "default_block_size": 5242880,
    }
    with pytest.raises(UsageError) as caught:
        parse_storage_options(["anon"])
    assert caught.value.message == "invalid --storage-option 'anon': expected KEY=VALUE"


class MemoryStore(remote_write.PartStore):
    """Parts kept in a dict, as a store would: uploads may come in any order."""

    def __init__(self) -> None:
        self.parts: dict[int, bytes] = {}
        self.object: bytes | None = None
        self.aborted = False
        self.started = 0

    def start(self) -> None:
        self.started += 1

    def upload_part(self, number: int, data: bytes) -> None:
        self.parts[number] = data

    def complete(self, count: int) -> None:
        sizes = [len(self.parts[n]) for n in range(1, count + 1)]
        assert all(s == sizes[0] for s in sizes[:-1]), "every part but the last has one size"
        self.object = b"".join(self.parts[n] for n in range(1, count + 1))

    def put(self, data: bytes) -> None:
        self.object = data

    def abort(self) -> None:
        self.aborted = True
        self.parts.clear()


def zip_like_writes(fh: Any, members: list[tuple[int, int, bool]]) -> None:
    """What the zip writer does per member: skip the header, write the data, maybe rewrite it
    (auto's deflate-then-store), seek back, write the header, seek to the end."""
    for i, (header_len, size, rewrite) in enumerate(members):
        offset = fh.tell()
        fh.seek(offset + header_len)
        data = bytes([i % 251 + 1]) * size
        fh.write(data)
        if rewrite:
            fh.seek(offset + header_len)
            fh.truncate()
            fh.write(data[::-1])
        end = fh.tell()
        fh.seek(offset)
        fh.write(bytes([255 - i % 251]) * header_len)
        fh.seek(end)
    fh.write(b"central directory")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(30, 120), st.integers(0, 5000), st.booleans()),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from([64, 256, 1024]),
)
def test_part_sink_gives_the_bytes_a_local_file_gets(
    members: list[tuple[int, int, bool]], part: int
) -> None:
    expected = io.BytesIO()
    zip_like_writes(expected, members)
    store = MemoryStore()
    sink = remote_write.PartSink(store, part)
    zip_like_writes(io.BufferedWriter(sink, buffer_size=100), members)
    assert sink.commit() == len(expected.getvalue())
    assert store.object == expected.getvalue()
    assert store.started <= 1
    # Only the parts around an unwritten header stay in memory, not the whole object.
    assert not sink.parts


def test_part_sink_abort_forgets_every_part() -> None:
    store = MemoryStore()
    sink = remote_write.PartSink(store, 64)
    sink.write(b"x" * 1000)
    sink.abort()
    assert store.aborted and store.object is None and not store.parts


def test_part_size_fits_any_model_in_ten_thousand_parts() -> None:
    assert remote_write.part_size(10 << 20) == remote_write.MIN_PART
    for total in (1 << 30, 30 << 30, 200 << 30):
        size = remote_write.part_size(total)
        assert size % (1 << 20) == 0
        assert (total * 1.02 + (64 << 20)) / size < remote_write.MAX_PARTS


class ComposingMemoryFS:
    """Stands in for gcsfs: objects in a dict, `merge` as GCS's compose (32 sources at most)."""

    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}
        self.merges: list[int] = []

    def pipe_file(self, path: str, data: bytes) -> None:
        self.store[path] = data

    def merge(self, path: str, paths: list[str]) -> None:
        assert len(paths) <= remote_write.COMPOSE_LIMIT
        self.merges.append(len(paths))
        self.store[path] = b"".join(self.store[p] for p in paths)

    def rm(self, paths: list[str]) -> None:
        for p in paths:
            del self.store[p]


def test_compose_store_joins_parts_in_rounds_of_32_and_leaves_no_temporaries() -> None:
    fs = ComposingMemoryFS()
    store = remote_write.ComposePartStore(fs, "bucket/net.mar")
    parts = [bytes([n]) * 3 for n in range(1, 71)]
    for n, data in enumerate(parts, 1):
        store.upload_part(n, data)
    store.complete(len(parts))
    assert fs.store == {"bucket/net.mar": b"".join(parts)}
    assert fs.merges == [32, 32, 6, 3]


def test_compose_store_abort_removes_the_parts() -> None:
    fs = ComposingMemoryFS()
    store = remote_write.ComposePartStore(fs, "bucket/net.mar")
    store.upload_part(1, b"a")
    store.upload_part(2, b"b")
    store.abort()
    assert fs.store == {}


def test_create_to_gs_through_compose(
    fake_gcs: Any, model: ModelInputs, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote_write, "MIN_PART", 1 << 16)  # several parts from a small model
    model.serialized_file.write_bytes(bytes(range(256)) * 4096)  # 1 MiB, deflates
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    kwargs: dict[str, Any] = {
        "model_name": "net",
        "version": "1.0",
        "handler": str(model.handler),
        "serialized_file": model.serialized_file,
    }
    mararch.create(**kwargs, export_path="gs://bucket/models")
    mararch.create(**kwargs, export_path=tmp_path / "local")
    remote = fake_gcs.cat_file("/bucket/models/net.mar")
    assert remote == (tmp_path / "local" / "net.mar").read_bytes()
    assert [p for p in fake_gcs.find("/bucket") if "mararch-part" in p] == []
    with pytest.raises(mararch.MararchError, match="already exists"):
        mararch.create(**kwargs, export_path="gs://bucket/models")


def test_unsupported_urls_are_usage_errors(cli: Cli, model: ModelInputs) -> None:
    result = cli(*create_args(model, "https://example.invalid/store?token=secret"))
    assert result.exit_code == 2
    assert "--export-path takes a folder, an s3:// or a gs:// URL" in result.stderr
    assert "secret" not in result.output
    ftp = cli("inspect", "ftp://example.invalid/net.mar")
    assert ftp.exit_code == 2
    assert "unsupported URL scheme 'ftp://'" in ftp.stderr


def test_a_server_that_cannot_be_reached_is_named_as_such(cli: Cli) -> None:
    # fsspec reports a refused connection as a missing file; the message must not say "no such
    # object" when the server is not there at all.
    result = cli("inspect", f"http://127.0.0.1:{free_port()}/net.mar?token=secret")
    assert result.exit_code == 1
    assert "cannot connect to the server" in result.stderr
    assert "no such object" not in result.stderr
    assert "secret" not in result.output


def test_local_commands_import_nothing_remote(model: ModelInputs, tmp_path: Path) -> None:
    # fsspec, s3fs and aiohttp cost about a second to import: local work must never pay it.
    code = (
        "import sys; from mararch.cli import app\n"
        "for args in sys.argv[1:]:\n"
        "    try:\n        app(args.split('|'), prog_name='mararch')\n"
        "    except SystemExit as e:\n        assert not e.code, (args, e.code)\n"
        "heavy = ('fsspec', 's3fs', 'gcsfs', 'aiohttp', 'botocore', 'aiobotocore')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy"
        " or m.startswith('mararch.remote')))"
    )
    out = tmp_path / "out"
    create = "|".join(create_args(model, str(out)))
    mar = str(out / "net.mar")
    proc = subprocess.run(
        [sys.executable, "-c", code, create, f"inspect|{mar}", f"verify|{mar}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1].replace("'", '"')) == []


class HashingStore(MemoryStore):
    """Keeps each part's SHA-256 and size only: a 4 GiB upload in constant memory."""

    def upload_part(self, number: int, data: bytes) -> None:
        self.parts[number] = hashlib.sha256(data).digest() + len(data).to_bytes(8, "little")

    def complete(self, count: int) -> None:
        self.object = b"".join(self.parts[n] for n in range(1, count + 1))


@pytest.mark.remote
@pytest.mark.slow
def test_zip64_upload_over_4_gib_is_the_local_archive_part_for_part(
    model: ModelInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto keeps a multipart upload in memory several times over (a 4 GiB one was killed for
    # using 23 GB): the >4 GiB write is checked against a store that hashes parts instead.
    from mararch.builder import build, plan_create
    from mararch.writers import Progress

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    big = (4 << 30) + (64 << 20)
    with model.serialized_file.open("wb") as fh:
        fh.truncate(big)
    (model.root / "zz.py").write_text("after\n")
    plan = plan_create(
        model_name="zip64",
        version="1.0",
        handler=str(model.handler),
        serialized_file=model.serialized_file,
        extra_files=[model.root / "zz.py"],
        export_path=tmp_path / "local",
        compression="store",
    )
    build(plan)
    part = remote_write.part_size(plan.total_size)
    store = HashingStore()
    sink = remote_write.PartSink(store, part)
    out = io.BufferedWriter(sink, buffer_size=1 << 20)  # type: ignore[arg-type]
    remote_write.RemoteZipWriter(out, plan, Progress(plan.total_size, None)).write_all()
    size = sink.commit()
    local = tmp_path / "local" / "zip64.mar"
    assert size == local.stat().st_size > 4 << 30
    expected = []
    with local.open("rb") as fh:
        while chunk := fh.read(part):
            expected.append(hashlib.sha256(chunk).digest() + len(chunk).to_bytes(8, "little"))
    assert store.object == b"".join(expected)
    local.unlink()


def test_signatures_are_not_checked_over_the_network_or_with_fast(
    cli: Cli, model: ModelInputs, tmp_path: Path
) -> None:
    keys = make_key(tmp_path / "keys")
    mar = mararch.create(
        model_name="net",
        version="1",
        handler=str(model.handler),
        serialized_file=model.serialized_file,
        export_path=tmp_path / "out",
    )
    for target, extra in (("s3://bucket/net.mar", []), (str(mar), ["--fast"])):
        result = cli("verify", target, "--public-key", str(keys.public), *extra)
        assert result.exit_code == 2, result.output
        assert "a signature is checked against every member's SHA-256" in result.stderr
    signed = cli(
        "create",
        *create_args(model, "s3://bucket/signed")[1:],
        "--sign-key",
        str(keys.private),
    )
    assert signed.exit_code == 2, signed.output
    assert "--sign-key writes NAME.mar.sig beside a local archive" in signed.stderr
