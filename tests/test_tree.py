"""`verify ROOT` and `inspect ROOT` on deployment trees: TorchServe's start-up rules and KServe's
expectations, each tripped by one edit of a tree `deploy` wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers_deploy import codes, edit_config, make_archive, run
from mararch import properties


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    mar = make_archive(tmp_path, "sums")
    folder = make_archive(tmp_path, "labels", archive_format="no-archive")
    root = tmp_path / "tree"
    assert run("deploy", root, mar, folder, "--kserve").exit_code == 0
    return root


def test_tree_written_by_deploy_passes(tree: Path) -> None:
    result = run("verify", tree)

    assert result.exit_code == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "PASSED: 0 error(s), 0 warning(s)"


@pytest.mark.parametrize(
    ("pattern", "replacement", "code", "message"),
    [
        (
            "service_envelope=kserve",
            "service_envelope=kfserving",
            "envelope-retired",
            "service_envelope=kfserving: TorchServe 0.12 has no such envelope",
        ),
        (
            "service_envelope=kserve",
            "service_envelope=kserve3",
            "envelope-unknown",
            "service_envelope='kserve3': not an envelope TorchServe 0.12 knows",
        ),
        (
            '"modelCount":2',
            '"modelCount":0',
            "snapshot-count",
            "model_snapshot.modelCount is 0: TorchServe loads no model at all; write 2",
        ),
        (
            '"modelCount":2',
            '"modelCount":"two"',
            "snapshot-int",
            'model_snapshot.modelCount is "two", not an integer',
        ),
        (
            '"minWorkers":1',
            '"minWorkers":"one"',
            "snapshot-int",
            'model_snapshot.models.labels.1.0.minWorkers is "one", not an integer',
        ),
        (
            ',"batchSize":1',
            "",
            "snapshot-int",
            "model_snapshot.models.labels.1.0.batchSize is missing",
        ),
        (
            '"marName":"sums.mar"',
            '"marName":"gone.mar"',
            "snapshot-mar-missing",
            "model_snapshot.models.sums.1.0.marName='gone.mar' is not in model-store/",
        ),
        (
            '"models":{"labels":',
            '"models":{"lbl":',
            "snapshot-model-name",
            "the archive is model 'labels'; TorchServe serves it as 'lbl'",
        ),
        (
            '"sums":{"1.0":',
            '"sums":{"2.0":',
            "snapshot-version",
            "the archive is version '1.0'; TorchServe registers the archive's version",
        ),
        (
            "disable_token_authorization=true",
            "disable_token_authorization=false",
            "kserve-setting",
            "disable_token_authorization=false; KServe needs disable_token_authorization=true",
        ),
        (
            "inference_address=http://0.0.0.0:8085",
            "inference_address=http://0.0.0.0:8080",
            "kserve-port",
            "inference_address on port 8080: KServe's wrapper listens on 8080 and 8081",
        ),
        (
            "metrics_address=http://0.0.0.0:8082",
            "metrics_address=http://0.0.0.0:8085",
            "port-conflict",
            "metrics_address uses port 8085, as inference_address does",
        ),
        (
            "metrics_address=http://0.0.0.0:8082",
            "metrics_address=http://0.0.0.0:99999",
            "property-address",
            "port 99999 is out of range",
        ),
        (
            "grpc_inference_port=7070",
            "grpc_inference_port=7070x",
            "property-int",
            "grpc_inference_port='7070x' is not an integer: TorchServe fails to start",
        ),
        (
            "model_snapshot=",
            "model_snapshot: ",
            "kserve-wrapper-parse",
            "KServe's wrapper splits each line on its first '='",
        ),
        (
            "model_snapshot=(.*)}}}}",
            r"model_snapshot=\1}}}",
            "snapshot-json",
            "model_snapshot is not valid JSON",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and "-" in v and " " not in v else None,
)
def test_broken_tree_is_refused_naming_file_and_key(
    tree: Path, pattern: str, replacement: str, code: str, message: str
) -> None:
    edit_config(tree, pattern, replacement)

    result = run("verify", tree, "--json")

    assert result.exit_code == 1, result.stdout
    findings = [f for f in json.loads(result.stdout)["findings"] if f["code"] == code]
    assert findings, codes(result)
    assert any(message in f["message"] for f in findings), findings
    assert all(
        f["member"].startswith(("config/config.properties", "model-store/")) for f in findings
    )


def test_plain_torchserve_tree_is_not_held_to_kserve_settings(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    assert run("deploy", root, make_archive(tmp_path, "m")).exit_code == 0

    result = run("verify", root, "--json")

    assert result.exit_code == 0
    assert codes(result) == []


def test_quoted_integers_are_warnings_torchserve_reads_them(tree: Path) -> None:
    edit_config(tree, '"modelCount":2', '"modelCount":"2"')

    result = run("verify", tree, "--json")

    assert result.exit_code == 0
    assert codes(result) == ["snapshot-int"]
    assert run("verify", tree, "--strict").exit_code == 1


def test_finding_names_the_line(tree: Path) -> None:
    edit_config(tree, "service_envelope=kserve", "service_envelope=kfserving")

    result = run("verify", tree)

    line = next(
        n
        for n, text in enumerate(
            (tree / "config" / "config.properties").read_text().splitlines(), 1
        )
        if text.startswith("service_envelope=")
    )
    assert f"[envelope-retired] config/config.properties:{line}: service_envelope=kfserving" in (
        result.stdout
    )


def test_archive_findings_are_named_from_the_root(tree: Path) -> None:
    (tree / "model-store" / "labels" / "handler.py").unlink()

    result = run("verify", tree, "--json")

    assert result.exit_code == 1
    members = [
        f["member"] for f in json.loads(result.stdout)["findings"] if f["severity"] == "error"
    ]
    assert any(m.startswith("model-store/labels") for m in members), members


def test_bare_config_and_model_store_folder_are_trees(tree: Path) -> None:
    assert run("verify", tree / "config" / "config.properties").exit_code == 0
    store = run("verify", tree / "model-store")
    assert store.exit_code == 0
    assert store.stdout.startswith(f"verify {tree / 'model-store'}")


def test_snapshot_missing_is_a_warning(tree: Path) -> None:
    edit_config(tree, "model_snapshot=.*\n", "")

    result = run("verify", tree, "--json")

    assert "snapshot-missing" in codes(result)
    assert "store-unlisted" not in codes(result)


def test_single_archive_is_not_mistaken_for_a_tree(tree: Path) -> None:
    result = run("verify", tree / "model-store" / "labels")

    assert result.exit_code == 0
    assert "(folder, torchserve)" in result.stdout.splitlines()[0]


def test_model_folder_holding_a_config_properties_is_still_a_model(tmp_path: Path) -> None:
    folder = make_archive(
        tmp_path, "m", archive_format="no-archive", extra={"config.properties": b"a=1\n"}
    )

    result = run("verify", folder)

    assert result.exit_code == 0
    assert "(folder, torchserve)" in result.stdout.splitlines()[0]


def test_inspect_lists_every_model(tree: Path) -> None:
    result = run("inspect", tree, "--json")

    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    rows = {
        (r["name"], r["version"], r["marName"], r["container"], r["status"])
        for r in facts["models"]
    }
    assert rows == {
        ("labels", "1.0", "labels", "folder", "passed"),
        ("sums", "1.0", "sums.mar", "zip", "passed"),
    }
    assert facts["models"][0]["settings"]["maxBatchDelay"] == 100
    assert facts["envelope"] == "kserve"


def test_inspect_table_and_failure(tree: Path) -> None:
    (tree / "model-store" / "sums.mar").unlink()

    result = run("inspect", tree)

    assert result.exit_code == 1
    assert "missing" in result.stdout
    assert "1 model of" in result.stderr and "would not load: sums.mar" in result.stderr


def test_properties_read_as_java_reads_them() -> None:
    data = b"# c\n! c\na = 1\nb:2\nc 3\nlong=x\\\n    y\nesc=\\u0041\\t\\=\nempty\n"

    props = properties.to_dict(properties.parse(data))

    assert {k: p.value for k, p in props.items()} == {
        "a": "1",
        "b": "2",
        "c": "3",
        "long": "xy",
        "esc": "A\t=",
        "empty": "",
    }
    assert props["long"].line == 6
    assert properties.wrapper_value(props["a"]) == "1"
    assert properties.wrapper_value(props["b"]) is None


def test_properties_dumps_refuses_what_readers_disagree_on() -> None:
    assert properties.dumps([("k", "v:1")]) == b"k=v:1\n"
    with pytest.raises(ValueError, match="plain property line"):
        properties.dumps([("k", "a b")])
