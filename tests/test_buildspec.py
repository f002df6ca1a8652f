"""Build specs: `mararch create` driven by mararch.toml or [tool.mararch] instead of flags."""

from __future__ import annotations

import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from helpers import Cli, ModelInputs, create_args, tree
from mms_model import KEPT, make_mms_model

EPOCH = 1_700_000_000

#: Both archives of the issue's "done when": one TorchServe, one legacy (MMS).
TWO_ARCHIVES = """\
[archive.ts]
model-name = "resnet"
version = "2.5"
handler = "my_handler.py"
serialized-file = "model.pt"
model-file = "model.py"
extra-files = ["assets", "index_to_name.json"]
runtime = "python3"
export-path = "store"
archive-format = "default"
force = true
requirements-file = "requirements.txt"
config-file = "model-config.yaml"
compression = "deflate"
level = 6

[archive.mms]
kind = "legacy"
model-name = "mms_model"
model-path = "mms"
handler = "service:handle"
runtime = "python2"
export-path = "store"
archive-format = "tgz"
exclude = ["*.bin"]
"""


def write(folder: Path, text: str, name: str = "mararch.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def create_from_spec(cli: Cli, folder: Path, text: str) -> None:
    """Writes `folder`/mararch.toml and builds it with `create --spec`, which must succeed."""
    result = cli("create", "--spec", write(folder, text))
    assert result.exit_code == 0, result.output


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def manifest_of(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(members(path)["MAR-INF/MANIFEST.json"])
    return data


@pytest.fixture
def spec_model(model: ModelInputs) -> ModelInputs:
    """The model folder with an MMS model folder beside the TorchServe inputs."""
    make_mms_model(model.root / "mms")
    return model


# -- the acceptance test ---------------------------------------------------------------


def test_two_archives_are_byte_identical_to_the_flag_builds(
    spec_model: ModelInputs, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    m = spec_model
    spec = write(m.root, TWO_ARCHIVES)
    result = cli("create", "--spec", spec, "--all")
    assert result.exit_code == 0, result.output
    assert f"wrote {m.root / 'store' / 'resnet.mar'}" in result.stderr
    assert f"wrote {m.root / 'store' / 'mms_model.tar.gz'}" in result.stderr

    flags = tmp_path / "flags"
    ts = cli(
        *create_args(
            "resnet",
            "2.5",
            m.handler,
            serialized_file=m.serialized_file,
            model_file=m.model_file,
            extra_files=f"{m.assets},{m.index}",
            runtime="python3",
            export_path=flags,
            archive_format="default",
            force=True,
            requirements_file=m.requirements_file,
            config_file=m.config_file,
            compression="deflate",
            level="6",
        ),
    )
    assert ts.exit_code == 0, ts.output
    mms = cli(
        "legacy",
        "--model-name", "mms_model", "--model-path", m.root / "mms",
        "--handler", "service:handle", "--runtime", "python2", "--export-path", flags,
        "--archive-format", "tgz", "--exclude", "*.bin",
    )  # fmt: skip
    assert mms.exit_code == 0, mms.output
    for name in ("resnet.mar", "mms_model.tar.gz"):
        assert (m.root / "store" / name).read_bytes() == (flags / name).read_bytes(), name
    assert manifest_of(flags / "resnet.mar")["runtime"] == "python3"
    with tarfile.open(flags / "mms_model.tar.gz") as tf:
        names = {n.removeprefix("mms_model/") for n in tf.getnames()}
    assert "assets/deep/nested/table.bin" not in names
    assert "assets/labels.txt" in names


def test_several_archives_need_a_name_or_all(spec_model: ModelInputs, cli: Cli) -> None:
    spec = write(spec_model.root, TWO_ARCHIVES)
    result = cli("create", "--spec", spec)
    assert result.exit_code == 2
    assert "declares 2 archives (ts, mms): say which one to build" in result.stderr
    assert "mararch create --all" in result.stderr
    assert not (spec_model.root / "store").exists()


def test_all_checks_every_archive_before_writing_any(spec_model: ModelInputs, cli: Cli) -> None:
    # The last archive's handler does not parse: the first one must not be written either.
    (spec_model.root / "mms" / "service.py").write_text("def handle(:\n")
    spec = write(spec_model.root, TWO_ARCHIVES)
    result = cli("create", "--spec", spec, "--all")
    assert result.exit_code == 1
    assert "1 error in what would be written; nothing was written" in result.stderr
    assert "mms_model.tar.gz: service.py" in result.stderr
    assert not (spec_model.root / "store").exists()


def test_name_builds_one_archive(spec_model: ModelInputs, cli: Cli) -> None:
    spec = write(spec_model.root, TWO_ARCHIVES)
    result = cli("create", "--spec", spec, "mms")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (spec_model.root / "store").iterdir()) == ["mms_model.tar.gz"]


def test_unknown_name_lists_the_archives(spec_model: ModelInputs, cli: Cli) -> None:
    spec = write(spec_model.root, TWO_ARCHIVES)
    result = cli("create", "--spec", spec, "tss")
    assert result.exit_code == 2
    assert "declares no archive named 'tss' (did you mean 'ts'?); its archives: ts, mms" in (
        result.stderr
    )


def test_name_and_all_together_are_refused(spec_model: ModelInputs, cli: Cli) -> None:
    spec = write(spec_model.root, TWO_ARCHIVES)
    result = cli("create", "--spec", spec, "ts", "--all")
    assert result.exit_code == 2
    assert "either an archive NAME or --all" in result.stderr


def test_dry_run_json_of_several_archives_is_a_list(spec_model: ModelInputs, cli: Cli) -> None:
    spec = write(spec_model.root, TWO_ARCHIVES)
    result = cli("create", "--spec", spec, "--all", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    plans = json.loads(result.stdout)
    assert [p["path"] for p in plans] == [
        str(spec_model.root / "store" / "resnet.mar"),
        str(spec_model.root / "store" / "mms_model.tar.gz"),
    ]
    assert all(p["dry_run"] for p in plans)
    assert not (spec_model.root / "store").exists()


def test_dry_run_of_several_archives_shows_each_plan(spec_model: ModelInputs, cli: Cli) -> None:
    spec = write(spec_model.root, TWO_ARCHIVES)
    result = cli("create", "--spec", spec, "--all", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("dry run: nothing was written") == 2
    assert not (spec_model.root / "store").exists()


def test_json_of_several_archives_is_a_list(spec_model: ModelInputs, cli: Cli) -> None:
    spec = write(spec_model.root, TWO_ARCHIVES)
    result = cli("create", "--spec", spec, "--all", "--json")
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)
    assert [Path(w["path"]).name for w in written] == ["resnet.mar", "mms_model.tar.gz"]
    assert all(len(w["sha256"]) == 64 for w in written)


def test_one_failing_archive_builds_nothing(spec_model: ModelInputs, cli: Cli) -> None:
    spec = write(spec_model.root, TWO_ARCHIVES.replace('model-path = "mms"', 'model-path = "x"'))
    result = cli("create", "--spec", spec, "--all")
    assert result.exit_code == 1
    assert "archive 'mms': model path" in result.stderr
    assert "does not exist" in result.stderr
    assert not (spec_model.root / "store").exists()


# -- discovery ---------------------------------------------------------------------------------

SINGLE = """\
model-name = "single"
version = "1.0"
handler = "image_classifier"
"""


def test_mararch_toml_in_the_working_folder(cli: Cli) -> None:
    write(cli.cwd, SINGLE)
    result = cli("create")
    assert result.exit_code == 0, result.output
    assert manifest_of(cli.cwd / "single.mar")["model"] == {
        "modelName": "single",
        "handler": "image_classifier",
        "modelVersion": "1.0",
    }


def test_tool_mararch_in_pyproject(cli: Cli) -> None:
    write(cli.cwd, '[project]\nname = "x"\n\n[tool.mararch]\n' + SINGLE, "pyproject.toml")
    result = cli("create")
    assert result.exit_code == 0, result.output
    assert (cli.cwd / "single.mar").is_file()


def test_tool_mararch_archive_tables_in_pyproject(cli: Cli) -> None:
    write(
        cli.cwd,
        '[tool.mararch.archive.a]\nversion = "1"\nhandler = "image_classifier"\n'
        '[tool.mararch.archive.b]\nversion = "1"\nhandlr = "image_classifier"\n',
        "pyproject.toml",
    )
    result = cli("create", "--all")
    assert result.exit_code == 2
    assert "pyproject.toml [tool.mararch.archive.b]: unknown key 'handlr'" in result.stderr


def test_mararch_toml_comes_before_pyproject(cli: Cli) -> None:
    write(cli.cwd, "[tool.mararch]\n" + SINGLE.replace("single", "other"), "pyproject.toml")
    write(cli.cwd, SINGLE)
    assert cli("create").exit_code == 0
    assert (cli.cwd / "single.mar").is_file()
    assert not (cli.cwd / "other.mar").exists()


def test_pyproject_without_tool_mararch_is_no_spec(cli: Cli) -> None:
    write(cli.cwd, '[project]\nname = "x"\n', "pyproject.toml")
    result = cli("create")
    assert result.exit_code == 2
    assert "missing option --model-name" in result.stderr


def test_spec_given_as_a_pyproject_needs_the_table(cli: Cli) -> None:
    path = write(cli.cwd, '[project]\nname = "x"\n', "pyproject.toml")
    result = cli("create", "--spec", path)
    assert result.exit_code == 2
    assert "has no [tool.mararch] table" in result.stderr


def test_model_name_flag_means_no_spec(cli: Cli) -> None:
    # A full flag invocation in a folder that has a spec is torch-model-archiver's, untouched.
    write(cli.cwd, SINGLE)
    result = cli(*create_args("flags", "1", "base_handler"))
    assert result.exit_code == 0, result.output
    assert (cli.cwd / "flags.mar").is_file()
    assert not (cli.cwd / "single.mar").exists()


def test_all_without_a_spec(cli: Cli) -> None:
    result = cli("create", "--all")
    assert result.exit_code == 2
    assert "no build spec in" in result.stderr
    assert "mararch init" in result.stderr


def test_missing_spec_file(cli: Cli) -> None:
    result = cli("create", "--spec", "nowhere.toml")
    assert result.exit_code == 2
    assert "build spec 'nowhere.toml' does not exist" in result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_spec_that_is_not_a_file(cli: Cli) -> None:
    os.mkfifo(cli.cwd / "fifo.toml")
    result = cli("create", "--spec", "fifo.toml")
    assert result.exit_code == 2
    assert "build spec 'fifo.toml' is not a regular file" in result.stderr
    (cli.cwd / "dir.toml").mkdir()
    result = cli("create", "--spec", "dir.toml")
    assert result.exit_code == 2
    assert "build spec 'dir.toml' is a folder" in result.stderr


# -- paths and overrides -----------------------------------------------------------------------


def test_relative_paths_are_relative_to_the_spec_not_the_cwd(model: ModelInputs, cli: Cli) -> None:
    create_from_spec(
        cli,
        model.root,
        'model-name = "m"\nversion = "1"\nhandler = "my_handler"\n'
        'serialized-file = "model.pt"\nextra-files = ["assets/vocab"]\n',
    )
    # The default output folder is the spec's folder too.
    out = model.root / "m.mar"
    assert sorted(members(out)) == [
        "MAR-INF/MANIFEST.json",
        "MAR-INF/digests.json",
        "model.pt",
        "my_handler.py",
        "words.txt",
    ]
    assert manifest_of(out)["model"]["handler"] == "my_handler"  # type: ignore[index]
    assert not list(cli.cwd.iterdir())


def test_flags_override_the_spec(model: ModelInputs, cli: Cli) -> None:
    write(
        model.root,
        'model-name = "m"\nversion = "1"\nhandler = "my_handler.py"\nexport-path = "out"\n'
        'config-file = "model-config.yaml"\n',
    )
    result = cli(
        "create",
        "--spec", model.root / "mararch.toml", "-v", "7.0", "--export-path", "here",
        "--archive-format", "zip-store",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = cli.cwd / "here" / "m.mar"  # the flag's path is relative to the working folder
    assert manifest_of(out)["model"]["modelVersion"] == "7.0"  # type: ignore[index]
    assert manifest_of(out)["model"]["handler"] == "my_handler.py"  # type: ignore[index]
    with zipfile.ZipFile(out) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
    assert not (model.root / "out").exists()


def test_a_flag_supplies_a_missing_required_key(cli: Cli) -> None:
    write(cli.cwd, 'model-name = "m"\nhandler = "base_handler"\n')
    assert cli("create").exit_code == 2
    result = cli("create", "-v", "3")
    assert result.exit_code == 0, result.output
    assert manifest_of(cli.cwd / "m.mar")["model"]["modelVersion"] == "3"  # type: ignore[index]


def test_config_file_flag_replaces_the_inline_config(model: ModelInputs, cli: Cli) -> None:
    write(
        cli.cwd,
        'model-name = "m"\nversion = "1"\nhandler = "base_handler"\n[config]\nminWorkers = 9\n',
    )
    result = cli("create", "-c", model.config_file)
    assert result.exit_code == 0, result.output
    assert members(cli.cwd / "m.mar")["model-config.yaml"] == model.config_file.read_bytes()


def test_model_name_flag_with_several_archives_is_refused(
    spec_model: ModelInputs, cli: Cli
) -> None:
    spec = write(spec_model.root, TWO_ARCHIVES)
    result = cli("create", "--spec", spec, "--all", "--model-name", "same")
    assert result.exit_code == 2
    assert "--model-name would give several archives the same name" in result.stderr


def test_flag_that_legacy_archives_do_not_have(spec_model: ModelInputs, cli: Cli) -> None:
    spec = write(spec_model.root, TWO_ARCHIVES)
    result = cli("create", "--spec", spec, "mms", "--serialized-file", spec_model.serialized_file)
    assert result.exit_code == 2
    assert "--serialized-file does not apply to the legacy (MMS) archive 'mms'" in result.stderr


def test_force_from_the_command_line(cli: Cli) -> None:
    write(cli.cwd, SINGLE)
    assert cli("create").exit_code == 0
    again = cli("create")
    assert again.exit_code == 1
    assert "exists" in again.stderr
    assert cli("create", "--force").exit_code == 0


# -- keys --------------------------------------------------------------------------------------


def test_array_of_archive_tables(cli: Cli) -> None:
    write(
        cli.cwd,
        '[[archive]]\nmodel-name = "a"\nversion = "1"\nhandler = "base_handler"\n'
        '[[archive]]\nmodel-name = "b"\nversion = "2"\nhandler = "base_handler"\n'
        'archive-format = "no-archive"\n',
    )
    result = cli("create", "b")
    assert result.exit_code == 0, result.output
    assert (cli.cwd / "b" / "MAR-INF" / "MANIFEST.json").is_file()
    assert cli("create", "--all", "--force").exit_code == 0
    assert (cli.cwd / "a.mar").is_file()


def test_table_name_is_the_default_model_name(cli: Cli) -> None:
    write(cli.cwd, '[archive.named]\nversion = "1"\nhandler = "base_handler"\n')
    assert cli("create").exit_code == 0
    assert manifest_of(cli.cwd / "named.mar")["model"]["modelName"] == "named"  # type: ignore[index]


def test_snake_case_keys_are_accepted(model: ModelInputs, cli: Cli) -> None:
    create_from_spec(
        cli,
        model.root,
        'model_name = "m"\nversion = "1"\nhandler = "base_handler"\n'
        'serialized_file = "model.pt"\narchive_format = "tgz"\n',
    )
    assert (model.root / "m.tar.gz").is_file()


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ('compression = "store"', {zipfile.ZIP_STORED}),
        ('compression = "deflate"\nlevel = 0', {zipfile.ZIP_DEFLATED}),
        ('archive-format = "zip-store"', {zipfile.ZIP_STORED}),
    ],
)
def test_compression_keys(keys: str, expected: set[int], model: ModelInputs, cli: Cli) -> None:
    write(cli.cwd, SINGLE + f'serialized-file = "{model.serialized_file}"\n' + keys + "\n")
    result = cli("create")
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(cli.cwd / "single.mar") as zf:
        assert {i.compress_type for i in zf.infolist()} == expected


def test_runtime_lsp_and_absolute_paths(model: ModelInputs, cli: Cli) -> None:
    write(cli.cwd, SINGLE.replace("image_classifier", "BaseHandler") + 'runtime = "LSP"\n')
    assert cli("create").exit_code == 0
    manifest = manifest_of(cli.cwd / "single.mar")
    assert manifest["runtime"] == "LSP"
    assert manifest["model"]["handler"] == "BaseHandler"  # type: ignore[index]


def test_no_digests_applies_to_spec_builds_as_to_flag_builds(model: ModelInputs, cli: Cli) -> None:
    # Without digests, MAR-INF/digests.json is a name like any other, as in a flag build.
    write(
        model.root,
        SINGLE + 'files = [{ src = "index_to_name.json", dest = "MAR-INF/digests.json" }]\n',
    )
    spec = model.root / "mararch.toml"
    refused = cli("create", "--spec", spec)
    assert refused.exit_code == 1
    assert "the generated digests" in refused.stderr
    result = cli("create", "--spec", spec, "--no-digests")
    assert result.exit_code == 0, result.output
    got = members(model.root / "single.mar")
    assert got["MAR-INF/digests.json"] == model.index.read_bytes()


def test_files_keep_their_structure(model: ModelInputs, cli: Cli) -> None:
    create_from_spec(
        cli,
        model.root,
        SINGLE + "files = [\n"
        '  { src = "assets/", dest = "tokenizer/" },\n'
        '  { src = "assets/vocab" },\n'
        '  { src = "index_to_name.json", dest = "meta/labels.json" },\n'
        '  { src = "requirements.txt", dest = "deps/" },\n'
        '  { src = "model.py", dest = "." },\n'
        "]\n",
    )
    got = members(model.root / "single.mar")
    assert sorted(got) == [
        "MAR-INF/MANIFEST.json",
        "MAR-INF/digests.json",
        "deps/requirements.txt",
        "meta/labels.json",
        "model.py",
        "tokenizer/.hidden-file",
        "tokenizer/labels.txt",
        "tokenizer/vocab/words.txt",
        "vocab/words.txt",
    ]
    assert got["meta/labels.json"] == model.index.read_bytes()


def test_exclude_applies_to_extra_files_and_files(model: ModelInputs, cli: Cli) -> None:
    create_from_spec(
        cli,
        model.root,
        SINGLE + 'extra-files = ["assets"]\nfiles = [{ src = "assets", dest = "copy" }]\n'
        'exclude = ["labels.txt", "/copy/vocab/", ".*"]\n',
    )
    assert sorted(members(model.root / "single.mar")) == [
        "MAR-INF/MANIFEST.json",
        "MAR-INF/digests.json",
        "vocab/words.txt",
    ]


def test_excluded_folders_are_not_walked(model: ModelInputs, cli: Cli) -> None:
    # A broken link below an excluded folder would fail the build if the folder were read.
    cache = model.root / "assets" / "cache"
    cache.mkdir()
    (cache / "broken").symlink_to(model.root / "gone")
    create_from_spec(
        cli,
        model.root,
        SINGLE + 'extra-files = ["assets"]\nfiles = [{ src = "assets", dest = "copy" }]\n'
        'exclude = ["cache/"]\n',
    )
    got = members(model.root / "single.mar")
    assert "copy/vocab/words.txt" in got
    assert not [n for n in got if "cache" in n]


def test_inline_config_is_written_as_yaml(cli: Cli) -> None:
    write(
        cli.cwd,
        "[archive.m]\n"
        'version = "1"\nhandler = "base_handler"\n'
        "[archive.m.config]\n"
        "minWorkers = 1\nmaxWorkers = 4\nresponseTimeout = 120\n"
        '[archive.m.config.handler]\nthreshold = 0.5\nlabels = ["cat", "dog"]\n',
    )
    result = cli("create")
    assert result.exit_code == 0, result.output
    got = members(cli.cwd / "m.mar")
    assert yaml.safe_load(got["model-config.yaml"]) == {
        "minWorkers": 1,
        "maxWorkers": 4,
        "responseTimeout": 120,
        "handler": {"threshold": 0.5, "labels": ["cat", "dog"]},
    }
    assert got["model-config.yaml"].startswith(b"minWorkers: 1\n")
    assert manifest_of(cli.cwd / "m.mar")["model"]["configFile"] == "model-config.yaml"  # type: ignore[index]


def test_inline_config_clashing_with_an_extra_file(model: ModelInputs, cli: Cli) -> None:
    write(model.root, SINGLE + 'extra-files = ["model-config.yaml"]\n[config]\nminWorkers = 1\n')
    result = cli("create", "--spec", model.root / "mararch.toml")
    assert result.exit_code == 1
    assert "would both be packaged as 'model-config.yaml'" in result.stderr
    assert "the inline model config" in result.stderr


def test_legacy_kind_with_exclude(tmp_path: Path, cli: Cli) -> None:
    make_mms_model(tmp_path / "mms")
    write(
        tmp_path,
        'kind = "legacy"\nmodel-name = "old"\nmodel-path = "mms"\nhandler = "service"\n'
        'exclude = ["assets/", "*.txt"]\narchive-format = "no-archive"\n',
    )
    result = cli("create", "--spec", tmp_path / "mararch.toml")
    assert result.exit_code == 0, result.output
    got = tree(tmp_path / "old")
    expected = {k for k in KEPT if not k.startswith("assets/") and not k.endswith(".txt")}
    assert set(got) == expected | {"MAR-INF/MANIFEST.json", "MAR-INF/digests.json"}
    assert json.loads(got["MAR-INF/MANIFEST.json"])["model"]["handler"] == "service"


# -- errors ------------------------------------------------------------------------------------


def test_every_key_type_has_a_validator() -> None:
    from typing import get_args

    from mararch.buildspec import _VALIDATORS, KEYS, KeyType

    assert set(_VALIDATORS) == set(get_args(KeyType))
    assert {key.type for key in KEYS.values()} == set(_VALIDATORS)


def test_spec_problems_are_listed_as_a_build_request_lists_them() -> None:
    from mararch.buildspec import BuildSpecError
    from mararch.errors import EXIT_USAGE, RequestError

    assert BuildSpecError("m.toml", ["m.toml (top level): x"]).message == "m.toml (top level): x"
    spec = BuildSpecError("m.toml", ["a", "b"])
    assert spec.message == "m.toml: 2 problems:\n  - a\n  - b"
    assert spec.exit_code == EXIT_USAGE
    assert RequestError(["a", "b"]).message == "2 problems:\n  - a\n  - b"


def run_spec(cli: Cli, text: str) -> tuple[int, str]:
    write(cli.cwd, text)
    result = cli("create", "--all")
    assert result.stdout == ""
    assert not any(p.name != "mararch.toml" for p in cli.cwd.iterdir())
    return result.exit_code, result.stderr


ERRORS = {
    "unknown key": (
        '[archive.a]\nversion = "1"\nhandler = "x"\nserialised-file = "m.pt"\n',
        "mararch.toml [archive.a]: unknown key 'serialised-file' (did you mean 'serialized-file'?)",
    ),
    "unknown key, no guess": (
        SINGLE + "colour = 1\n",
        "mararch.toml (top level): unknown key 'colour'\n",
    ),
    "wrong type": (
        'model-name = "m"\nversion = 1.0\nhandler = "x"\n',
        "'version' must be a string (e.g. version = \"1.0\"), not a float (1.0)",
    ),
    "wrong type bool": (SINGLE + 'force = "yes"\n', "'force' must be true or false, not a string"),
    "wrong type list": (
        SINGLE + 'extra-files = "a,b"\n',
        "'extra-files' must be an array of strings",
    ),
    "wrong type table": (SINGLE + 'config = "c.yaml"\n', "'config' must be a table"),
    "level range": (SINGLE + "level = 10\n", "invalid level 10: choose a whole number from 0 to 9"),
    "bad choice": (
        SINGLE + 'archive-format = "zip"\n',
        "invalid archive-format 'zip': choose one of 'default', 'zip-store', 'tgz', 'no-archive'",
    ),
    "empty": (SINGLE + 'model-file = ""\n', "'model-file' is empty"),
    "missing required": (
        '[archive.a]\nhandler = "x"\n',
        "mararch.toml [archive.a]: missing required key 'version' (e.g. version = \"1.0\")",
    ),
    "missing legacy required": (
        '[archive.a]\nkind = "legacy"\nhandler = "x"\n',
        "missing required key 'model-path'",
    ),
    "config and config-file": (
        SINGLE + 'config-file = "c.yaml"\n[config]\nminWorkers = 1\n',
        "'config' and 'config-file' both give the model config; keep one",
    ),
    "bad kind": (SINGLE + 'kind = "mms"\n', "invalid kind 'mms': choose 'torchserve'"),
    "kind not a string": (
        SINGLE + 'kind = ["legacy"]\n',
        "invalid kind ['legacy']: choose 'torchserve' (the default, as `mararch create`) or "
        "'legacy' (MMS, as `mararch legacy`)",
    ),
    "key of the other kind": (
        'kind = "legacy"\nmodel-name = "a"\nmodel-path = "."\nhandler = "s"\nversion = "1"\n',
        "'version' does not apply to kind = 'legacy' (only to TorchServe archives)",
    ),
    "legacy key in torchserve": (
        SINGLE + 'model-path = "."\n',
        "'model-path' does not apply to kind = 'torchserve' (only to kind = \"legacy\")",
    ),
    "legacy choice": (
        'kind = "legacy"\nmodel-name = "a"\nmodel-path = "."\nhandler = "s"\nruntime = "LSP"\n',
        "invalid runtime 'LSP': choose one of 'python', 'python2', 'python3'",
    ),
    "both spellings": (SINGLE + 'model_name = "x"\n', "'model-name' is given twice"),
    "files not a list": (SINGLE + 'files = "a"\n', "'files' must be an array of tables"),
    "files item": (
        SINGLE + 'files = [{ src = "a", dst = "b" }, "c", { dest = "x" }]\n',
        "'files' item 1: unknown key 'dst' (did you mean 'dest'?)",
    ),
    "files escaping dest": (
        SINGLE + 'files = [{ src = "a", dest = "../up" }]\n',
        "'files' item 1: destination '../up' contains '..'",
    ),
    "files absolute dest": (
        SINGLE + 'files = [{ src = "a", dest = "/abs" }]\n',
        "destination '/abs' is absolute",
    ),
    "lone archive table": (
        '[archive]\nmodel-name = "a"\n',
        "[archive]: must hold one table per archive",
    ),
    "keys beside archive tables": (
        'version = "1"\n[archive.a]\nhandler = "x"\n',
        "keys outside the archive tables ('version')",
    ),
    "duplicate names": (
        '[[archive]]\nmodel-name = "a"\nversion = "1"\nhandler = "x"\n'
        '[[archive]]\nmodel-name = "a"\nversion = "2"\nhandler = "x"\n',
        "[[archive]] #2: archive name 'a' is used twice (also in [[archive]] #1)",
    ),
    "empty spec": ("# nothing yet\n", "declares no archive"),
    "syntax error": (
        'model-name = "m"\nversion = "1\n',
        "mararch.toml: invalid TOML: ",
    ),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_spec_errors(case: str, cli: Cli) -> None:
    text, message = ERRORS[case]
    code, stderr = run_spec(cli, text)
    assert code == 2
    assert message in stderr
    if case == "syntax error":
        assert "(at line 2, column" in stderr


#: Specs that `create --spec` refuses as a whole: (spec text, exit code, every message stderr must
#: hold). Exit 2 for a spec that is wrong in itself, 1 for inputs that are missing on disk.
PROBLEMS: dict[str, tuple[str, int, list[str]]] = {
    "every problem is reported at once": (
        '[archive.a]\nhanlder = "x"\nversion = 1\n[archive.b]\nkind = "mms"\n'
        '[archive.c]\nversion = "1"\nhandler = "x"\nlevel = -1\n',
        2,
        [
            "mararch.toml: 5 problems:",
            *(
                f"  - mararch.toml {line}"
                for line in (
                    "[archive.a]: unknown key 'hanlder' (did you mean 'handler'?)",
                    "[archive.a]: 'version' must be a string",
                    "[archive.a]: missing required key 'handler'",
                    "[archive.b]: invalid kind 'mms'",
                    "[archive.c]: invalid level -1",
                )
            ),
        ],
    ),
    "two archives writing the same file": (
        '[archive.a]\nmodel-name = "m"\nversion = "1"\nhandler = "base_handler"\n'
        '[archive.b]\nmodel-name = "m"\nversion = "2"\nhandler = "base_handler"\n',
        2,
        ["archives 'a' and 'b' would both write"],
    ),
    "input problems are exit 1 and name the archive": (
        '[archive.a]\nversion = "1"\nhandler = "base_handler"\nserialized-file = "no.pt"\n'
        '[archive.b]\nversion = "1"\nhandler = "nohandler.py"\n',
        1,
        ["archive 'a': --serialized-file", "no.pt' does not exist", "archive 'b': handler file"],
    ),
    "files source missing": (
        SINGLE + 'files = [{ src = "gone/" }]\n',
        1,
        ["files item", "gone' does not exist", "relative to the spec file's folder"],
    ),
}


@pytest.mark.parametrize("case", list(PROBLEMS))
def test_spec_problems(case: str, cli: Cli) -> None:
    text, exit_code, messages = PROBLEMS[case]
    code, stderr = run_spec(cli, text)
    assert code == exit_code
    for message in messages:
        assert message in stderr


def test_usage_problems_of_several_archives_are_one_usage_error(cli: Cli) -> None:
    legacy = 'kind = "legacy"\nmodel-name = "{0}"\nmodel-path = "."\nhandler = "s"\n'
    write(cli.cwd, "[archive.a]\n" + legacy.format("a") + "[archive.b]\n" + legacy.format("b"))
    result = cli("create", "--all", "--level", "3")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: archive 'a': --level does not apply to the legacy (MMS) archive 'a'\n"
        "archive 'b': --level does not apply to the legacy (MMS) archive 'b'\n"
    )


def test_the_example_spec_matches_the_quick_start(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    example = Path(__file__).parent.parent / "examples" / "linear"
    spec = cli("create", "--spec", example / "mararch.toml", "--export-path", tmp_path / "spec")
    assert spec.exit_code == 0, spec.output
    flags = cli(
        *create_args(
            "linear",
            "1.0",
            example / "handler.py",
            model_file=example / "model.py",
            serialized_file=example / "model.pt",
            extra_files=example / "index_to_name.json",
            config_file=example / "model-config.yaml",
            export_path=tmp_path / "flags",
            force=True,
        ),
    )
    assert flags.exit_code == 0, flags.output
    assert (tmp_path / "spec" / "linear.mar").read_bytes() == (
        tmp_path / "flags" / "linear.mar"
    ).read_bytes()


def test_the_documented_example_is_valid_and_shows_every_key(tmp_path: Path) -> None:
    from mararch.buildspec import KEYS, load_spec
    from mararch.manifest import Flavour

    page = (Path(__file__).parent.parent / "docs" / "build-specs.md").read_text()
    example = page.split("```toml\n", 1)[1].split("```", 1)[0]
    spec = load_spec(write(tmp_path, example))
    assert [(a.name, a.kind) for a in spec.archives] == [
        ("bert", Flavour.TORCHSERVE),
        ("old-resnet", Flavour.MMS),
    ]
    shown = {
        line.lstrip("# ").split(" = ", 1)[0]
        for line in example.splitlines()
        if " = " in line and not line.startswith("  ")
    }
    assert set(KEYS) <= shown | {"config"}
    assert "[archive.bert.config]" in example
    assert spec.archives[0].options["config"]["handler"] == {"max_length": 128}


def test_files_exclude_and_config_through_the_api(model: ModelInputs, tmp_path: Path) -> None:
    import mararch

    path = mararch.create(
        model_name="api",
        version="1",
        handler="base_handler",
        files=[(model.assets, "tok/"), (model.index, None)],
        exclude="*.txt",
        config={"batchSize": 8},
        export_path=tmp_path,
    )
    got = members(path)
    assert sorted(got) == [
        "MAR-INF/MANIFEST.json",
        "MAR-INF/digests.json",
        "index_to_name.json",
        "model-config.yaml",
        "tok/.hidden-file",
    ]
    assert got["model-config.yaml"] == b"batchSize: 8\n"
    with pytest.raises(mararch.MararchError, match="both an inline model config and"):
        mararch.plan_create(
            model_name="api",
            version="1",
            handler="base_handler",
            config={"batchSize": 8},
            config_file=model.config_file,
            export_path=tmp_path / "other",
        )


@pytest.mark.parametrize("level", [0, 9])
def test_level_key(level: int, model: ModelInputs, cli: Cli) -> None:
    words = model.assets / "vocab" / "words.txt"
    write(
        cli.cwd, SINGLE + f'extra-files = ["{words}"]\ncompression = "deflate"\nlevel = {level}\n'
    )
    assert cli("create").exit_code == 0
    with zipfile.ZipFile(cli.cwd / "single.mar") as zf:
        info = zf.getinfo("words.txt")
    assert (info.compress_size > info.file_size) is (level == 0)


def test_force_key(cli: Cli) -> None:
    write(cli.cwd, SINGLE + "force = true\n")
    assert cli("create").exit_code == 0
    (cli.cwd / "single.mar").write_bytes(b"old")
    assert cli("create").exit_code == 0
    assert (cli.cwd / "single.mar").read_bytes() != b"old"


def test_help_shows_the_spec_options(cli: Cli) -> None:
    result = cli("create", "--help")
    assert result.exit_code == 0
    for text in ("NAME", "--spec", "--all", "mararch.toml", "[tool.mararch]"):
        assert text in result.stdout
    assert "mararch.toml" in cli("init", "--help").stdout


def test_a_file_below_an_excluded_folder_stays_excluded() -> None:
    from mararch.ignore import rules_from_excludes

    rules = rules_from_excludes(["cache/", "!cache/keep.txt", "*.log", "!debug.log"])
    assert rules.excludes("cache/keep.txt")
    assert rules.excludes("a/cache/deep/x.bin")
    assert rules.excludes("logs/run.log")
    assert not rules.excludes("debug.log")
    assert not rules.excludes("cached/x.txt")
