"""`mararch convert`: MMS archives to TorchServe and back, every other member unchanged.

The converted manifests are checked directly against what TorchServe's `validate()` needs (see
shared/reference/servers.md): `model`, `model.modelName`, `model.modelVersion`, `runtime` in
python/python3, and the handler; tests/test_verify.py runs `mararch verify` on converted archives.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

import mararch
from helpers import Cli, ModelInputs, create_args, tree
from mararch.errors import RequestError
from mararch.manifest import Flavour, detect_flavour
from mms_model import CASES, FIXTURES, MODEL_NAME

MANIFEST = "MAR-INF/MANIFEST.json"
CREATED_ON = re.compile(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}")


def golden(fmt: str, dest: Path) -> Path:
    """A copy of an MMS golden archive made by model-archiver 1.0.3."""
    src = FIXTURES / fmt / CASES[fmt][0]
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / src.name
    if src.is_dir():
        shutil.copytree(src, target)
    else:
        shutil.copy2(src, target)
    return target


def digest(path: Path) -> str:
    if path.is_dir():
        return hashlib.sha256(
            json.dumps({k: v.hex() for k, v in tree(path).items()}).encode()
        ).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def zip_members(path: Path) -> dict[str, tuple[int, int, int, bytes]]:
    """{name: (method, crc, compressed size, data)} in archive order."""
    with zipfile.ZipFile(path) as zf:
        return {
            i.filename: (i.compress_type, i.CRC, i.compress_size, zf.read(i)) for i in zf.infolist()
        }


def read_manifest(path: Path) -> dict:
    if path.is_dir():
        return json.loads((path / MANIFEST).read_text())
    if path.name.endswith(".tar.gz"):
        with tarfile.open(path) as tf:
            fh = tf.extractfile(f"{MODEL_NAME}/{MANIFEST}")
            assert fh is not None
            return json.loads(fh.read())
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read(MANIFEST))


def assert_torchserve_manifest(
    manifest: dict, *, name: str, handler: str, version: str, runtime: str
) -> None:
    assert list(manifest) == ["createdOn", "runtime", "model", "archiverVersion"]
    assert CREATED_ON.fullmatch(manifest["createdOn"])
    assert manifest["archiverVersion"] == mararch.__version__
    assert manifest["runtime"] == runtime
    assert runtime in ("python", "python3")
    assert manifest["model"] == {"modelName": name, "handler": handler, "modelVersion": version}
    assert detect_flavour(manifest) is Flavour.TORCHSERVE


def make_zip(path: Path, members: dict[str, bytes], manifest: dict | None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if manifest is not None:
            zf.writestr(MANIFEST, json.dumps(manifest, indent=2))
    return path


#: A handler the pre-write checks accept (they parse it, never run it).
SVC = b"def handle(data, context):\n    return data\n"
MMS_MANIFEST = {
    "runtime": "python",
    "model": {"modelName": "m", "handler": "svc:handle"},
    "modelServerVersion": "1.0",
    "implementationVersion": "1.0",
    "specificationVersion": "1.0",
}


# -- MMS -> TorchServe -------------------------------------------------------------------------


def test_mms_mar_to_torchserve(cli: Cli, tmp_path: Path) -> None:
    source = golden("default", tmp_path / "in")
    before = digest(source)
    result = cli("convert", source, "--to", "torchserve")
    assert result.exit_code == 0, result.output
    out = source.parent / f"{MODEL_NAME}-torchserve.mar"
    assert f"wrote {out}" in result.stderr
    assert "model.modelVersion set to '1.0'" in result.stderr
    assert digest(source) == before, "the input is never modified"

    assert_torchserve_manifest(
        read_manifest(out),
        name=MODEL_NAME,
        handler="service:handle",
        version="1.0",
        runtime="python",
    )
    old, new = zip_members(source), zip_members(out)
    assert list(new) == list(old), "same members, same order"
    old.pop(MANIFEST)
    new.pop(MANIFEST)
    # Same method, CRC and compressed size: the compressed bytes were copied, not redone.
    assert new == old


def test_mms_tgz_python2_is_refused_unless_runtime_given(cli: Cli, tmp_path: Path) -> None:
    source = golden("tgz", tmp_path / "in")
    refused = cli("convert", source, "--to", "torchserve")
    assert refused.exit_code == 1
    assert "runtime 'python2' is not a TorchServe runtime" in refused.stderr
    assert "pass --runtime python3" in refused.stderr
    assert sorted(p.name for p in source.parent.iterdir()) == [source.name]

    result = cli(
        "convert", source, "--to", "torchserve", "--runtime", "python3", "--version", "2.5"
    )
    assert result.exit_code == 0, result.output
    out = source.parent / f"{MODEL_NAME}-torchserve.tar.gz"
    assert_torchserve_manifest(
        read_manifest(out), name=MODEL_NAME, handler="service", version="2.5", runtime="python3"
    )
    with tarfile.open(source) as a, tarfile.open(out) as b:
        old = {m.name: a.extractfile(m).read() for m in a.getmembers() if m.isfile()}  # type: ignore[union-attr]
        new = {m.name: b.extractfile(m).read() for m in b.getmembers() if m.isfile()}  # type: ignore[union-attr]
    prefix = f"{MODEL_NAME}/"
    assert all(n.startswith(prefix) for n in new), "TorchServe strips the top folder"
    assert list(new) == list(old)
    old.pop(prefix + MANIFEST)
    new.pop(prefix + MANIFEST)
    assert new == old


def test_mms_folder_to_torchserve(cli: Cli, tmp_path: Path) -> None:
    source = golden("no-archive", tmp_path / "in")
    before = digest(source)
    result = cli("convert", source, "--to", "torchserve", "--runtime", "python")
    assert result.exit_code == 0, result.output
    out = source.parent / f"{MODEL_NAME}-torchserve"
    assert digest(source) == before
    assert_torchserve_manifest(
        read_manifest(out),
        name=MODEL_NAME,
        handler="service:handle",
        version="1.0",
        runtime="python",
    )
    old, new = tree(source), tree(out)
    old.pop(MANIFEST)
    new.pop(MANIFEST)
    assert new == old


def test_mms_only_fields_are_dropped_with_a_warning(cli: Cli, tmp_path: Path) -> None:
    manifest = {
        **MMS_MANIFEST,
        "engine": {"engineName": "MXNet"},
        "license": "Apache-2.0",
        "description": "a model",
    }
    manifest["model"] = {**manifest["model"], "modelVersion": "3.1", "description": "d"}
    source = make_zip(tmp_path / "m.mar", {"svc.py": SVC}, manifest)
    result = cli("convert", source, "--to", "torchserve", "-o", tmp_path / "ts.mar")
    assert result.exit_code == 0, result.output
    assert "dropped MMS-only manifest fields TorchServe does not read: engine, license" in (
        result.stderr
    )
    new = read_manifest(tmp_path / "ts.mar")
    assert new["model"] == {
        "modelName": "m",
        "handler": "svc:handle",
        "modelVersion": "3.1",
        "description": "d",
    }
    assert new["description"] == "a model"
    assert not {"engine", "license", "specificationVersion"} & set(new)


# -- TorchServe -> MMS -------------------------------------------------------------------------


def test_round_trip_back_to_mms(cli: Cli, tmp_path: Path) -> None:
    source = golden("default", tmp_path / "in")
    assert cli("convert", source, "--to", "torchserve", "-o", tmp_path / "ts.mar").exit_code == 0
    result = cli("convert", tmp_path / "ts.mar", "--to", "mms", "-o", tmp_path / "back.mar")
    assert result.exit_code == 0, result.output
    original = read_manifest(source)
    back = read_manifest(tmp_path / "back.mar")
    assert back == {**original, "model": {**original["model"], "modelVersion": "1.0"}}
    old, new = zip_members(source), zip_members(tmp_path / "back.mar")
    old.pop(MANIFEST)
    new.pop(MANIFEST)
    assert new == old


def test_torchserve_archive_with_custom_handler_to_mms(
    model: ModelInputs, cli: Cli, tmp_path: Path
) -> None:
    built = cli(
        *create_args(
            "ts", "4.0", model.handler, serialized_file=model.serialized_file, export_path=tmp_path
        ),
    )
    assert built.exit_code == 0, built.output
    result = cli("convert", tmp_path / "ts.mar", "--to", "mms", "--runtime", "python3")
    assert result.exit_code == 0, result.output
    assert "dropped TorchServe-only manifest fields MMS does not read: model.serializedFile" in (
        result.stderr
    )
    manifest = read_manifest(tmp_path / "ts-mms.mar")
    assert manifest == {
        "runtime": "python3",
        "model": {"modelName": "ts", "handler": "my_handler.py", "modelVersion": "4.0"},
        "modelServerVersion": "1.0",
        "implementationVersion": "1.0",
        "specificationVersion": "1.0",
    }
    assert detect_flavour(manifest) is Flavour.MMS
    assert "model.pt" in zip_members(tmp_path / "ts-mms.mar")


def test_builtin_handler_and_lsp_cannot_go_to_mms(
    model: ModelInputs, cli: Cli, tmp_path: Path
) -> None:
    assert (
        cli(
            *create_args(
                "b",
                "1",
                "image_classifier",
                serialized_file=model.serialized_file,
                export_path=tmp_path,
            ),
        ).exit_code
        == 0
    )
    result = cli("convert", tmp_path / "b.mar", "--to", "mms")
    assert result.exit_code == 1
    assert "handler 'image_classifier' is a TorchServe built-in handler; MMS does not have it" in (
        result.stderr
    )
    assert not (tmp_path / "b-mms.mar").exists()

    lsp = make_zip(
        tmp_path / "lsp.mar",
        {"libh.so": b"\x7fELF"},
        {
            "createdOn": "01/01/2024 00:00:00",
            "runtime": "LSP",
            "model": {"modelName": "l", "handler": "libh.so", "modelVersion": "1"},
            "archiverVersion": "0.12.0",
        },
    )
    result = cli("convert", lsp, "--to", "mms")
    assert result.exit_code == 1
    assert "runtime 'LSP' cannot run on MMS" in result.stderr
    assert "C++ (LSP) handler has no MMS equivalent" in result.stderr


def test_digests_are_updated_for_the_new_manifest(tmp_path: Path) -> None:
    old_manifest = json.dumps(MMS_MANIFEST, indent=2).encode()
    digests = {
        "algorithm": "sha256",
        "members": {
            MANIFEST: hashlib.sha256(old_manifest).hexdigest(),
            "svc.py": hashlib.sha256(SVC).hexdigest(),
        },
    }
    source = make_zip(
        tmp_path / "m.mar",
        {"svc.py": SVC, "MAR-INF/digests.json": json.dumps(digests).encode()},
        MMS_MANIFEST,
    )
    conversion = mararch.convert(source, to="torchserve", output=tmp_path / "out.mar")
    members = zip_members(conversion.plan.output)
    new = json.loads(members["MAR-INF/digests.json"][3])
    assert new["members"] == {
        MANIFEST: hashlib.sha256(members[MANIFEST][3]).hexdigest(),
        "svc.py": hashlib.sha256(SVC).hexdigest(),
    }


# -- refusals and errors ---------------------------------------------------------------------


def test_already_torchserve(model: ModelInputs, cli: Cli, tmp_path: Path) -> None:
    assert (
        cli(
            *create_args("t", "1", model.handler, export_path=tmp_path),
        ).exit_code
        == 0
    )
    result = cli("convert", tmp_path / "t.mar", "--to", "torchserve")
    assert result.exit_code == 1
    assert "already has a TorchServe manifest: there is nothing to convert" in result.stderr
    golden_mar = golden("default", tmp_path / "in")
    result = cli("convert", golden_mar, "--to", "mms")
    assert result.exit_code == 1
    assert "already has an MMS manifest" in result.stderr


def test_no_manifest(cli: Cli, tmp_path: Path) -> None:
    source = make_zip(tmp_path / "x.mar", {"a.txt": b"a"}, None)
    result = cli("convert", source, "--to", "torchserve")
    assert result.exit_code == 1
    assert f"'{source}' has no MAR-INF/MANIFEST.json" in result.stderr
    old = make_zip(tmp_path / "old.mar", {"MANIFEST.json": b'{"Model": {}}'}, None)
    result = cli("convert", old, "--to", "torchserve")
    assert result.exit_code == 1
    assert "top-level MANIFEST.json is MMS 0.x's format" in result.stderr


def test_manifest_problems_are_listed_together(cli: Cli, tmp_path: Path) -> None:
    source = make_zip(
        tmp_path / "x.mar",
        {"a.txt": b"a"},
        {
            "runtime": "java",
            "model": {"modelName": "-x"},
            "specificationVersion": "1.0",
        },
    )
    result = cli("convert", source, "--to", "torchserve")
    assert result.exit_code == 1
    assert "3 problems" in result.stderr
    assert "invalid model name '-x'" in result.stderr
    assert "no model.handler" in result.stderr
    assert "runtime 'java' is not one MMS writes" in result.stderr


def test_unsafe_members_are_refused(cli: Cli, tmp_path: Path) -> None:
    source = make_zip(tmp_path / "x.mar", {"../evil.py": b"boom"}, MMS_MANIFEST)
    result = cli("convert", source, "--to", "torchserve", "-o", tmp_path / "out.mar")
    assert result.exit_code == 1
    assert "'../evil.py': '..' component escapes the destination" in result.stderr
    assert not (tmp_path / "out.mar").exists()


def test_corrupt_member_leaves_nothing_behind(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "x.mar"
    with zipfile.ZipFile(source, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("w.bin", b"A" * 1000)
        zf.writestr("svc.py", SVC)
        zf.writestr(MANIFEST, json.dumps(MMS_MANIFEST))
    raw = bytearray(source.read_bytes())
    raw[raw.index(b"A" * 1000) + 10] = ord("B")
    source.write_bytes(bytes(raw))
    result = cli("convert", source, "--to", "torchserve")
    assert result.exit_code == 1
    assert "'w.bin' fails its CRC check" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work", "x.mar"]


def test_output_rules(cli: Cli, tmp_path: Path) -> None:
    source = golden("default", tmp_path / "in")
    same = cli("convert", source, "--to", "torchserve", "-o", source, "-f")
    assert same.exit_code == 1
    assert "convert never modifies its input" in same.stderr
    wrong = cli("convert", source, "--to", "torchserve", "-o", tmp_path / "x.zip")
    assert wrong.exit_code == 2
    assert "TorchServe reads a file as zip only when its name ends in .mar" in wrong.stderr
    out = tmp_path / "ts.mar"
    assert cli("convert", source, "--to", "torchserve", "-o", out).exit_code == 0
    exists = cli("convert", source, "--to", "torchserve", "-o", out)
    assert exists.exit_code == 1
    assert f"'{out}' already exists" in exists.stderr
    (tmp_path / "afile").write_text("x")
    blocked = cli("convert", source, "--to", "torchserve", "-o", tmp_path / "afile" / "x.mar")
    assert blocked.exit_code == 1
    assert blocked.stderr.startswith(
        f"error: --output '{tmp_path / 'afile' / 'x.mar'}': '{tmp_path / 'afile'}' is a file, "
        "not a folder"
    )
    assert cli("convert", source, "--to", "torchserve", "-o", out, "-f").exit_code == 0


def test_usage_errors(cli: Cli, tmp_path: Path) -> None:
    source = golden("default", tmp_path / "in")
    missing_to = cli("convert", source)
    assert missing_to.exit_code == 2
    assert "--to" in missing_to.stderr
    bad = cli("convert", source, "--to", "torchserve", "--runtime", "python2")
    assert bad.exit_code == 2
    assert "invalid value 'python2' for --runtime with --to torchserve" in bad.stderr
    nope = cli("convert", tmp_path / "nope.mar", "--to", "torchserve")
    assert nope.exit_code == 1
    assert nope.stderr.startswith(f"error: '{tmp_path / 'nope.mar'}' does not exist")
    assert nope.stdout == ""


def test_dry_run_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    source = golden("default", tmp_path / "in")
    result = cli("convert", source, "--to", "torchserve", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["manifest"]["model"]["modelVersion"] == "1.0"
    assert sorted(p.name for p in source.parent.iterdir()) == [source.name]


def test_api_refusal_is_a_spec_error(tmp_path: Path) -> None:
    source = golden("tgz", tmp_path / "in")
    with pytest.raises(RequestError, match="python2"):
        mararch.convert(source, to="torchserve")


def test_zip_members_are_copied_without_recompressing(tmp_path: Path) -> None:
    # Level 1 deflate: recompressing (at any other level) would change the compressed bytes.
    payload = b"".join(b"line %d of a vocabulary file\n" % i for i in range(20_000))
    source = tmp_path / "m.mar"
    with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("vocab.txt", payload)
        zf.writestr("svc.py", SVC)
        zf.writestr(MANIFEST, json.dumps(MMS_MANIFEST))
    out = mararch.convert(source, to="torchserve", output=tmp_path / "ts.mar").plan.output

    def raw(path: Path) -> bytes:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("vocab.txt")
            assert zf.read(info) == payload
        data = path.read_bytes()
        off = info.header_offset
        name_len, extra_len = struct.unpack("<HH", data[off + 26 : off + 30])
        start = off + 30 + name_len + extra_len
        return data[start : start + info.compress_size]

    assert raw(out) == raw(source)


REFERENCE = Path(__file__).parent / "fixtures" / "reference"


def member_bytes(path: Path) -> dict[str, bytes]:
    """{name: data} of any archive, through mararch's one reader."""
    with mararch.open_archive(path) as view:
        return {m.name: b"".join(view.iter_member(m)) for m in view.members if m.is_file}


@pytest.mark.parametrize(
    ("fixture", "out_name"),
    [
        ("tma_default.mar", "tma_default-mms.mar"),
        ("tma_zip_store.mar", "tma_zip_store-mms.mar"),
        ("tma_tgz.tar.gz", "tma_tgz-mms.tar.gz"),
        ("tma_no_archive", "tma_no_archive-mms"),
    ],
)
def test_torch_model_archiver_archives_to_mms(
    fixture: str, out_name: str, cli: Cli, tmp_path: Path
) -> None:
    """Archives made by torch-model-archiver 0.12.0 (tests/fixtures/reference) go to MMS."""
    source = tmp_path / fixture
    if (REFERENCE / fixture).is_dir():
        shutil.copytree(REFERENCE / fixture, source)
    else:
        shutil.copy2(REFERENCE / fixture, source)
    result = cli("convert", source, "--to", "mms")
    assert result.exit_code == 0, result.output
    out = tmp_path / out_name
    name = fixture.split(".", maxsplit=1)[0]
    old, new = member_bytes(source), member_bytes(out)
    manifest = json.loads(new.pop(MANIFEST))
    old.pop(MANIFEST)
    assert new == old
    assert manifest == {
        "runtime": "python",
        "model": {"modelName": name, "handler": "my_handler.py", "modelVersion": "1.0"},
        "modelServerVersion": "1.0",
        "implementationVersion": "1.0",
        "specificationVersion": "1.0",
    }
    if fixture == "tma_zip_store.mar":
        # Stored members stay stored: they are copied as they are, not recompressed.
        methods = {n: m[0] for n, m in zip_members(out).items() if n != MANIFEST}
        assert set(methods.values()) == {zipfile.ZIP_STORED}
