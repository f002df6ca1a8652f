"""`mararch inspect` on archives made by the reference tools, by mararch, and by hand."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

import mararch
from crafted import MANIFEST_BYTES, ZEntry, make_mar, raw_zip, sparse_mar
from helpers import Cli, ModelInputs

REFERENCE = Path(__file__).parent / "fixtures" / "reference"

JSON_KEYS = {
    "path",
    "container",
    "format",
    "flavour",
    "model_name",
    "model_version",
    "runtime",
    "handler",
    "handler_origin",
    "handler_member",
    "serialized_file",
    "model_file",
    "config_file",
    "requirements_file",
    "missing_files",
    "created_on",
    "archiver_version",
    "model_root",
    "member_count",
    "size",
    "compressed_size",
    "archive_size",
    "problems",
    "manifest",
    "signature",
    "members",
}
MEMBER_KEYS = {"name", "kind", "size", "compressed_size", "ratio", "method", "crc32", "link_target"}
TMA_MEMBERS = [
    "MAR-INF/MANIFEST.json",
    "index_to_name.json",
    "model-config.yaml",
    "model.pt",
    "model.py",
    "my_handler.py",
    "requirements.txt",
]


def inspect_json(cli: Cli, archive: Path) -> dict[str, Any]:
    result = cli("inspect", archive, "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


# (fixture, container, format, flavour, model name, version, handler origin)
REFERENCE_CASES = [
    ("tma_default.mar", "zip", "default", "torchserve", "tma_default", "1.0", "archive"),
    ("tma_zip_store.mar", "zip", "zip-store", "torchserve", "tma_zip_store", "1.0", "archive"),
    ("tma_tgz.tar.gz", "tgz", "tgz", "torchserve", "tma_tgz", "1.0", "archive"),
    ("tma_no_archive", "folder", "no-archive", "torchserve", "tma_no_archive", "1.0", "archive"),
    ("tma_builtin.mar", "zip", "default", "torchserve", "tma_builtin", "2.0", "builtin"),
    ("mms_default.mar", "zip", "default", "mms", "mms_default", None, "archive"),
    ("mms_tgz.tar.gz", "tgz", "tgz", "mms", "mms_tgz", None, "archive"),
]


@pytest.mark.parametrize(
    ("fixture", "container", "fmt", "flavour", "name", "version", "origin"),
    REFERENCE_CASES,
    ids=[c[0] for c in REFERENCE_CASES],
)
def test_inspect_reference_archives(
    cli: Cli,
    fixture: str,
    container: str,
    fmt: str,
    flavour: str,
    name: str,
    version: str | None,
    origin: str,
) -> None:
    data = inspect_json(cli, REFERENCE / fixture)
    assert set(data) == JSON_KEYS
    assert data["container"] == container
    assert data["format"] == fmt
    assert data["flavour"] == flavour
    assert data["model_name"] == name
    assert data["model_version"] == version
    assert data["handler_origin"] == origin
    assert data["problems"] == []
    assert data["missing_files"] == {}
    assert data["member_count"] == len(data["members"])
    for m in data["members"]:
        assert set(m) == MEMBER_KEYS
    names = [m["name"] for m in data["members"] if m["kind"] == "file"]
    assert names == sorted(names)
    assert "MAR-INF/MANIFEST.json" in names
    if fixture.startswith("tma_") and fixture != "tma_builtin.mar":
        assert names == TMA_MEMBERS
        assert data["serialized_file"] == "model.pt"
        assert data["model_file"] == "model.py"
        assert data["config_file"] == "model-config.yaml"
        assert data["requirements_file"] == "requirements.txt"
        assert data["archiver_version"] == "0.12.0"
        assert data["handler_member"] == "my_handler.py"
    if container == "zip":
        assert all(m["crc32"] and len(m["crc32"]) == 8 for m in data["members"])
        weights = next(m for m in data["members"] if m["name"] == "model.pt")
        assert weights["ratio"] == round(weights["size"] / weights["compressed_size"], 3)
        assert data["archive_size"] == (REFERENCE / fixture).stat().st_size
    else:
        assert all(m["ratio"] is None and m["crc32"] is None for m in data["members"])
    if container == "tgz":
        assert data["model_root"] == name


@pytest.mark.parametrize("fixture", [c[0] for c in REFERENCE_CASES])
def test_inspect_reference_archives_rich(cli: Cli, fixture: str) -> None:
    result = cli("inspect", REFERENCE / fixture)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "TorchServe" in out or "MMS" in out
    assert "MAR-INF/MANIFEST.json" in out
    assert "model.pt" in out
    if fixture == "tma_builtin.mar":
        assert "image_classifier (built-in)" in out
    elif fixture.startswith("mms"):
        assert "my_handler:handle (file in the archive: my_handler.py)" in out
    else:
        assert "my_handler.py (file in the archive)" in out


def test_inspect_reference_archives_extract_identically(tmp_path: Path) -> None:
    # The same inputs in every reference format extract to the same files.
    trees = []
    for fixture in ("tma_default.mar", "tma_zip_store.mar", "tma_tgz.tar.gz", "tma_no_archive"):
        out = tmp_path / fixture
        mararch.extract(REFERENCE / fixture, out)
        files = {
            p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*"))
            if p.is_file()
        }
        files.pop("MAR-INF/MANIFEST.json")
        trees.append(files)
    assert all(t == trees[0] for t in trees)
    assert sorted(trees[0]) == [n for n in TMA_MEMBERS if not n.startswith("MAR-INF")]


def test_inspect_mararch_archive(cli: Cli, model: ModelInputs, tmp_path: Path) -> None:
    path = mararch.create(
        model_name="net",
        version="3.1",
        handler=str(model.handler),
        serialized_file=model.serialized_file,
        export_path=tmp_path / "out",
    )
    data = inspect_json(cli, path)
    assert data["model_name"] == "net"
    assert data["model_version"] == "3.1"
    assert data["archiver_version"] == mararch.__version__
    assert data["handler_member"] == "my_handler.py"


def test_missing_files_reported(cli: Cli, tmp_path: Path) -> None:
    manifest = json.dumps(
        {
            "runtime": "python",
            "model": {
                "modelName": "m",
                "modelVersion": "1",
                "handler": "nope.py",
                "serializedFile": "gone.pt",
            },
        }
    ).encode()
    path = make_mar(tmp_path / "m.mar", {"other.txt": b"x"}, manifest=manifest)
    data = inspect_json(cli, path)
    assert data["handler_origin"] == "missing"
    assert data["missing_files"] == {"serializedFile": "gone.pt"}
    rich = cli("inspect", path)
    assert "gone.pt (missing)" in rich.stdout
    assert "nope.py (not in the archive, not built-in)" in rich.stdout


def test_no_manifest(cli: Cli, tmp_path: Path) -> None:
    path = make_mar(tmp_path / "m.mar", {"a.txt": b"x"}, manifest=None)
    data = inspect_json(cli, path)
    assert data["flavour"] is None
    assert data["manifest"] is None
    assert cli("inspect", path).stdout.count("no manifest") == 1


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (b"{not json", "MAR-INF/MANIFEST.json is not valid JSON"),
        (b"[1, 2]", "holds a JSON list, expected an object"),
        (b"\xff\xfe", "is not UTF-8 text"),
        (b'{"runtime": "python"}', "the manifest has no 'model' object"),
        (b'{"a": ' + b"1" * 5000 + b"}", "MAR-INF/MANIFEST.json cannot be parsed"),
        (b"[" * 100_000, "MAR-INF/MANIFEST.json cannot be parsed"),
    ],
)
def test_broken_manifest(cli: Cli, tmp_path: Path, manifest: bytes, message: str) -> None:
    path = make_mar(tmp_path / "m.mar", {"a.txt": b"x"}, manifest=manifest)
    result = cli("inspect", path)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "a.txt" in result.stdout  # the members are still listed
    as_json = cli("inspect", path, "--json")
    assert as_json.exit_code == 1
    assert message in json.loads(as_json.stdout)["problems"][0]


def test_huge_manifest_refused(cli: Cli, tmp_path: Path) -> None:
    path = make_mar(tmp_path / "m.mar", {}, manifest=b" " * (2 << 20) + b"{}")
    result = cli("inspect", path)
    assert result.exit_code == 1
    assert "more than the 1048576 allowed" in result.stderr


def test_control_characters_escaped(cli: Cli, tmp_path: Path) -> None:
    path = raw_zip(
        tmp_path / "m.mar",
        [ZEntry("MAR-INF/MANIFEST.json", MANIFEST_BYTES), ZEntry("evil\x1b[2J\x07.txt", b"x")],
    )
    result = cli("inspect", path)
    assert result.exit_code == 1  # hostile: extract would refuse it
    assert "\x1b" not in result.stdout + result.stderr
    assert "\x07" not in result.stdout + result.stderr
    assert "evil\\x1b[2J\\x07.txt" in result.stdout
    assert "control character" in result.stderr
    # JSON escapes them too, and stays parseable.
    as_json = cli("inspect", path, "--json")
    assert "\x1b" not in as_json.stdout
    assert "evil\x1b[2J\x07.txt" in [m["name"] for m in json.loads(as_json.stdout)["members"]]


def test_hostile_names_reported(cli: Cli, tmp_path: Path) -> None:
    path = raw_zip(
        tmp_path / "m.mar",
        [ZEntry("MAR-INF/MANIFEST.json", MANIFEST_BYTES), ZEntry("../../etc/cron.d/x", b"x")],
    )
    result = cli("inspect", path)
    assert result.exit_code == 1
    assert (
        "unsafe member '../../etc/cron.d/x': '..' component escapes the destination"
        in result.stderr
    )


def test_long_member_list_is_cut(cli: Cli, tmp_path: Path) -> None:
    files = {f"assets/file{i:03}.txt": b"x" for i in range(120)}
    path = make_mar(tmp_path / "m.mar", files)
    result = cli("inspect", path)
    assert result.exit_code == 0
    assert "... and 71 more members (--all shows them, --json lists them)" in result.stdout
    assert "file048.txt" in result.stdout
    assert "file049.txt" not in result.stdout
    everything = cli("inspect", path, "--all")
    assert "file119.txt" in everything.stdout
    assert "more members" not in everything.stdout
    assert inspect_json(cli, path)["member_count"] == 121


def test_inspect_unreadable(cli: Cli, tmp_path: Path) -> None:
    result = cli("inspect", tmp_path / "nope.mar")
    assert result.exit_code == 1
    assert "does not exist" in result.stderr
    (tmp_path / "x.mar").write_text("hello")
    result = cli("inspect", tmp_path / "x.mar")
    assert result.exit_code == 1
    assert "is not a model archive" in result.stderr
    assert result.stderr.count("error: ") == 1
    assert result.stdout == ""


def test_inspect_5gb_archive_is_fast(cli: Cli, tmp_path: Path) -> None:
    # A 5 GB zip-store .mar, sparse on disk: listing reads the central directory only.
    path = sparse_mar(tmp_path / "big.mar", 5 * 10**9)
    start = time.perf_counter()
    data = inspect_json(cli, path)
    elapsed = time.perf_counter() - start
    assert data["size"] == 5 * 10**9 + len(MANIFEST_BYTES)
    assert data["format"] == "zip-store"
    assert elapsed < 1.0
