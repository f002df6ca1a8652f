"""Drop-in at the Python level: one script, run against torch-model-archiver 0.12's Python API and
against `mararch.compat.model_archiver` (only the import line differs), makes the same archives."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from conftest import ModelInputs, tree

REFERENCE = "model_archiver"
MARARCH = "mararch.compat.model_archiver"
OUTPUT = {"default": "m.mar", "zip-store": "m.mar", "tgz": "m.tar.gz", "no-archive": "m"}
VOLATILE = {"createdOn", "archiverVersion"}

#: The script a user or TorchServe's llm_launcher would write; {module} is the import.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    from {module} import ModelArchiver, ModelArchiverConfig
    from {module}.model_archiver_error import ModelArchiverError
    from {module}.model_packaging import generate_model_archive

    root, out, fmt = sys.argv[1:]
    config = ModelArchiverConfig(
        model_name="m",
        handler=f"{{root}}/my_handler.py",
        version="1.0",
        serialized_file=f"{{root}}/model.pt",
        model_file=f"{{root}}/model.py",
        extra_files=f"{{root}}/assets,{{root}}/index_to_name.json",
        runtime="python3",
        export_path=out,
        archive_format=fmt,
        requirements_file=f"{{root}}/requirements.txt",
        config_file=f"{{root}}/model-config.yaml",
    )
    ModelArchiver.generate_model_archive(config)
    try:
        generate_model_archive(config)  # exists, and no force
    except ModelArchiverError as exc:
        print(json.dumps({{"again": "ModelArchiverError"}}))
    config.force = True
    ModelArchiver.generate_model_archive(config)
    """
)


def run_script(module: str, model: ModelInputs, out: Path, fmt: str, tmp: Path) -> str:
    # The reference stages its inputs in $TMPDIR: give it a private one.
    env = {**os.environ, "TMPDIR": str(tmp)}
    script = SCRIPT.format(module=module)
    proc = subprocess.run(
        [sys.executable, "-c", script, str(model.root), str(out), fmt],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def members(path: Path, fmt: str) -> dict[str, bytes]:
    if fmt in ("default", "zip-store"):
        with zipfile.ZipFile(path) as zf:
            return {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    if fmt == "tgz":
        with tarfile.open(path, "r:gz") as tf:
            return {
                m.name.removeprefix("m/"): tf.extractfile(m).read()  # type: ignore[union-attr]
                for m in tf.getmembers()
                if m.isfile()
            }
    return tree(path)


def comparable(found: dict[str, bytes]) -> dict[str, object]:
    """Members with the manifest parsed (minus its timestamp and version) and mararch's one
    extra member, MAR-INF/digests.json, checked against the others and set aside."""
    found = dict(found)
    digests = found.pop("MAR-INF/digests.json", None)
    if digests is not None:
        recorded = json.loads(digests)["members"]
        assert recorded == {n: hashlib.sha256(d).hexdigest() for n, d in sorted(found.items())}
    manifest = json.loads(found.pop("MAR-INF/MANIFEST.json"))
    for key in VOLATILE:
        manifest.pop(key)
    return {**found, "MAR-INF/MANIFEST.json": manifest}


@pytest.mark.parametrize("fmt", list(OUTPUT))
def test_same_script_same_archive(fmt: str, model: ModelInputs, tmp_path: Path) -> None:
    outputs = {}
    for module in (REFERENCE, MARARCH):
        out = tmp_path / module
        out.mkdir()  # the reference needs it to exist
        said = run_script(module, model, out, fmt, tmp_path)
        assert json.loads(said) == {"again": "ModelArchiverError"}
        assert sorted(p.name for p in out.iterdir()) == [OUTPUT[fmt]]
        outputs[module] = comparable(members(out / OUTPUT[fmt], fmt))
    assert outputs[MARARCH] == outputs[REFERENCE]


def test_config_from_args_as_the_reference() -> None:
    from argparse import Namespace

    from mararch.compat.model_archiver import ModelArchiverConfig

    args = Namespace(
        model_name="m", handler="image_classifier", version="1", serialized_file=None,
        model_file=None, extra_files=None, runtime="python", export_path="/tmp/x",
        archive_format="tgz", force=True, requirements_file=None, config_file=None,
        unrelated="ignored",
    )  # fmt: skip
    config = ModelArchiverConfig.from_args(args)
    assert (config.model_name, config.archive_format, config.force) == ("m", "tgz", True)
