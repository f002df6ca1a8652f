"""Remote archives over HTTP from a real nginx on 127.0.0.1: range requests counted from nginx's
own access log, a server ignoring Range, a 404, a response cut short, secrets kept out of
messages."""

# ruff: noqa: F811 - pytest fixtures imported from helpers_remote are parameters by name

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import mararch
from conftest import Cli, ModelInputs, make_model, tree
from helpers_remote import HttpServer, http_server, rcli  # noqa: F401 - fixtures
from mararch.errors import ArchiveError

pytestmark = pytest.mark.remote

#: The large archive of the range test: the issue asks for at least 512 MiB.
BIG = 600 << 20


@pytest.fixture(scope="module")
def big_archive(http_server: HttpServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A 600 MiB .mar (its weights a sparse file, stored) served by nginx."""
    model = make_model(tmp_path_factory.mktemp("big"))
    with model.serialized_file.open("wb") as fh:
        fh.truncate(BIG)
    mararch.create(
        model_name="big",
        version="1.0",
        handler=str(model.handler),
        serialized_file=model.serialized_file,
        extra_files=[model.index],
        export_path=http_server.docs,
        compression="store",
        digests=False,
    )
    yield f"{http_server.url}/big.mar"
    (http_server.docs / "big.mar").unlink()


@pytest.fixture
def small_archive(http_server: HttpServer, model: ModelInputs) -> str:
    name = f"small-{os.getpid()}-{model.root.parent.name}.mar"
    mararch.create(
        model_name="small",
        version="1.0",
        handler=str(model.handler),
        serialized_file=model.serialized_file,
        export_path=model.root.parent / "out",
    )
    shutil.copy(model.root.parent / "out" / "small.mar", http_server.docs / name)
    return name


def test_inspect_of_a_600_mib_archive_transfers_under_1_mib(
    http_server: HttpServer, big_archive: str, rcli: Cli
) -> None:
    result = rcli("inspect", big_archive, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["archive_size"] > 512 << 20
    assert data["manifest"]["model"]["modelName"] == "big"
    sent = http_server.sent("/big.mar")  # counted by nginx, not by us
    assert 0 < sent < 1 << 20
    assert data["transfer"]["mode"] == "ranges"
    assert data["transfer"]["bytes_fetched"] == sent
    fast = rcli("verify", "--fast", big_archive, "--json")
    assert fast.exit_code == 0, fast.output
    assert "data-not-read" in [f["code"] for f in json.loads(fast.stdout)["findings"]]
    assert http_server.sent("/big.mar") - sent < 1 << 20


def test_verify_and_extract_over_http(
    http_server: HttpServer, small_archive: str, model: ModelInputs, rcli: Cli, tmp_path: Path
) -> None:
    url = f"{http_server.url}/{small_archive}"
    verified = rcli("verify", url)
    assert verified.exit_code == 0, verified.output
    fetched = verified.stderr.splitlines()[-1]
    assert fetched.startswith("fetched ") and fetched.endswith("(ranges)"), verified.stderr
    assert "PASSED" in verified.stdout
    assert "[data-read] every member's data" in verified.stdout
    out = rcli("extract", url, "-o", tmp_path / "x")
    assert out.exit_code == 0, out.output
    assert tree(tmp_path / "x")["model.pt"] == model.serialized_file.read_bytes()


def test_server_without_range_support_still_works_and_says_so(
    http_server: HttpServer, small_archive: str, rcli: Cli
) -> None:
    url = f"{http_server.url}/norange/{small_archive}"
    result = rcli("inspect", url)
    assert result.exit_code == 0, result.output
    assert f"warning: {url}: the server ignores Range requests: streamed once" in result.stderr
    assert "(stream)" in result.stderr.splitlines()[-1]
    as_json = rcli("inspect", url, "--json")
    assert json.loads(as_json.stdout)["transfer"]["mode"] == "stream"


def test_404_names_the_url_without_its_query(http_server: HttpServer, rcli: Cli) -> None:
    url = f"{http_server.url}/missing.mar?X-Amz-Signature=s3cr3t&X-Amz-Credential=AKIA"
    for command in ("inspect", "verify", "extract"):
        result = rcli(command, url)
        assert result.exit_code == 1
        assert "s3cr3t" not in result.output and "AKIA" not in result.output
    inspected = rcli("inspect", url)
    assert (
        f"error: cannot read '{http_server.url}/missing.mar?…': no such object" in inspected.stderr
    )


def test_response_cut_short_is_an_error_not_a_hang(
    http_server: HttpServer, small_archive: str
) -> None:
    path = http_server.docs / small_archive
    with mararch.open_archive(f"{http_server.url}/{small_archive}") as view:
        member = view.get("model.pt")
        assert member is not None
        # The object shrinks after it was listed: the server sends less than was asked for.
        os.truncate(path, member.header_offset or 0)
        with pytest.raises(ArchiveError, match="the server sent 0 of the"):
            b"".join(view.iter_member(member))


def test_truncated_archive_on_the_server(
    http_server: HttpServer, small_archive: str, rcli: Cli
) -> None:
    path = http_server.docs / small_archive
    os.truncate(path, path.stat().st_size - 10)
    result = rcli("inspect", f"{http_server.url}/{small_archive}")
    assert result.exit_code == 1
    assert "is not a readable zip archive" in result.stderr


@pytest.mark.slow
def test_zip64_archive_over_4_gib_read_by_ranges_past_32_bit_offsets(
    http_server: HttpServer, rcli: Cli, tmp_path: Path
) -> None:
    model = make_model(tmp_path / "src")
    big = (4 << 30) + (64 << 20)
    with model.serialized_file.open("wb") as fh:
        fh.truncate(big)  # sparse: costs no disk
    # "zz.py" sorts after the weights: its local header lies past a 32-bit offset.
    (model.root / "zz.py").write_text("print('after the big one')\n")
    mararch.create(
        model_name="zip64",
        version="1.0",
        handler=str(model.handler),
        serialized_file=model.serialized_file,
        extra_files=[model.root / "zz.py"],
        export_path=http_server.docs,
        compression="store",
    )
    url = f"{http_server.url}/zip64.mar"
    try:
        inspected = rcli("inspect", url, "--json")
        assert inspected.exit_code == 0, inspected.output
        members = {m["name"]: m["size"] for m in json.loads(inspected.stdout)["members"]}
        assert members["model.pt"] == big
        assert http_server.sent("/zip64.mar") < 1 << 20
        assert rcli("verify", "--fast", url).exit_code == 0
        out = rcli("extract", url, "-m", "zz.py", "-o", tmp_path / "x")
        assert out.exit_code == 0, out.output
        assert (tmp_path / "x" / "zz.py").read_text() == "print('after the big one')\n"
    finally:
        (http_server.docs / "zip64.mar").unlink()


def test_remote_input_is_sampled_by_ranges_and_read_once(
    http_server: HttpServer, model: ModelInputs, rcli: Cli, tmp_path: Path
) -> None:
    # Random weights: `auto` must find them incompressible from three sampled ranges and store
    # them from one streamed read, not deflate them and then fetch them again.
    weights = http_server.docs / f"weights-{tmp_path.name}.pt"
    weights.write_bytes(os.urandom(24 << 20))
    url = f"{http_server.url}/{weights.name}"
    args = ["create", "--model-name", "w", "-v", "1", "--handler", str(model.handler)]
    built = rcli(*args, "--serialized-file", url, "--export-path", tmp_path / "out", "--json")
    assert built.exit_code == 0, built.output
    stored = {m["name"]: m["method"] for m in json.loads(built.stdout)["members"]}
    assert stored[weights.name] == "stored"
    sent = http_server.sent(f"/{weights.name}")
    # One full read, three 1 MiB samples and the pre-write pickle scan's first 1 MiB (by range);
    # a second full fetch would be 48 MiB.
    assert (24 << 20) <= sent < (24 << 20) + (5 << 20)
    weights.unlink()
