"""Several archives at once (`create --all`, `mararch.build_all`): every archive is checked before
the first is written; then each is written, a failure stopping none of the others; each one is
reported (written / refused / skipped / failed) in --json, and the exit code is 1 if any was not
written. A single build refused by its checks prints the same JSON object."""

from __future__ import annotations

import json
from pathlib import Path

import mararch
from conftest import Cli, ModelInputs

BROKEN_HANDLER = "def handle(:\n"
GOOD_HANDLER = "def handle(data, context):\n    return data\n"

#: Two archives: `a` (a built-in handler) and `b` (a handler file of its own).
TWO = """\
[archive.a]
model-name = "a"
version = "1"
handler = "image_classifier"
export-path = "{a_export}"

[archive.b]
model-name = "b"
version = "1"
handler = "handler_b.py"
export-path = "store"
"""


def spec(root: Path, handler_b: str = GOOD_HANDLER, a_export: str = "store") -> Path:
    (root / "handler_b.py").write_text(handler_b)
    path = root / "mararch.toml"
    path.write_text(TWO.format(a_export=a_export))
    return path


def test_a_failed_write_stops_none_of_the_others(model: ModelInputs, cli: Cli) -> None:
    root = model.root
    (root / "blocker").write_text("a file where a folder is needed")
    result = cli("create", "--spec", spec(root, a_export="blocker/x"), "--all", "--json")
    assert result.exit_code == 1, result.output
    first, second = json.loads(result.stdout)
    assert first["status"] == "failed"
    assert first["path"] == str(root / "blocker" / "x" / "a.mar")
    assert "cannot create export folder" in first["error"]
    assert second["status"] == "written"
    assert len(second["sha256"]) == 64
    assert (root / "store" / "b.mar").is_file()
    assert "cannot create export folder" in result.stderr


def test_refused_archives_are_reported_and_nothing_is_written(model: ModelInputs, cli: Cli) -> None:
    root = model.root
    result = cli("create", "--spec", spec(root, BROKEN_HANDLER), "--all", "--json")
    assert result.exit_code == 1, result.output
    ts, mms = json.loads(result.stdout)
    assert (ts["status"], ts["error"]) == (
        "skipped",
        "not written: another archive of the build was refused (nothing is written then)",
    )
    assert mms["status"] == "refused"
    assert [f["member"] for f in mms["findings"] if f["severity"] == "error"] == ["handler_b.py"]
    assert "1 error in what would be written; nothing was written" in mms["error"]
    assert "b.mar: handler_b.py" in result.stderr
    assert not (root / "store").exists()


def test_a_refused_single_build_prints_its_json(model: ModelInputs, cli: Cli) -> None:
    model.handler.write_text(BROKEN_HANDLER)
    out = model.root / "out"
    result = cli(
        "create", "--model-name", "m", "-v", "1", "--handler", model.handler,
        "--export-path", out, "--json",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "refused"
    assert report["path"] == str(out / "m.mar")
    assert [f["code"] for f in report["findings"] if f["severity"] == "error"] == ["handler-syntax"]
    assert "nothing was written" in result.stderr
    assert not out.exists()


def test_a_written_build_says_so_in_its_json(model: ModelInputs, cli: Cli) -> None:
    result = cli(
        "create", "--model-name", "m", "-v", "1", "--handler", "image_classifier",
        "--export-path", model.root / "out", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["status"], report["error"]) == ("written", None)


def test_the_python_api_builds_what_it_can(model: ModelInputs, tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    plans = [
        mararch.plan_create(
            model_name=name, version="1", handler="image_classifier", export_path=export
        )
        for name, export in (("a", tmp_path / "blocker" / "x"), ("b", tmp_path / "ok"))
    ]
    outcomes = mararch.build_all(plans)
    assert [o.status.value for o in outcomes] == ["failed", "written"]
    assert outcomes[1].result is not None
    assert outcomes[1].result.path == tmp_path / "ok" / "b.mar"
    assert outcomes[0].error is not None
    assert (tmp_path / "ok" / "b.mar").is_file()
