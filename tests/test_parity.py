"""Parity with torch-model-archiver 0.12.0: same inputs, same archive names, members and bytes.

The reference tool is a test dependency and runs side by side with mararch on every case.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import DIGESTS, Cli, ModelInputs, read_output, split_digests, split_manifest

FORMATS = ["default", "zip-store", "tgz", "no-archive"]
CREATED_ON = re.compile(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}")
VOLATILE_KEYS = {"createdOn", "archiverVersion"}


def reference_tool() -> str:
    candidate = Path(sys.executable).parent / "torch-model-archiver"
    found = str(candidate) if candidate.exists() else shutil.which("torch-model-archiver")
    if found is None:
        pytest.fail(
            "torch-model-archiver is not installed: it is a test dependency "
            "(pip install -e '.[test]')"
        )
    return found


def run_reference(args: list[str], cwd: Path, tmp: Path) -> None:
    # The reference stages inputs in $TMPDIR/<model_name>: give it a private TMPDIR.
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.run(
        [reference_tool(), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


CASES: dict[str, list[str]] = {
    # An eager model with everything: model file, weights, custom handler, extra folder, file and
    # glob, requirements and config.
    "eager-full": [
        "--model-file",
        "{root}/model.py",
        "--serialized-file",
        "{root}/model.pt",
        "--handler",
        "{root}/my_handler.py",
        "--extra-files",
        "{root}/assets,{root}/index_to_name.json,{root}/*.yaml",
        "-r",
        "{root}/requirements.txt",
        "-c",
        "{root}/model-config.yaml",
    ],
    # TorchScript with a built-in handler: no model file, the handler is a name, not a file.
    "torchscript-builtin": [
        "--serialized-file",
        "{root}/model.pt",
        "--handler",
        "image_classifier",
        "--extra-files",
        "{root}/index_to_name.json",
    ],
    # A handler path without .py and with a module-level entry point.
    "handler-function": [
        "--serialized-file",
        "{root}/model.pt",
        "--handler",
        "{root}/my_handler:handle",
    ],
    "handler-no-suffix": [
        "--serialized-file",
        "{root}/model.pt",
        "--handler",
        "{root}/my_handler",
        "--runtime",
        "python3",
    ],
    # Globs that match files in nested folders, and a folder whose subfolders keep their paths.
    "globs": [
        "--serialized-file",
        "{root}/model.pt",
        "--handler",
        "text_classifier",
        "--extra-files",
        "{root}/assets/*.txt,{root}/assets/vocab,{root}/nothing-*.bin",
    ],
    # The C++ backend: the handler is a shared library, or a built-in name.
    "lsp-library": [
        "--serialized-file",
        "{root}/model.pt",
        "--handler",
        "{root}/libhandler",
        "--runtime",
        "LSP",
    ],
    "lsp-builtin": [
        "--serialized-file",
        "{root}/model.pt",
        "--handler",
        "TorchScriptHandler",
        "--runtime",
        "LSP",
    ],
    # Only a handler: the reference allows an archive without weights.
    "handler-only": ["--handler", "{root}/my_handler.py", "-v", "2.5"],
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_same_output_as_reference(
    case: str, fmt: str, model: ModelInputs, cli: Cli, tmp_path: Path
) -> None:
    (model.root / "libhandler.so").write_bytes(b"\x7fELF fake shared library")
    name = f"m-{case}"
    args = [a.format(root=model.root) for a in CASES[case]]
    if "-v" not in args:
        args += ["-v", "1.0"]
    common = ["--model-name", name, "--archive-format", fmt, *args]
    ref_out, our_out = tmp_path / "ref", tmp_path / "ours"
    staging = tmp_path / "staging"
    ref_out.mkdir()
    staging.mkdir()
    run_reference([*common, "--export-path", str(ref_out)], cli.cwd, staging)
    # Deflate every member, as the reference does, so methods compare too.
    extra = ["--compression", "deflate"] if fmt == "default" else []
    result = cli("create", *common, "--export-path", our_out, *extra)
    assert result.exit_code == 0, result.output

    suffix = {"default": ".mar", "zip-store": ".mar", "tgz": ".tar.gz", "no-archive": ""}[fmt]
    assert sorted(p.name for p in ref_out.iterdir()) == [name + suffix]
    assert sorted(p.name for p in our_out.iterdir()) == [name + suffix]

    ref_members, ref_methods = read_output(ref_out / (name + suffix), fmt, name)
    our_members, our_methods = read_output(our_out / (name + suffix), fmt, name)
    # mararch's one extra member: the SHA-256 of every other member.
    our_members = split_digests(our_members, f"{name}/" if fmt == "tgz" else "")
    digests_method = our_methods.pop(DIGESTS, None)
    manifest_name = f"{name}/MAR-INF/MANIFEST.json" if fmt == "tgz" else "MAR-INF/MANIFEST.json"
    ref_rest, ref_manifest = split_manifest(ref_members, manifest_name)
    our_rest, our_manifest = split_manifest(our_members, manifest_name)

    assert our_rest == ref_rest
    assert list(our_manifest) == list(ref_manifest)
    assert {k: v for k, v in our_manifest.items() if k not in VOLATILE_KEYS} == {
        k: v for k, v in ref_manifest.items() if k not in VOLATILE_KEYS
    }
    assert CREATED_ON.fullmatch(our_manifest["createdOn"])
    if fmt in ("default", "zip-store"):
        assert our_methods == ref_methods
        expected = zipfile.ZIP_STORED if fmt == "zip-store" else zipfile.ZIP_DEFLATED
        assert set(our_methods.values()) == {expected}
        assert digests_method == expected
    assert not list(staging.iterdir()), "the reference's staging folder is its own business"


def test_default_auto_compression_keeps_bytes_and_never_grows(
    model: ModelInputs, cli: Cli, tmp_path: Path
) -> None:
    """`default` without --compression decides per member; members are the reference's bytes."""
    args = [
        "--model-name",
        "auto",
        "-v",
        "1.0",
        "--model-file",
        str(model.model_file),
        "--serialized-file",
        str(model.serialized_file),
        "--handler",
        str(model.handler),
        "--extra-files",
        str(model.assets),
    ]
    ref_out = tmp_path / "ref"
    staging = tmp_path / "staging"
    staging.mkdir()
    ref_out.mkdir()
    run_reference([*args, "--export-path", str(ref_out)], cli.cwd, staging)
    # Without the digests member, so that sizes compare like for like.
    ours = cli("create", *args, "--export-path", tmp_path / "ours", "--no-digests")
    assert ours.exit_code == 0
    ref_members, _ = read_output(ref_out / "auto.mar", "default", "auto")
    our_members, methods = read_output(tmp_path / "ours" / "auto.mar", "default", "auto")
    assert DIGESTS not in our_members
    ref_members.pop("MAR-INF/MANIFEST.json")
    our_members.pop("MAR-INF/MANIFEST.json")
    assert our_members == ref_members
    # Text members shrink and are deflated; random weights would not, and are stored.
    assert methods["vocab/words.txt"] == zipfile.ZIP_DEFLATED
    assert (tmp_path / "ours" / "auto.mar").stat().st_size <= (ref_out / "auto.mar").stat().st_size
