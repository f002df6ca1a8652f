"""`mararch verify`: every check trips on a crafted archive and stays quiet on a control.

Archives are built byte by byte (tests/crafted.py) so that each carries exactly one problem.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mararch
from crafted import (
    HANDLER,
    MANIFEST_BYTES,
    STORED,
    ZEntry,
    make_mar,
    make_tgz,
    manifest_bytes,
    raw_tgz,
    raw_zip,
    tar_member,
)
from helpers import Cli, ModelInputs, create_args, file_trees, write_files
from mararch.checks import Report, Verdict
from mararch.errors import VerificationFailed

REFERENCE = Path(__file__).parent / "fixtures" / "reference"
MMS_FIXTURES = Path(__file__).parent / "fixtures" / "mms"
MANIFEST = "MAR-INF/MANIFEST.json"
GOOD = {"handler.py": HANDLER}


def errors(report: Report) -> set[str]:
    return {f.code for f in report.errors}


def warnings(report: Report) -> set[str]:
    return {f.code for f in report.warnings}


def good_mar(path: Path, **files: bytes) -> Path:
    return make_mar(path, {**GOOD, **files})


def zip_with(path: Path, *extra: ZEntry, manifest: bytes = MANIFEST_BYTES) -> Path:
    """A good .mar plus `extra` raw entries."""
    entries = [ZEntry(MANIFEST, manifest), ZEntry("handler.py", HANDLER), *extra]
    return raw_zip(path, entries)


# -- controls ------------------------------------------------------------------------------------


def test_a_good_archive_passes_with_no_warnings(tmp_path: Path) -> None:
    report = mararch.verify(good_mar(tmp_path / "m.mar"))
    assert report.passed and report.status == "passed"
    assert not report.errors and not report.warnings
    assert {f.code for f in report.infos} == {"server", "digests-absent"}


def test_status_is_a_verdict_written_as_its_value(tmp_path: Path) -> None:
    report = mararch.verify(good_mar(tmp_path / "m.mar"))
    assert report.status is Verdict.PASSED
    assert '"status": "passed"' in json.dumps(report.to_json())


REFERENCE_ARCHIVES = sorted(p.name for p in REFERENCE.iterdir())
MMS_ARCHIVES = [
    MMS_FIXTURES / "default" / "mms_model.mar",
    MMS_FIXTURES / "tgz" / "mms_model.tar.gz",
    MMS_FIXTURES / "no-archive" / "mms_model",
]


@pytest.mark.parametrize("name", REFERENCE_ARCHIVES)
def test_reference_archives_pass(name: str) -> None:
    report = mararch.verify(REFERENCE / name, strict=True)
    assert report.passed, report.to_json()
    assert report.server is not None
    assert report.server.value == ("mms" if name.startswith("mms") else "torchserve")


@pytest.mark.parametrize("path", MMS_ARCHIVES, ids=lambda p: p.parent.name)
def test_model_archiver_golden_archives_pass(path: Path) -> None:
    report = mararch.verify(path, strict=True)
    assert report.passed, report.to_json()


@pytest.mark.parametrize("fmt", ["default", "zip-store", "tgz", "no-archive"])
def test_archives_mararch_creates_pass_with_digests(
    fmt: str, model: ModelInputs, tmp_path: Path
) -> None:
    path = mararch.create(
        model_name="m",
        version="1.0",
        handler=str(model.handler),
        serialized_file=model.serialized_file,
        model_file=model.model_file,
        extra_files=f"{model.assets},{model.index}",
        requirements_file=model.requirements_file,
        config_file=model.config_file,
        export_path=tmp_path,
        archive_format=fmt,
    )
    report = mararch.verify(path, strict=True)
    assert report.passed, report.to_json()
    assert "digests-absent" not in report.codes()


@pytest.mark.parametrize("fmt", ["default", "tgz", "no-archive"])
def test_archives_mararch_legacy_makes_pass(fmt: str, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "svc.py").write_bytes(HANDLER)
    (folder / "w.bin").write_bytes(os.urandom(1000))
    path = mararch.create_legacy(
        model_name="m", model_path=folder, handler="svc", export_path=tmp_path, archive_format=fmt
    )
    report = mararch.verify(path, strict=True)
    assert report.passed, report.to_json()
    assert report.server is not None and report.server.value == "mms"


@pytest.mark.parametrize("fmt", ["default", "tgz", "no-archive"])
def test_mms_archive_converted_for_torchserve_passes(fmt: str, cli: Cli, tmp_path: Path) -> None:
    source = {"default": MMS_ARCHIVES[0], "tgz": MMS_ARCHIVES[1], "no-archive": MMS_ARCHIVES[2]}
    before = cli("verify", source[fmt], "--server", "torchserve")
    assert before.exit_code == 1
    assert "no model.modelVersion" in before.stdout
    out = tmp_path / {"default": "c.mar", "tgz": "c.tar.gz", "no-archive": "c"}[fmt]
    # The tgz golden says python2: its handler runs on Python 3, which convert must be told.
    runtime = ["--runtime", "python3"] if fmt == "tgz" else []
    converted = cli("convert", source[fmt], "--to", "torchserve", "-o", out, *runtime)
    assert converted.exit_code == 0, converted.output
    after = cli("verify", out, "--server", "torchserve")
    assert after.exit_code == 0, after.stdout
    assert after.stdout.rstrip().endswith("PASSED: 0 error(s), 0 warning(s)")


@pytest.mark.parametrize(
    "name", ["tma_default.mar", "tma_zip_store.mar", "tma_tgz.tar.gz", "tma_no_archive"]
)
def test_reference_archives_converted_for_mms_pass(name: str, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / name
    assert cli("convert", REFERENCE / name, "--to", "mms", "-o", out).exit_code == 0
    result = cli("verify", out, "--server", "mms", "--strict")
    assert result.exit_code == 0, result.stdout


# -- container -------------------------------------------------------------------------------------


def test_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "notes.mar"
    path.write_text("just text\n")
    assert errors(mararch.verify(path)) == {"not-an-archive"}


def test_missing_path(tmp_path: Path) -> None:
    report = mararch.verify(tmp_path / "nothing.mar")
    assert errors(report) == {"archive-unreadable"}
    assert "does not exist" in report.errors[0].message


def test_truncated_zip(tmp_path: Path) -> None:
    path = good_mar(tmp_path / "m.mar")
    path.write_bytes(path.read_bytes()[:-10])
    report = mararch.verify(path)
    assert errors(report) == {"archive-unreadable"}
    assert "end of central directory" in report.errors[0].message


def test_truncated_tgz(tmp_path: Path) -> None:
    path = make_tgz(tmp_path / "m.tar.gz", GOOD)
    path.write_bytes(path.read_bytes()[:-30])
    assert errors(mararch.verify(path)) == {"archive-unreadable"}


def test_crc_mismatch(tmp_path: Path) -> None:
    path = zip_with(tmp_path / "m.mar", ZEntry("w.bin", b"A" * 100, method=STORED))
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"A" * 100) + 5] = ord("B")
    path.write_bytes(bytes(raw))
    report = mararch.verify(path)
    assert errors(report) == {"member-crc"}
    assert report.errors[0].member == "w.bin"


def test_declared_length_lies(tmp_path: Path) -> None:
    path = zip_with(tmp_path / "m.mar", ZEntry("w.bin", b"A" * 100, size=50))
    assert errors(mararch.verify(path)) == {"member-size"}


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        (ZEntry("w.bin", b"x", method=12, payload=b"BZh9"), "member-method"),
        (ZEntry("w.bin", b"x", flags=0x1), "member-encrypted"),
        (ZEntry("w.bin", b"xyz", method=STORED, flags=0x8), "stored-descriptor"),
    ],
    ids=["bzip2", "encrypted", "stored-with-descriptor"],
)
def test_zip_features_java_cannot_read(entry: ZEntry, code: str, tmp_path: Path) -> None:
    report = mararch.verify(zip_with(tmp_path / "m.mar", entry))
    assert code in errors(report)
    assert {f.member for f in report.errors} == {"w.bin"}


def test_deflated_with_descriptor_is_fine(tmp_path: Path) -> None:
    report = mararch.verify(zip_with(tmp_path / "m.mar", ZEntry("w.bin", b"xyz", flags=0x8)))
    assert report.passed, report.to_json()


def test_duplicate_names(tmp_path: Path) -> None:
    path = zip_with(tmp_path / "m.mar", ZEntry("w.bin", b"1"), ZEntry("w.bin", b"2"))
    assert errors(mararch.verify(path)) == {"duplicate-name"}


@pytest.mark.parametrize(
    "name",
    ["a\0b", "a\x1bb", "/etc/passwd", "../evil.py", "a\\b.py", "C:/x.py", "a//b"],
    ids=["nul", "control", "absolute", "dotdot", "backslash", "drive", "empty-component"],
)
def test_unsafe_names(name: str, tmp_path: Path) -> None:
    report = mararch.verify(zip_with(tmp_path / "m.mar", ZEntry(name, b"x")))
    assert errors(report) == {"unsafe-name"}


def test_unsafe_name_hidden_by_tar_root(tmp_path: Path) -> None:
    path = raw_tgz(
        tmp_path / "m.tar.gz",
        [
            tar_member("m/MAR-INF/MANIFEST.json", MANIFEST_BYTES),
            tar_member("m/handler.py", HANDLER),
            tar_member("../x.py", b"x"),
        ],
    )
    assert "unsafe-name" in errors(mararch.verify(path))


def test_links_and_special_files_in_tgz(tmp_path: Path) -> None:
    path = raw_tgz(
        tmp_path / "m.tar.gz",
        [
            tar_member("m/MAR-INF/MANIFEST.json", MANIFEST_BYTES),
            tar_member("m/handler.py", HANDLER),
            tar_member("m/link", kind=tarfile.SYMTYPE, linkname="/etc/passwd"),
            tar_member("m/hard", kind=tarfile.LNKTYPE, linkname="m/handler.py"),
            tar_member("m/dev", kind=tarfile.CHRTYPE),
        ],
    )
    report = mararch.verify(path)
    by_member = {f.member: f.code for f in report.errors}
    assert by_member == {"link": "link-member", "hard": "link-member", "dev": "special-member"}


def test_symlink_in_zip(tmp_path: Path) -> None:
    link = ZEntry("link", b"/etc/passwd", mode=stat.S_IFLNK | 0o777)
    assert errors(mararch.verify(zip_with(tmp_path / "m.mar", link))) == {"link-member"}


def test_symlink_in_folder_is_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    (folder / "MAR-INF").mkdir(parents=True)
    (folder / MANIFEST).write_bytes(MANIFEST_BYTES)
    (folder / "handler.py").write_bytes(HANDLER)
    (folder / "weights.bin").symlink_to(folder / "handler.py")
    report = mararch.verify(folder)
    assert report.passed and warnings(report) == {"link-member"}
    assert not mararch.verify(folder, strict=True).passed


def verify_in_child(path: Path) -> subprocess.CompletedProcess[str]:
    """`mararch verify --json` in a child process, stopped by a timeout should it block."""
    return subprocess.run(
        [sys.executable, "-m", "mararch", "verify", "--json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_in_folder_is_reported_not_read(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    (folder / "MAR-INF").mkdir(parents=True)
    (folder / MANIFEST).write_bytes(MANIFEST_BYTES)
    (folder / "handler.py").write_bytes(HANDLER)
    os.mkfifo(folder / "pipe")
    # A reader that opened the FIFO would block forever: run it where a timeout can stop it.
    proc = verify_in_child(folder)
    assert proc.returncode == 1, proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    assert [(f["code"], f["member"]) for f in findings if f["severity"] == "error"] == [
        ("special-member", "pipe")
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_given_as_the_archive_is_not_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "m.mar"
    os.mkfifo(fifo)
    proc = verify_in_child(fifo)
    assert proc.returncode == 1
    assert [f["code"] for f in json.loads(proc.stdout)["findings"]] == ["not-an-archive"]


def test_overlapping_members(tmp_path: Path) -> None:
    path = zip_with(tmp_path / "m.mar", ZEntry("a.bin", b"x" * 50), ZEntry("b.bin", same_data_as=2))
    assert errors(mararch.verify(path)) == {"member-overlap"}


def test_local_header_disagrees_with_central_directory(tmp_path: Path) -> None:
    path = zip_with(tmp_path / "m.mar", ZEntry("w.bin", b"x" * 10, method=STORED, local_size=9))
    report = mararch.verify(path)
    assert errors(report) == {"header-mismatch"}
    assert report.errors[0].member == "w.bin"


def test_case_collision_is_a_warning(tmp_path: Path) -> None:
    path = zip_with(tmp_path / "m.mar", ZEntry("Labels.txt", b"a"), ZEntry("labels.txt", b"b"))
    report = mararch.verify(path)
    assert report.passed and report.status == "passed-with-warnings"
    assert warnings(report) == {"case-collision"}
    assert not mararch.verify(path, strict=True).passed


def test_file_and_folder_on_one_name(tmp_path: Path) -> None:
    path = zip_with(tmp_path / "m.mar", ZEntry("a", b"file"), ZEntry("a/b", b"x"))
    assert errors(mararch.verify(path)) == {"path-conflict"}


def test_torchserve_picks_the_container_by_file_name(tmp_path: Path) -> None:
    zipped = good_mar(tmp_path / "m.zip")
    report = mararch.verify(zipped)
    assert errors(report) == {"container-name"}
    assert "rename it to end in .mar" in report.errors[0].message
    assert mararch.verify(zipped, server="mms").passed
    tgz = make_tgz(tmp_path / "t.mar", GOOD)
    assert errors(mararch.verify(tgz)) == {"container-name"}
    assert mararch.verify(make_tgz(tmp_path / "t.tar.gz", GOOD)).passed


def test_tgz_without_a_top_folder(tmp_path: Path) -> None:
    path = raw_tgz(
        tmp_path / "m.tar.gz",
        [tar_member(MANIFEST, MANIFEST_BYTES), tar_member("handler.py", HANDLER)],
    )
    report = mararch.verify(path)
    assert errors(report) == {"manifest-missing"}
    assert "the tar has no top folder" in report.errors[0].message


# -- manifest --------------------------------------------------------------------------------------


def test_manifest_missing(tmp_path: Path) -> None:
    path = make_mar(tmp_path / "m.mar", GOOD, manifest=None)
    assert errors(mararch.verify(path)) == {"manifest-missing"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected an object"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"a": ' * 40 + b"1" + b"}" * 40, "nested more than 32 levels"),
        (b"[" * 200_000 + b"]" * 200_000, "cannot be parsed"),
    ],
    ids=["syntax", "array", "binary", "deep", "absurdly-deep"],
)
def test_manifest_invalid(data: bytes, expected: str, tmp_path: Path) -> None:
    report = mararch.verify(make_mar(tmp_path / "m.mar", GOOD, manifest=data))
    assert errors(report) == {"manifest-invalid"}
    assert expected in report.errors[0].message


def test_manifest_too_large(tmp_path: Path) -> None:
    huge = b'{"pad": "' + b"x" * (2 << 20) + b'"}'
    report = mararch.verify(make_mar(tmp_path / "m.mar", GOOD, manifest=huge))
    assert errors(report) == {"manifest-too-large"}


@pytest.mark.parametrize(
    ("changes", "code", "expected"),
    [
        ({"model": {"modelVersion": None}}, "manifest-field", "no model.modelVersion"),
        ({"model": {"modelName": None}}, "manifest-field", "no model.modelName"),
        ({"model": {"handler": None}}, "manifest-field", "no model.handler"),
        ({"runtime": None}, "manifest-field", "no runtime"),
        ({"runtime": "python2"}, "runtime-invalid", "'python2' is not one TorchServe runs"),
        ({"model": {"modelName": "bad name!"}}, "model-name", "invalid model name"),
        ({"model": {"serializedFile": "w.pt"}}, "member-missing", "'w.pt'"),
        ({"model": {"configFile": "model-config.yaml"}}, "member-missing", "configFile"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_torchserve_manifest_fields(
    changes: dict, code: str, expected: str, tmp_path: Path
) -> None:
    report = mararch.verify(make_mar(tmp_path / "m.mar", GOOD, manifest=manifest_bytes(**changes)))
    assert code in errors(report)
    assert any(expected in f.message for f in report.errors), report.to_json()


@pytest.mark.parametrize("runtime", [["python"], {"name": "python"}], ids=["list", "object"])
@pytest.mark.parametrize("server", [None, "mms"])
def test_runtime_of_another_json_type_is_a_finding(
    runtime: object, server: str | None, tmp_path: Path
) -> None:
    # A list or object is not hashable: looking it up in a set of runtimes raised TypeError.
    path = make_mar(tmp_path / "m.mar", GOOD, manifest=manifest_bytes(runtime=runtime))
    report = mararch.verify(path, server=server)
    assert errors(report) == {"runtime-invalid"}
    assert any(f"runtime {runtime!r} is not one" in f.message for f in report.errors)


def test_missing_stamps_are_warnings(tmp_path: Path) -> None:
    manifest = manifest_bytes(createdOn=None, archiverVersion=None)
    report = mararch.verify(make_mar(tmp_path / "m.mar", GOOD, manifest=manifest))
    assert report.passed and warnings(report) == {"manifest-stamp"}


MMS = {"modelServerVersion": "1.0", "specificationVersion": "1.0", "implementationVersion": "1.0"}


def test_mms_rules(tmp_path: Path) -> None:
    ok = manifest_bytes(**MMS, createdOn=None, archiverVersion=None, model={"modelVersion": None})
    report = mararch.verify(make_mar(tmp_path / "ok.mar", GOOD, manifest=ok))
    assert report.passed and not report.warnings, report.to_json()
    assert report.server is not None and report.server.value == "mms"
    bad = manifest_bytes(**MMS, runtime="LSP", engine={"engineName": "TensorFlow"})
    report = mararch.verify(make_mar(tmp_path / "bad.mar", GOOD, manifest=bad))
    assert errors(report) == {"runtime-invalid", "manifest-field"}


def test_builtin_handler_exists_on_torchserve_only(tmp_path: Path) -> None:
    manifest = manifest_bytes(model={"handler": "image_classifier"})
    path = make_mar(tmp_path / "m.mar", {}, manifest=manifest)
    assert mararch.verify(path).passed
    report = mararch.verify(path, server="mms")
    assert "handler-missing" in errors(report)
    assert any("MMS has no built-in handlers" in f.message for f in report.errors)


# -- handler ---------------------------------------------------------------------------------------


def handler_report(tmp_path: Path, source: bytes, handler: str = "handler.py") -> Report:
    manifest = manifest_bytes(model={"handler": handler})
    return mararch.verify(make_mar(tmp_path / "m.mar", {"handler.py": source}, manifest=manifest))


def test_handler_missing(tmp_path: Path) -> None:
    manifest = manifest_bytes(model={"handler": "nowhere:handle"})
    report = mararch.verify(make_mar(tmp_path / "m.mar", GOOD, manifest=manifest))
    assert errors(report) == {"handler-missing"}


@pytest.mark.parametrize(
    "source",
    [
        b"def handle(data, context):\n    return data\n",
        b"async def handle(data, context):\n    return data\n",
        b"from other import handle\n",
        b"class Service:\n    def handle(self, data, context):\n        return data\n",
        b"def run(d, c):\n    return d\n\nclass Service:\n    handle = staticmethod(run)\n",
        b"from ts.torch_handler.base_handler import BaseHandler\n\n"
        b"class Mine(BaseHandler):\n    def preprocess(self, data):\n        return data\n",
        b"try:\n    import x\nexcept ImportError:\n    def handle(d, c):\n        return d\n",
    ],
    ids=["function", "async", "imported", "one-class", "class-attribute", "inherited", "in-try"],
)
def test_handler_entry_points_that_load(source: bytes, tmp_path: Path) -> None:
    report = handler_report(tmp_path, source)
    assert report.passed and not report.warnings, report.to_json()


@pytest.mark.parametrize(
    ("source", "handler", "code", "expected"),
    [
        (b"def handle(:\n", "handler.py", "handler-syntax", "syntax error at line 1"),
        (b"x = 1\0\n", "handler.py", "handler-syntax", "cannot be parsed"),
        (b"def other(d, c):\n    return d\n", "handler.py", "handler-entry", "0 classes"),
        (
            b"class A:\n    def handle(self, d, c): ...\nclass B:\n    pass\n",
            "handler.py",
            "handler-entry",
            "2 classes",
        ),
        (b"class A:\n    def run(self): ...\n", "handler.py", "handler-entry", "no handle method"),
        (HANDLER, "handler:infer", "handler-entry", "no function 'infer' (named in the manifest)"),
    ],
    ids=["syntax", "nul", "nothing", "two-classes", "class-without-handle", "named-function"],
)
def test_handler_entry_points_that_fail(
    source: bytes, handler: str, code: str, expected: str, tmp_path: Path
) -> None:
    report = handler_report(tmp_path, source, handler)
    assert errors(report) == {code}
    assert expected in report.errors[0].message
    assert report.errors[0].member == "handler.py"


def test_handler_is_never_imported(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').close()\ndef handle(d, c):\n    return d\n".encode()
    assert handler_report(tmp_path, source).passed
    assert not marker.exists()


def test_named_function_exists(tmp_path: Path) -> None:
    source = b"def infer(d, c):\n    return d\n"
    assert handler_report(tmp_path, source, "handler:infer").passed


# -- model-config.yaml ---------------------------------------------------------------------------


def member_report(
    tmp_path: Path, manifest_key: str, member: str, data: bytes, **files: bytes
) -> Report:
    """verify() of a good archive plus `member`, which the manifest's `manifest_key` names."""
    manifest = manifest_bytes(model={manifest_key: member})
    all_files = {**GOOD, member: data, **files}
    return mararch.verify(make_mar(tmp_path / "m.mar", all_files, manifest=manifest))


def config_report(tmp_path: Path, config: bytes) -> Report:
    return member_report(tmp_path, "configFile", "model-config.yaml", config)


def test_good_config(tmp_path: Path) -> None:
    config = (
        b"minWorkers: 1\nmaxWorkers: 4\nbatchSize: 8\nmaxBatchDelay: 100\nresponseTimeout: 120\n"
        b"deviceType: gpu\ndeviceIds: [0, 1]\nparallelType: pp\nuseJobTicket: true\n"
        b"torchrun:\n  nproc-per-node: 2\nhandler:\n  model_path: x\n"
    )
    report = config_report(tmp_path, config)
    assert report.passed and not report.warnings, report.to_json()
    assert "config-section" in {f.code for f in report.infos}


@pytest.mark.parametrize(
    ("config", "code", "expected"),
    [
        (b'maxWorkers: "4"\n', "config-type", "maxWorkers: '4' is a string, expected an integer"),
        (b"batchSize: 2.5\n", "config-type", "expected an integer"),
        (b"useJobTicket: 1\n", "config-type", "expected true or false"),
        (b"minWorkers: true\n", "config-type", "is a boolean, expected an integer"),
        (b"deviceIds: [gpu0]\n", "config-type", "deviceIds"),
        (b"torchrun: 4\n", "config-type", "expected a mapping"),
        (b"batchSize: 0\n", "config-value", "batchSize: 0 is out of range"),
        (b"maxWorkers: 99999999999\n", "config-value", "out of range"),
        (b"deviceType: tpu\n", "config-value", "'tpu' is not one of cpu, gpu, neuron"),
        (b"minWorkers: 4\nmaxWorkers: 2\n", "config-value", "larger than maxWorkers"),
        (b"- a\n- b\n", "config-invalid", "expected a mapping"),
        (b"a: [\n", "config-invalid", "not valid YAML"),
        (b"a: !!python/object:os.system x\n", "config-invalid", "not valid YAML"),
        (b"minWorkers: 1\x00\n", "config-invalid", "unacceptable character #x0000"),
    ],
    ids=lambda v: str(v)[:25],
)
def test_config_errors(config: bytes, code: str, expected: str, tmp_path: Path) -> None:
    report = config_report(tmp_path, config)
    assert errors(report) == {code}, report.to_json()
    assert expected in report.errors[0].message
    assert report.errors[0].member == "model-config.yaml"


def test_unknown_keys_are_warnings_with_a_hint(tmp_path: Path) -> None:
    report = config_report(tmp_path, b"batchsize: 8\nmax_workers: 2\nfoo: 1\n")
    assert report.passed
    messages = [f.message for f in report.warnings]
    assert any("'batchsize': did you mean 'batchSize'?" in m for m in messages)
    assert any("'max_workers': did you mean 'maxWorkers'?" in m for m in messages)
    assert any("unknown key 'foo'" in m for m in messages)


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = [b'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 9)}]".encode())
    report = config_report(tmp_path, b"\n".join(lines) + b"\n")
    assert errors(report) == {"config-invalid"}
    assert "more than 50 YAML aliases" in report.errors[0].message


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    report = config_report(tmp_path, b"base: &b {x: 1}\nhandler: *b\nbatchSize: 2\n")
    assert report.passed


def test_deeply_nested_config(tmp_path: Path) -> None:
    report = config_report(tmp_path, b"a: " + b"[" * 50_000 + b"]" * 50_000 + b"\n")
    assert errors(report) == {"config-invalid"}


# -- requirements ----------------------------------------------------------------------------------


def requirements_report(tmp_path: Path, text: bytes, **files: bytes) -> Report:
    return member_report(tmp_path, "requirementsFile", "requirements.txt", text, **files)


def test_good_requirements(tmp_path: Path) -> None:
    text = (
        b"# pinned\n\nnumpy>=1.20  # comment\ntorchvision==0.19.0; python_version >= '3.9'\n"
        b"requests[socks] @ https://example.com/r.whl\n"
        b"pillow==10.0 --hash=sha256:abcd\n"
        b"--extra-index-url https://example.com/simple\n-r more.txt\n"
        b"scipy \\\n  >=1.0\n"
    )
    report = requirements_report(tmp_path, text, **{"more.txt": b"six\n"})
    assert report.passed and not report.warnings, report.to_json()
    infos = {f.code for f in report.infos}
    assert {"requirements-install", "requirements-option"} <= infos
    install = next(f for f in report.infos if f.code == "requirements-install")
    assert "install_py_dep_per_model=true" in install.message


def test_bad_requirements(tmp_path: Path) -> None:
    report = requirements_report(tmp_path, b"numpy\nnumpy >== 1\nfoo bar\n-r missing.txt\n")
    assert errors(report) == {"requirements-invalid"}
    assert [f.message.split(":")[0] for f in report.errors] == ["line 2", "line 3"]
    assert warnings(report) == {"requirements-option"}
    assert "'missing.txt'" in report.warnings[0].message


# -- digests ---------------------------------------------------------------------------------------


@pytest.fixture
def folder_with_digests(model: ModelInputs, tmp_path: Path) -> Path:
    return mararch.create(
        model_name="m",
        version="1.0",
        handler=str(model.handler),
        serialized_file=model.serialized_file,
        extra_files=str(model.index),
        export_path=tmp_path / "out",
        archive_format="no-archive",
    )


def test_digests_detect_a_changed_member(folder_with_digests: Path) -> None:
    assert mararch.verify(folder_with_digests, strict=True).passed
    (folder_with_digests / "index_to_name.json").write_text('{"0": "dog"}\n')
    report = mararch.verify(folder_with_digests)
    assert errors(report) == {"digest-mismatch"}
    assert report.errors[0].member == "index_to_name.json"


def test_digests_detect_added_and_removed_members(folder_with_digests: Path) -> None:
    (folder_with_digests / "extra.txt").write_text("new\n")
    (folder_with_digests / "index_to_name.json").unlink()
    report = mararch.verify(folder_with_digests)
    assert {(f.code, f.member) for f in report.errors} == {
        ("digest-unlisted", "extra.txt"),
        ("digest-missing", "index_to_name.json"),
    }


def test_unusable_digests(folder_with_digests: Path) -> None:
    (folder_with_digests / "MAR-INF" / "digests.json").write_text("[]")
    assert errors(mararch.verify(folder_with_digests)) == {"digests-invalid"}


def test_no_digests_flag(model: ModelInputs, cli: Cli) -> None:
    args = create_args("m", "1", model.handler, no_digests=True)
    assert cli(*args).exit_code == 0
    report = mararch.verify(cli.cwd / "m.mar")
    assert report.passed and "digests-absent" in report.codes()


def test_digests_are_checked_after_convert(folder_with_digests: Path, tmp_path: Path) -> None:
    mms = mararch.convert(folder_with_digests, to="mms", output=tmp_path / "mms").plan.output
    assert mararch.verify(mms, strict=True).passed
    back = mararch.convert(mms, to="torchserve", output=tmp_path / "ts").plan.output
    report = mararch.verify(back, strict=True)
    assert report.passed, report.to_json()


# -- command line ----------------------------------------------------------------------------------


def test_cli_report_and_exit_codes(cli: Cli, tmp_path: Path) -> None:
    good = good_mar(tmp_path / "good.mar")
    result = cli("verify", good)
    assert result.exit_code == 0
    assert result.stdout.startswith(f"verify {good} (zip, torchserve)")
    assert result.stdout.rstrip().endswith("PASSED: 0 error(s), 0 warning(s)")

    warned = zip_with(tmp_path / "w.mar", ZEntry("A.txt", b"a"), ZEntry("a.txt", b"b"))
    result = cli("verify", warned)
    assert result.exit_code == 0
    assert "warnings (1):\n  [case-collision] a.txt:" in result.stdout
    assert result.stdout.rstrip().endswith("PASSED with warnings: 0 error(s), 1 warning(s)")
    strict = cli("verify", warned, "--strict")
    assert strict.exit_code == 1
    assert strict.stdout.rstrip().endswith(
        "FAILED: 0 error(s), 1 warning(s) (--strict: warnings fail)"
    )

    bad = tmp_path / "bad.mar"
    bad.write_bytes(b"PK\x03\x04 broken")
    result = cli("verify", bad)
    assert result.exit_code == 1
    assert "errors (1):\n  [archive-unreadable]" in result.stdout
    assert result.stdout.rstrip().endswith("FAILED: 1 error(s), 0 warning(s)")


def test_cli_report_summarises_many_findings_of_one_code(cli: Cli, tmp_path: Path) -> None:
    dupes = [ZEntry("w.bin", b"x") for _ in range(31)]
    path = zip_with(tmp_path / "m.mar", *dupes)
    result = cli("verify", path)
    assert result.exit_code == 1
    assert "errors (30):" in result.stdout
    assert result.stdout.count("[duplicate-name] w.bin:") == 20
    assert "  ... and 10 more [duplicate-name] (see --json)" in result.stdout
    assert len(json.loads(cli("verify", path, "--json").stdout)["findings"]) == 32


def test_cli_usage_errors(cli: Cli, tmp_path: Path) -> None:
    assert cli("verify").exit_code == 2
    good = good_mar(tmp_path / "good.mar")
    assert cli("verify", good, "--server", "triton").exit_code == 2


def test_cli_json(cli: Cli, tmp_path: Path) -> None:
    path = zip_with(tmp_path / "m.mar", ZEntry("w.bin", b"x", method=12, payload=b"BZh9"))
    result = cli("verify", path, "--json", "--server", "torchserve")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert list(doc) == [
        "path",
        "container",
        "server",
        "strict",
        "passed",
        "status",
        "counts",
        "findings",
    ]
    assert doc["container"] == "zip" and doc["server"] == "torchserve"
    assert (doc["passed"], doc["status"]) == (False, "failed")
    assert doc["counts"] == {"error": 1, "warning": 0, "info": 2}
    assert {
        "severity": "error",
        "code": "member-method",
        "member": "w.bin",
        "message": "compression method 'bzip2': Java's java.util.zip reads only stored and "
        "deflated members",
    } in doc["findings"]


def test_hostile_names_do_not_reach_the_terminal(cli: Cli, tmp_path: Path) -> None:
    path = zip_with(tmp_path / "m.mar", ZEntry("a\x1b[31mred", b"x"))
    result = cli("verify", path)
    assert result.exit_code == 1
    assert "\x1b" not in result.stdout
    assert "\\x1b[31mred" in result.stdout


# -- pre-write checks in create, legacy and convert ------------------------------------------------


def test_create_refuses_a_bad_config(model: ModelInputs, cli: Cli) -> None:
    model.config_file.write_text('batchSize: "8"\n')
    args = create_args("m", "1", model.handler)
    result = cli(*args, "-c", model.config_file)
    assert result.exit_code == 1
    assert "1 error in what would be written; nothing was written" in result.stderr
    assert "[config-type] model-config.yaml: batchSize: '8' is a string" in result.stderr
    assert "--no-verify" in result.stderr
    assert list(cli.cwd.iterdir()) == []
    forced = cli(*args, "-c", model.config_file, "--no-verify")
    assert forced.exit_code == 0
    # Written, but the user still hears what is wrong with it.
    assert "[config-type] model-config.yaml: batchSize: '8' is a string" in forced.stderr
    assert "written anyway: --no-verify" in forced.stderr
    assert not mararch.verify(cli.cwd / "m.mar").passed


def test_create_shows_warnings_and_writes(model: ModelInputs, cli: Cli) -> None:
    model.config_file.write_text("batchsize: 8\n")
    args = create_args("m", "1", model.handler)
    result = cli(*args, "-c", model.config_file)
    assert result.exit_code == 0
    assert (
        "warning: [config-unknown-key] model-config.yaml: unknown key 'batchsize'" in result.stderr
    )
    as_json = cli(*args, "-c", model.config_file, "--json", "-f")
    assert as_json.exit_code == 0
    findings = json.loads(as_json.stdout)["findings"]
    assert [(f["severity"], f["code"]) for f in findings] == [("warning", "config-unknown-key")]


def test_create_refuses_a_broken_handler_through_the_api(
    model: ModelInputs, tmp_path: Path
) -> None:
    model.handler.write_text("def handle(:\n")
    out = tmp_path / "out"
    with pytest.raises(VerificationFailed) as info:
        mararch.create(model_name="m", version="1", handler=str(model.handler), export_path=out)
    assert [f.code for f in info.value.findings] == ["handler-syntax"]
    assert not out.exists() or list(out.iterdir()) == []


def test_legacy_refuses_a_handler_without_entry_point(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "svc.py").write_text("class A: pass\nclass B: pass\n")
    args = ["legacy", "--model-name", "m", "--model-path", folder, "--handler", "svc"]
    result = cli(*args)
    assert result.exit_code == 1
    assert "[handler-entry] svc.py" in result.stderr
    assert list(cli.cwd.iterdir()) == []
    assert cli(*args, "--no-verify").exit_code == 0


def test_legacy_repacks_an_unpacked_archive(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "svc.py").write_bytes(HANDLER)
    first = mararch.create_legacy(
        model_name="m", model_path=folder, handler="svc", export_path=tmp_path / "a"
    )
    unpacked = mararch.extract(first, tmp_path / "unpacked").destination
    (unpacked / "svc.py").write_bytes(HANDLER + b"# changed\n")
    again = mararch.create_legacy(
        model_name="m", model_path=unpacked, handler="svc", export_path=tmp_path / "b"
    )
    assert mararch.verify(again, strict=True).passed


def test_convert_runs_the_checks(cli: Cli, tmp_path: Path) -> None:
    manifest = manifest_bytes(**MMS, model={"handler": "svc:handle"})
    source = make_mar(tmp_path / "m.mar", {"svc.py": b"def other(): pass\n"}, manifest=manifest)
    result = cli("convert", source, "--to", "torchserve", "-o", tmp_path / "ts.mar")
    assert result.exit_code == 1
    assert "[handler-entry] svc.py" in result.stderr
    assert not (tmp_path / "ts.mar").exists()
    forced = cli("convert", source, "--to", "torchserve", "-o", tmp_path / "ts.mar", "--no-verify")
    assert forced.exit_code == 0


def test_digests_member_name_is_reserved(model: ModelInputs, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    (inputs / "MAR-INF").mkdir(parents=True)
    (inputs / "MAR-INF" / "digests.json").write_text("{}")
    kwargs = {"model_name": "m", "version": "1", "handler": str(model.handler)}
    with pytest.raises(mararch.MararchError, match="--no-digests"):
        mararch.create(**kwargs, extra_files=str(inputs), export_path=tmp_path / "a")
    path = mararch.create(
        **kwargs, extra_files=str(inputs), export_path=tmp_path / "b", digests=False
    )
    # Packaged as given, then found unusable by verify.
    assert errors(mararch.verify(path)) == {"digests-invalid"}


def test_every_byte_is_checked(tmp_path: Path) -> None:
    """Every byte of every member is read: corrupting the last byte of the last member trips it."""
    data = os.urandom(3 << 20)
    path = zip_with(tmp_path / "m.mar", ZEntry("w.bin", data, method=STORED))
    raw = bytearray(path.read_bytes())
    end = raw.index(data) + len(data) - 1
    raw[end] ^= 0xFF
    path.write_bytes(bytes(raw))
    report = mararch.verify(path)
    assert errors(report) == {"member-crc"}
    assert f"actual {zlib.crc32(bytes(raw[end - len(data) + 1 : end + 1])):08x}" in (
        report.errors[0].message
    )


# -- properties ------------------------------------------------------------------------------------


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=file_trees, fmt=st.sampled_from(["default", "zip-store", "tgz", "no-archive"]))
def test_whatever_mararch_creates_passes_strictly(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes], fmt: str
) -> None:
    base = tmp_path_factory.mktemp("prop")
    src = write_files(base / "src", files)
    made = mararch.create(
        model_name="p",
        version="1.0",
        handler="image_classifier",
        extra_files=[str(src)],
        archive_format=fmt,
        export_path=base / "out",
    )
    report = mararch.verify(made, strict=True)
    assert report.passed, report.to_json()


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_corruption_is_a_finding_never_a_crash(data: st.DataObject) -> None:
    """Flip one byte anywhere in a good .mar: verify reports, and never raises."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = zip_with(
            Path(tmp) / "m.mar",
            ZEntry("w.bin", bytes(range(256)) * 4, method=STORED),
            ZEntry("t.txt", b"text " * 200),
        )
        raw = bytearray(path.read_bytes())
        where = data.draw(st.integers(0, len(raw) - 1))
        raw[where] ^= data.draw(st.integers(1, 255))
        path.write_bytes(bytes(raw))
        report = mararch.verify(path)
        assert isinstance(report.passed, bool)
        json.dumps(report.to_json())


def test_help_lists_the_new_flags(cli: Cli) -> None:
    for command, flags in (
        ("verify", ["--json", "--strict", "--server"]),
        ("create", ["--no-digests", "--no-verify"]),
        ("legacy", ["--no-digests", "--no-verify"]),
        ("convert", ["--no-verify"]),
    ):
        result = cli(command, "--help")
        assert result.exit_code == 0
        for flag in flags:
            assert flag in result.stdout, (command, flag)
