"""Pickle scanning in `verify` and `create`: crafted malicious pickles fail naming the callable, in
every container and place; benign weights pass; nothing is ever unpickled (the crafted pickles
would run `echo`, `id` or `true` if they were)."""

from __future__ import annotations

import json
import pickletools
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mararch
from crafted import HANDLER
from helpers_pickles import (
    BENIGN,
    CONTAINERS,
    MALICIOUS,
    USER_CLASS,
    Crafted,
    build_archive,
    legacy_torch,
    state_dict_pickle,
    torch_zip,
)
from mararch.cli import app
from mararch.pickles import _APPLY
from mararch.weights import WeightsFormat, scan_member


def unsafe(report: mararch.Report) -> list[tuple[str | None, str]]:
    return [(f.member, f.message) for f in report.errors if f.code == "pickle-unsafe-import"]


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("crafted", MALICIOUS, ids=lambda c: c.name)
def test_malicious_serialized_file_fails_naming_the_callable(
    crafted: Crafted, container: str, tmp_path: Path
) -> None:
    archive = build_archive(
        tmp_path, container, {"model.pt": crafted.data}, serializedFile="model.pt"
    )
    report = mararch.verify(archive)
    assert not report.passed
    found = unsafe(report)
    assert found, report.to_json()
    assert all(member == "model.pt" for member, _ in found)
    assert any(f"imports {crafted.callable} " in message for _, message in found), found


PLACES = {
    # a pickle as an extra file, by extension
    "extra-pkl": lambda data: {"extra/blob.pkl": data},
    # by content alone: a name no scanner would look at
    "by-content": lambda data: {"assets/notes.txt": data},
    # torch's zip serialization (data descriptors, as torch writes them), stored records
    "torch-zip": lambda data: {"model.pt": torch_zip(data)},
    # the same with deflated records and sizes in the local headers
    "torch-zip-deflated": lambda data: {
        "model.pt": torch_zip(data, descriptors=False, deflated=True)
    },
    # a TorchScript-like zip (code/ and constants.pkl), descriptors and deflate
    "torchscript-zip": lambda data: {"model.pt": torch_zip(data, code=True, deflated=True)},
    "legacy-torch": lambda data: {"model.pt": legacy_torch(data)},
}


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("crafted", [MALICIOUS[0], MALICIOUS[6]], ids=lambda c: c.name)
def test_malicious_pickle_is_found_wherever_it_is(
    crafted: Crafted, place: str, container: str, tmp_path: Path
) -> None:
    files = PLACES[place](crafted.data)
    archive = build_archive(tmp_path, container, files)
    found = unsafe(mararch.verify(archive))
    (member,) = files
    assert [m for m, _ in found] == [member], found
    message = found[0][1]
    assert f"imports {crafted.callable} " in message
    if place.startswith("torch"):
        assert "its pickle 'archive/data.pkl'" in message


def test_benign_weights_pass_without_pickle_findings(tmp_path: Path) -> None:
    files = {
        "model.pt": torch_zip(state_dict_pickle()),
        "legacy.pt": legacy_torch(state_dict_pickle()),
        "bf16.pt": torch_zip(state_dict_pickle(dtype="BFloat16"), deflated=True),
        "plain.pkl": BENIGN,
    }
    for container in CONTAINERS:
        report = mararch.verify(build_archive(tmp_path / container, container, files))
        codes = [f.code for f in report.findings if f.code.startswith("pickle")]
        assert codes == [], report.to_json()


def test_user_class_is_a_warning_naming_it(tmp_path: Path) -> None:
    report = mararch.verify(build_archive(tmp_path, "mar-deflated", {"full_model.pkl": USER_CLASS}))
    assert report.passed and not report.errors
    (warning,) = [f for f in report.warnings if f.code == "pickle-unknown-import"]
    assert warning.member == "full_model.pkl"
    assert "imports mymodels.Net " in warning.message


def test_cli_verify_fails_and_names_member_and_callable(tmp_path: Path) -> None:
    archive = build_archive(tmp_path, "mar-deflated", {"model.pt": torch_zip(MALICIOUS[2].data)})
    result = CliRunner().invoke(app, ["verify", str(archive)], catch_exceptions=False)
    assert result.exit_code == 1
    assert "pickle-unsafe-import" in result.output
    assert "model.pt" in result.output
    assert "posix.system" in result.output
    assert "Traceback" not in result.output


def test_create_refuses_a_malicious_serialized_file(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_bytes(HANDLER)
    (tmp_path / "evil.pt").write_bytes(torch_zip(MALICIOUS[0].data))
    out = tmp_path / "out"
    out.mkdir()
    args = ["create", "--model-name", "m", "-v", "1", "--handler", str(tmp_path / "handler.py")]
    args += ["--serialized-file", str(tmp_path / "evil.pt"), "--export-path", str(out)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 1
    assert "[pickle-unsafe-import] evil.pt: its pickle 'archive/data.pkl' imports os.system" in (
        result.output
    )
    assert list(out.iterdir()) == []


def test_a_nested_zip_that_cannot_be_followed_is_an_error(tmp_path: Path) -> None:
    # The descriptor after data.pkl loses its signature: the record walk cannot find the end of
    # the next records, but a central directory is there, so torch could still read it.
    data = torch_zip(MALICIOUS[0].data)
    end = data.index(b"PK\x07\x08")
    broken = data[:end] + b"XX\x07\x08" + data[end + 4 :]
    report = mararch.verify(build_archive(tmp_path, "mar-deflated", {"model.pt": broken}))
    codes = {(f.code, f.member) for f in report.errors}
    assert ("pickle-unsafe-import", "model.pt") in codes  # data.pkl came first: still scanned
    assert ("pickle-unscanned", "model.pt") in codes
    # a pickle the walk never reached is reported as unscanned
    late = torch_zip(BENIGN, code=True)
    bad = late.replace(b"PK\x07\x08", b"XX\x07\x08", 1)
    report = mararch.verify(build_archive(tmp_path / "late", "tgz", {"model.pt": bad}))
    assert [f.code for f in report.errors] == ["pickle-unscanned"], report.to_json()


def _lazy(head: bytes, tail_size: int, pulled: list[int]) -> Iterator[bytes]:
    yield head
    pulled[0] += len(head)
    block = b"\x00" * (1 << 20)
    for _ in range(tail_size >> 20):
        pulled[0] += len(block)
        yield block


def test_legacy_pickle_is_scanned_as_a_stream_and_tensor_data_is_not_read() -> None:
    head = legacy_torch(state_dict_pickle(), tail=b"")
    pulled = [0]
    info = scan_member("big.pt", len(head) + (1 << 30), _lazy(head, 1 << 30, pulled), lambda: None)
    assert info is not None and info.format is WeightsFormat.TORCH_LEGACY
    assert info.tensors == 2 and info.parameters == 24 and info.dtypes == {"float32"}
    assert pulled[0] <= (1 << 20) + len(head)


def test_long_pickle_arguments_are_skipped_not_kept() -> None:
    # protocol 5: an inline 256 MiB BINBYTES8 argument, then an import
    size = 256 << 20
    head = b"\x80\x05\x8e" + size.to_bytes(8, "little")
    tail = b"\x94cos\nsystem\n."
    chunks = iter([head, *(b"\x00" * (1 << 20) for _ in range(size >> 20)), tail])
    tracemalloc.start()
    try:
        info = scan_member("x.pkl", len(head) + size + len(tail), chunks, lambda: None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info is not None and info.imports() == ["os.system"]
    assert peak < 16 << 20


def test_not_a_pickle_is_left_alone(tmp_path: Path) -> None:
    files = {
        "weights.bin": bytes(range(256)) * 64,
        "index_to_name.json": b'{"0": ["n01440764", "tench"]}',
        "notes.txt": b"import os\nos.system('x')\n",
    }
    report = mararch.verify(build_archive(tmp_path, "mar-deflated", files))
    assert [f.code for f in report.findings if f.code.startswith("pickle")] == []


def test_inspect_weights_lists_formats_counts_and_imports(tmp_path: Path) -> None:
    archive = build_archive(
        tmp_path,
        "mar-deflated",
        {
            "model.pt": torch_zip(state_dict_pickle(tensors=3, dtype="Half")),
            "evil.pkl": MALICIOUS[0].data,
            "legacy.pt": legacy_torch(state_dict_pickle()),
        },
    )
    runner = CliRunner()
    result = runner.invoke(
        app, ["inspect", "--weights", "--json", str(archive)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    weights = {w["member"]: w for w in json.loads(result.output)["weights"]}
    assert set(weights) == {"model.pt", "evil.pkl", "legacy.pt"}
    model = weights["model.pt"]
    assert (model["format"], model["tensors"], model["parameters"], model["dtypes"]) == (
        "torch-zip",
        3,
        36,
        ["float16"],
    )
    assert model["pickles"] == ["archive/data.pkl"]
    assert {"name": "torch.HalfStorage", "verdict": "safe"} in model["imports"]
    assert weights["evil.pkl"]["imports"] == [{"name": "os.system", "verdict": "unsafe"}]
    assert weights["legacy.pt"]["format"] == "torch-legacy"
    result = runner.invoke(app, ["inspect", "--weights", str(archive)], catch_exceptions=False)
    assert result.exit_code == 0
    assert "os.system (unsafe)" in result.output
    assert "torch-legacy" in result.output


def test_a_file_that_only_starts_like_a_pickle_is_left_alone(tmp_path: Path) -> None:
    # Found by hypothesis: an extra file holding b"\x80\x02" is not a broken pickle to warn about.
    files = {
        "0": b"\x80\x02",
        "data.raw": b"\x80\x04\x95garbage",
        "1": b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19",  # torch's legacy magic, cut short
    }
    report = mararch.verify(build_archive(tmp_path, "mar-deflated", files))
    assert [f.code for f in report.findings if f.code.startswith("pickle")] == []
    # ... but a truncated pickle under a pickle's name is reported
    report = mararch.verify(build_archive(tmp_path / "b", "mar-deflated", {"m.pkl": b"\x80\x02"}))
    assert [(f.code, f.member) for f in report.warnings] == [("pickle-invalid", "m.pkl")]


def test_a_file_that_only_starts_like_safetensors_is_left_alone(tmp_path: Path) -> None:
    files = {"blob": (1).to_bytes(8, "little") + b"{ not json"}
    report = mararch.verify(build_archive(tmp_path, "mar-deflated", files))
    assert [f.code for f in report.findings if f.code.startswith("safetensors")] == []


def test_every_opcode_the_walker_handles_is_a_pickle_opcode() -> None:
    # A misspelt name in the handler table would send that opcode to the generic handler.
    assert set(_APPLY) <= {op.name for op in pickletools.opcodes}
