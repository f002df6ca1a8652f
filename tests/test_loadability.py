"""Will TorchServe load these weights: TorchServe 0.12's BaseHandler rules, and safetensors
headers checked from the header alone. The server's own refusal: tests/e2e/test_loadability.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import mararch
from crafted import make_mar, manifest_bytes
from helpers_pickles import safetensors, state_dict_pickle, torch_zip
from mararch.cli import app

STATE_DICT = torch_zip(state_dict_pickle())
TORCHSCRIPT = torch_zip(state_dict_pickle(), code=True, deflated=True)
ONE_CLASS = b"import torch\n\n\nclass Net(torch.nn.Module):\n    pass\n"
TWO_CLASSES = ONE_CLASS + b"\n\nclass Helper:\n    pass\n"
SAFETENSORS = safetensors({"w": ("F32", [2, 3], [0, 24]), "b": ("BF16", [3], [24, 30])}, 30)
OWN_INIT = b"""from ts.torch_handler.base_handler import BaseHandler


class H(BaseHandler):
    def initialize(self, context):
        self.model = load_it_myself(context)
"""
INHERITED_INIT = b"""from ts.torch_handler.base_handler import BaseHandler


class H(BaseHandler):
    def preprocess(self, data):
        return data
"""


def verify(tmp_path: Path, files: dict[str, bytes], **model: object) -> mararch.Report:
    archive = make_mar(tmp_path / "m.mar", files, manifest=manifest_bytes(model=model))
    return mararch.verify(archive)


def codes(report: mararch.Report, prefix: tuple[str, ...] = ("weights", "model-file")) -> set:
    return {
        (f.severity.value, f.code, f.member) for f in report.findings if f.code.startswith(prefix)
    }


CASES = [
    # (id, files, manifest model fields, expected (severity, code, member) findings)
    ("torchscript-pt", {"model.pt": TORCHSCRIPT}, {"serializedFile": "model.pt"}, set()),
    (
        "state-dict-without-model-file",
        {"model.pt": STATE_DICT},
        {"serializedFile": "model.pt"},
        {("error", "weights-not-loadable", "model.pt")},
    ),
    (
        "torchscript-named-pth",
        {"model.pth": TORCHSCRIPT},
        {"serializedFile": "model.pth"},
        {("error", "weights-not-loadable", "model.pth")},
    ),
    (
        "state-dict-with-model-file",
        {"model.pt": STATE_DICT, "model.py": ONE_CLASS},
        {"serializedFile": "model.pt", "modelFile": "model.py"},
        set(),
    ),
    (
        "model-file-with-two-classes",
        {"model.pt": STATE_DICT, "model.py": TWO_CLASSES},
        {"serializedFile": "model.pt", "modelFile": "model.py"},
        {("error", "model-file-classes", "model.py")},
    ),
    (
        # torch 2.13's torch.load reads *.safetensors paths when the package is installed
        "safetensors-with-model-file",
        {"model.safetensors": SAFETENSORS, "model.py": ONE_CLASS},
        {"serializedFile": "model.safetensors", "modelFile": "model.py"},
        {("warning", "weights-not-loadable", "model.safetensors")},
    ),
    (
        "safetensors-named-pt-with-model-file",
        {"model.pt": SAFETENSORS, "model.py": ONE_CLASS},
        {"serializedFile": "model.pt", "modelFile": "model.py"},
        {("error", "weights-not-loadable", "model.pt")},
    ),
    (
        "safetensors-without-model-file",
        {"model.safetensors": SAFETENSORS},
        {"serializedFile": "model.safetensors"},
        {("error", "weights-not-loadable", "model.safetensors")},
    ),
    (
        "so-without-aot-compile",
        {"model.so": b"\x7fELF"},
        {"serializedFile": "model.so"},
        {("error", "weights-not-loadable", "model.so")},
    ),
    (
        "so-with-aot-compile",
        {"model.so": b"\x7fELF", "model-config.yaml": b"pt2:\n  export:\n    aot_compile: true\n"},
        {"serializedFile": "model.so", "configFile": "model-config.yaml"},
        set(),
    ),
    (
        "onnx",
        {"model.onnx": b"\x08\x07\x12\x07pytorch"},
        {"serializedFile": "model.onnx"},
        {("info", "weights-onnx", "model.onnx")},
    ),
    ("no-weights", {}, {}, {("info", "weights-missing", "MAR-INF/MANIFEST.json")}),
]


@pytest.mark.parametrize(
    ("files", "model", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_builtin_handler_rules(
    files: dict[str, bytes], model: dict[str, str], expected: set, tmp_path: Path
) -> None:
    report = verify(tmp_path, files, handler="image_classifier", **model)
    assert codes(report) == expected, report.to_json()
    assert report.passed is not any(severity == "error" for severity, _, _ in expected)


def test_a_handler_class_that_inherits_initialize_gets_the_rules(tmp_path: Path) -> None:
    files = {"handler.py": INHERITED_INIT, "model.pt": STATE_DICT}
    report = verify(tmp_path, files, handler="handler.py", serializedFile="model.pt")
    assert codes(report) == {("error", "weights-not-loadable", "model.pt")}


def test_a_handler_with_its_own_initialize_is_only_warned_about_safetensors(
    tmp_path: Path,
) -> None:
    files = {"handler.py": OWN_INIT, "model.safetensors": SAFETENSORS}
    report = verify(tmp_path, files, handler="handler.py", serializedFile="model.safetensors")
    assert codes(report) == {("warning", "weights-not-loadable", "model.safetensors")}
    assert report.passed
    files = {"handler.py": OWN_INIT, "model.pt": STATE_DICT}
    report = verify(tmp_path, files, handler="handler.py", serializedFile="model.pt")
    assert codes(report) == set()


def test_the_message_says_what_torchserve_does_and_how_to_fix(tmp_path: Path) -> None:
    archive = make_mar(
        tmp_path / "m.mar",
        {"model.pt": STATE_DICT},
        manifest=manifest_bytes(
            model={"handler": "image_classifier", "serializedFile": "model.pt"}
        ),
    )
    result = CliRunner().invoke(app, ["verify", str(archive)], catch_exceptions=False)
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert (
        "[weights-not-loadable] model.pt: without a model file, the handler 'image_classifier' "
        "loads the model with TorchServe's BaseHandler.initialize: torch.jit.load, which needs "
        "TorchScript, but the file is torch-zip: add --model-file, or save it with "
        "torch.jit.save" in text
    ), text


BAD_SAFETENSORS = [
    ("overlap", {"a": ("F32", [2], [0, 8]), "b": ("F32", [2], [4, 12])}, 12, "overlaps 'a'"),
    ("outside", {"a": ("F32", [4], [0, 16])}, 8, "fall outside the 8 data bytes"),
    ("wrong-size", {"a": ("F32", [3], [0, 8])}, 8, "8 bytes for 3 F32 values"),
    ("gap", {"a": ("F32", [1], [4, 8])}, 8, "4 unused bytes before tensor 'a'"),
    ("dtype", {"a": ("F31", [1], [0, 4])}, 4, "unknown dtype 'F31'"),
]


@pytest.mark.parametrize(
    ("tensors", "size", "message"),
    [c[1:] for c in BAD_SAFETENSORS],
    ids=[c[0] for c in BAD_SAFETENSORS],
)
def test_safetensors_header_problems(
    tensors: dict, size: int, message: str, tmp_path: Path
) -> None:
    report = verify(tmp_path, {"w.safetensors": safetensors(tensors, size)})
    found = [f for f in report.errors if f.code == "safetensors-invalid"]
    assert [f.member for f in found] == ["w.safetensors"], report.to_json()
    assert message in found[0].message


def test_safetensors_header_that_is_not_json(tmp_path: Path) -> None:
    data = (5).to_bytes(8, "little") + b"{nope" + b"\x00" * 4
    report = verify(tmp_path, {"w.safetensors": data})
    (found,) = [f for f in report.errors if f.code == "safetensors-invalid"]
    assert "the header is not JSON" in found.message


def test_a_valid_safetensors_file_passes(tmp_path: Path) -> None:
    report = verify(tmp_path, {"w.safetensors": SAFETENSORS})
    assert not [f for f in report.findings if f.code == "safetensors-invalid"]
