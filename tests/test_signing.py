"""OpenSSF model signing: `mararch sign`, `create --sign-key`, `verify --public-key` and
`inspect`, checked against the real `model_signing` CLI (model-signing 1.1.1) both ways."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from helpers import ModelInputs, tree
from helpers_signing import (
    KeyPair,
    make_key,
    make_pki,
    make_rsa_key,
    model_signing,
)
from mararch.cli import app


def mararch(*args: str | Path) -> Result:
    """`mararch ARGS` in-process; an exception escaping the CLI fails the test (no traceback
    can reach a user unnoticed)."""
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def build(
    model: ModelInputs, out: Path, fmt: str = "default", *extra: str | Path, name: str = "m"
) -> Path:
    result = mararch(
        "create",
        "--model-name",
        name,
        "-v",
        "1.0",
        "--handler",
        model.handler,
        "--serialized-file",
        model.serialized_file,
        "--extra-files",
        f"{model.index},{model.assets}",
        "--export-path",
        out,
        "--archive-format",
        fmt,
        *extra,
    )
    assert result.exit_code == 0, result.output
    suffix = {"default": ".mar", "zip-store": ".mar", "tgz": ".tar.gz", "no-archive": ""}[fmt]
    return out / f"{name}{suffix}"


def extract(archive: Path, dest: Path) -> Path:
    result = mararch("extract", archive, "-o", dest)
    assert result.exit_code == 0, result.output
    return dest


def verify_json(archive: Path, *args: str | Path) -> tuple[int, dict[str, object]]:
    result = mararch("verify", archive, "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def codes(
    report: dict[str, object], severity: str = "error", about: str = ""
) -> list[tuple[str, str | None]]:
    """(code, member) of the findings of one severity, those whose message names `about`."""
    findings = report["findings"]
    assert isinstance(findings, list)
    return [
        (f["code"], f["member"])
        for f in findings
        if f["severity"] == severity and about in f["message"]
    ]


def ms_verify(folder: Path, sig: Path, key: KeyPair) -> tuple[bool, str]:
    proc = model_signing("verify", "key", folder, "--signature", sig, "--public_key", key.public)
    return proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def key(tmp_path: Path) -> KeyPair:
    return make_key(tmp_path / "keys")


@pytest.fixture
def signed_mar(model: ModelInputs, tmp_path: Path, key: KeyPair) -> Path:
    mar = build(model, tmp_path / "out")
    result = mararch("sign", mar, "--private-key", key.private)
    assert result.exit_code == 0, result.output
    assert f"signed 7 files of m (key mode): {mar}.sig" in result.stderr
    return mar


# -- interoperability with model_signing ---------------------------------------------------------


@pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521"])
def test_model_signing_verifies_mararchs_signature_on_the_extracted_archive(
    model: ModelInputs, tmp_path: Path, curve: str
) -> None:
    key = make_key(tmp_path / "keys", curve=curve)
    mar = build(model, tmp_path / "out")
    assert mararch("sign", mar, "--private-key", key.private).exit_code == 0
    folder = extract(mar, tmp_path / "d")
    ok, output = ms_verify(folder, Path(f"{mar}.sig"), key)
    assert ok, output
    assert "Verification succeeded" in output


def test_mararch_verifies_model_signings_signature_in_every_container(
    model: ModelInputs, tmp_path: Path, key: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same members (SOURCE_DATE_EPOCH fixes createdOn) in four containers: one signature.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    archives = [build(model, tmp_path / fmt, fmt) for fmt in ("default", "zip-store", "tgz")]
    archives.append(build(model, tmp_path / "folder", "no-archive"))
    folder = extract(archives[0], tmp_path / "d")
    sig = tmp_path / "d.sig"
    proc = model_signing("sign", "key", folder, "--private_key", key.private, "--signature", sig)
    assert proc.returncode == 0, proc.stderr
    for archive in archives:
        code, report = verify_json(archive, "--signature", sig, "--public-key", key.public)
        assert code == 0, report
        assert report["passed"] is True
        assert ("signature-checked", None) in codes(report, "info")


def test_a_signature_is_the_models_not_the_containers(
    signed_mar: Path, tmp_path: Path, key: KeyPair
) -> None:
    # mararch's own signature, made on the .mar, verifies on the extracted folder too.
    folder = extract(signed_mar, tmp_path / "d")
    code, report = verify_json(
        folder, "--signature", f"{signed_mar}.sig", "--public-key", key.public
    )
    assert code == 0, report


def tampered_copies(folder: Path, tmp_path: Path) -> dict[str, Path]:
    """Copies of an extracted model: one member changed, one removed, one added."""
    out = {}
    for case in ("changed", "missing", "extra"):
        copy = tmp_path / case
        shutil.copytree(folder, copy)
        out[case] = copy
    weights = out["changed"] / "model.pt"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    (out["missing"] / "index_to_name.json").unlink()
    (out["extra"] / "backdoor.py").write_text("import os\n")
    return out


EXPECTED = {
    "changed": ("digest-mismatch", "model.pt"),
    "missing": ("signed-member-missing", "index_to_name.json"),
    "extra": ("member-not-signed", "backdoor.py"),
}


@pytest.mark.parametrize("signer", ["mararch", "model_signing"])
def test_both_tools_refuse_tampering_and_the_wrong_key(
    model: ModelInputs, tmp_path: Path, key: KeyPair, signer: str
) -> None:
    mar = build(model, tmp_path / "out")
    folder = extract(mar, tmp_path / "d")
    sig = tmp_path / "model.sig"
    if signer == "mararch":
        result = mararch("sign", mar, "--private-key", key.private, "--signature", sig)
        assert result.exit_code == 0, result.output
    else:
        proc = model_signing(
            "sign", "key", folder, "--private_key", key.private, "--signature", sig
        )
        assert proc.returncode == 0, proc.stderr
    for case, copy in tampered_copies(folder, tmp_path).items():
        ok, output = ms_verify(copy, sig, key)
        assert not ok, (case, output)
        code, report = verify_json(copy, "--signature", sig, "--public-key", key.public)
        assert code == 1
        # (MAR-INF/digests.json, checked too, reports the same member in its own words.)
        assert codes(report, about="model.sig") == [EXPECTED[case]], (case, report)
    other = make_key(tmp_path / "other")
    ok, output = ms_verify(folder, sig, other)
    assert not ok
    assert "Key mismatch" in output
    code, report = verify_json(mar, "--signature", sig, "--public-key", other.public)
    assert code == 1
    assert codes(report) == [("signature-invalid", None)]
    assert "made by another key" in str(report["findings"])


def test_a_tampered_archive_fails_and_the_human_report_names_the_member(
    model: ModelInputs, signed_mar: Path, tmp_path: Path, key: KeyPair
) -> None:
    # Rebuild the archive with other weights under the same name, keeping the old signature.
    sig = Path(f"{signed_mar}.sig")
    kept = sig.read_bytes()
    model.serialized_file.write_bytes(b"other weights")
    build(model, tmp_path / "out", "default", "--force")
    sig.write_bytes(kept)
    result = mararch("verify", signed_mar, "--public-key", key.public)
    assert result.exit_code == 1
    assert "[digest-mismatch] model.pt: SHA-256 differs from the one signed in m.mar.sig" in (
        result.stdout
    )
    assert "FAILED" in result.stdout


def test_certificate_mode_interoperates(model: ModelInputs, tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    mar = build(model, tmp_path / "out")
    result = mararch(
        "sign",
        mar,
        "--private-key",
        pki.leaf_key,
        "--certificate",
        pki.leaf,
        "--certificate-chain",
        pki.intermediate,
    )
    assert result.exit_code == 0, result.output
    assert "(certificate mode)" in result.stderr
    sig = Path(f"{mar}.sig")
    folder = extract(mar, tmp_path / "d")
    proc = model_signing(
        "verify", "certificate", folder, "--signature", sig, "--certificate_chain", pki.root
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    code, report = verify_json(mar, "--certificate-chain", pki.root)
    assert code == 0, report
    # Signed by model_signing, checked by mararch.
    sig2 = tmp_path / "ms.sig"
    proc = model_signing(
        "sign",
        "certificate",
        folder,
        "--private_key",
        pki.leaf_key,
        "--signing_certificate",
        pki.leaf,
        "--certificate_chain",
        pki.intermediate,
        "--signature",
        sig2,
    )
    assert proc.returncode == 0, proc.stderr
    code, report = verify_json(mar, "--signature", sig2, "--certificate-chain", pki.root)
    assert code == 0, report
    # Another CA is not trusted.
    stranger = make_pki(tmp_path / "other", "other")
    code, report = verify_json(mar, "--certificate-chain", stranger.root)
    assert code == 1
    assert codes(report) == [("signature-invalid", None)]
    assert "does not lead to one given with --certificate-chain" in str(report["findings"])


# -- signing at build time -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["default", "tgz", "no-archive"])
def test_create_sign_key_signs_while_writing(
    model: ModelInputs, tmp_path: Path, key: KeyPair, fmt: str
) -> None:
    archive = build(model, tmp_path / "out", fmt, "--sign-key", key.private)
    sig = archive.with_name(archive.name + ".sig")
    assert sig.is_file()
    code, report = verify_json(archive, "--public-key", key.public)
    assert code == 0, report
    folder = archive if fmt == "no-archive" else extract(archive, tmp_path / "d")
    ok, output = ms_verify(folder, sig, key)
    assert ok, output


def test_signing_at_build_equals_signing_afterwards(
    model: ModelInputs, tmp_path: Path, key: KeyPair
) -> None:
    # The digests taken while writing are the members' digests: the same statement is signed.
    mar = build(model, tmp_path / "out", "default", "--sign-key", key.private)
    at_build = payload(Path(f"{mar}.sig"))
    assert mararch("sign", mar, "--private-key", key.private).exit_code == 0
    assert payload(Path(f"{mar}.sig")) == at_build
    # Without recorded digests the archive is read back instead.
    build(model, tmp_path / "out", "default", "--sign-key", key.private, "--no-digests", "-f")
    code, report = verify_json(mar, "--public-key", key.public)
    assert code == 0, report


def payload(sig: Path) -> dict[str, object]:
    bundle = json.loads(sig.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert isinstance(statement, dict)
    return statement


def test_the_statement_is_model_signings_format(signed_mar: Path) -> None:
    statement = payload(Path(f"{signed_mar}.sig"))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://model_signing/signature/v1.0"
    predicate = statement["predicate"]
    assert isinstance(predicate, dict)
    names = [r["name"] for r in predicate["resources"]]
    # Sorted as paths, component by component (as model_signing does), not as strings.
    assert names == [
        ".hidden-file",
        "MAR-INF/MANIFEST.json",
        "index_to_name.json",
        "labels.txt",
        "model.pt",
        "my_handler.py",
        "vocab/words.txt",
    ]
    assert "MAR-INF/digests.json" not in names
    assert predicate["serialization"] == {
        "method": "files",
        "hash_type": "sha256",
        "allow_symlinks": False,
        "ignore_paths": [".git", ".gitattributes", ".github", ".gitignore", "MAR-INF/digests.json"],
    }


def test_a_build_spec_can_sign(model: ModelInputs, tmp_path: Path, key: KeyPair) -> None:
    spec = model.root / "mararch.toml"
    spec.write_text(
        "[archive.m]\n"
        'version = "1.0"\n'
        'handler = "my_handler.py"\n'
        'serialized-file = "model.pt"\n'
        f'export-path = "{tmp_path / "store"}"\n'
        f'sign-key = "{key.private}"\n'
    )
    result = mararch("create", "--spec", spec)
    assert result.exit_code == 0, result.output
    code, report = verify_json(tmp_path / "store" / "m.mar", "--public-key", key.public)
    assert code == 0, report


# -- bad input: one message, exit 1, nothing written ---------------------------------------------


def test_an_encrypted_key_needs_its_password(model: ModelInputs, tmp_path: Path) -> None:
    key = make_key(tmp_path / "keys", password=b"s3cret")
    mar = build(model, tmp_path / "out")
    sig = Path(f"{mar}.sig")
    result = mararch("sign", mar, "--private-key", key.private)
    assert result.exit_code == 1
    assert f"error: private key {str(key.private)!r} is encrypted" in result.stderr
    assert "--password-file" in result.stderr
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("nope\n")
    result = mararch("sign", mar, "--private-key", key.private, "--password-file", wrong)
    assert result.exit_code == 1
    assert f"error: wrong password for private key {str(key.private)!r}" in result.stderr
    assert not sig.exists()
    good = tmp_path / "good.txt"
    good.write_text("s3cret\n")
    result = mararch("sign", mar, "--private-key", key.private, "--password-file", good)
    assert result.exit_code == 0, result.output
    assert verify_json(mar, "--public-key", key.public)[0] == 0


def test_an_unsupported_key_is_refused_before_anything_is_written(
    model: ModelInputs, tmp_path: Path
) -> None:
    rsa = make_rsa_key(tmp_path / "rsa.pem")
    mar = build(model, tmp_path / "out")
    result = mararch("sign", mar, "--private-key", rsa)
    assert result.exit_code == 1
    assert "is a RSA key of 2048 bits: model signing uses EC keys on P-256, P-384, P-521" in (
        result.stderr
    )
    assert "Traceback" not in result.output
    assert not Path(f"{mar}.sig").exists()
    # create with such a key writes no archive at all.
    out = tmp_path / "other"
    result = mararch(
        "create",
        "--model-name",
        "x",
        "-v",
        "1",
        "--handler",
        model.handler,
        "--export-path",
        out,
        "--sign-key",
        rsa,
    )
    assert result.exit_code == 1
    assert not out.exists() or list(out.iterdir()) == []


def test_not_a_key(model: ModelInputs, tmp_path: Path) -> None:
    mar = build(model, tmp_path / "out")
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    result = mararch("sign", mar, "--private-key", junk)
    assert result.exit_code == 1
    assert f"error: {str(junk)!r} is not a PEM private key" in result.stderr
    result = mararch("sign", mar, "--private-key", tmp_path / "absent.pem")
    assert result.exit_code == 1
    assert "does not exist" in result.stderr
    result = mararch("verify", mar, "--public-key", junk)
    assert result.exit_code == 1
    assert f"error: {str(junk)!r} is not a PEM public key" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "not a JSON document"),
        (b'{"mediaType": "x"}', "mediaType is 'x'"),
        (None, "the signature does not match"),
    ],
)
def test_a_malformed_or_altered_bundle_is_one_finding(
    signed_mar: Path, key: KeyPair, content: bytes | None, message: str
) -> None:
    sig = Path(f"{signed_mar}.sig")
    if content is None:  # the payload swapped for another statement, the signature kept
        bundle = json.loads(sig.read_text())
        statement = payload(sig)
        statement["subject"][0]["name"] = "evil"  # type: ignore[index]
        bundle["dsseEnvelope"]["payload"] = base64.b64encode(
            json.dumps(statement).encode()
        ).decode()
        content = json.dumps(bundle).encode()
    sig.write_bytes(content)
    code, report = verify_json(signed_mar, "--public-key", key.public)
    assert code == 1
    assert codes(report) == [("signature-invalid", None)]
    assert message in str(report["findings"])


def test_a_signature_for_another_model_fails(
    model: ModelInputs, signed_mar: Path, tmp_path: Path, key: KeyPair
) -> None:
    (model.root / "other.py").write_text("x = 1\n")
    other = build(model, tmp_path / "elsewhere", "default", name="other")
    code, report = verify_json(
        other, "--signature", f"{signed_mar}.sig", "--public-key", key.public
    )
    assert code == 1
    assert ("digest-mismatch", "MAR-INF/MANIFEST.json") in codes(report)


def test_verify_usage_errors(signed_mar: Path, key: KeyPair) -> None:
    result = mararch("verify", signed_mar, "--signature", f"{signed_mar}.sig")
    assert result.exit_code == 2
    assert "--signature needs --public-key or --certificate-chain" in result.stderr
    result = mararch(
        "verify", signed_mar, "--public-key", key.public, "--certificate-chain", key.public
    )
    assert result.exit_code == 2


def test_verify_notes_a_signature_it_was_not_asked_to_check(signed_mar: Path) -> None:
    code, report = verify_json(signed_mar)
    assert code == 0
    assert ("signature-unchecked", None) in codes(report, "info")
    result = mararch("verify", signed_mar)
    assert "m.mar.sig sits beside the archive; pass --public-key" in result.stdout


def test_verify_without_the_signature_file(
    model: ModelInputs, tmp_path: Path, key: KeyPair
) -> None:
    mar = build(model, tmp_path / "out")
    result = mararch("verify", mar, "--public-key", key.public)
    assert result.exit_code == 1
    assert f"error: signature '{mar}.sig' does not exist" in result.stderr


# -- inspect -------------------------------------------------------------------------------------


def test_inspect_shows_the_signature_beside_the_archive(signed_mar: Path, tmp_path: Path) -> None:
    result = mararch("inspect", signed_mar)
    assert result.exit_code == 0
    assert f"{signed_mar}.sig (key mode)" in result.stdout
    assert "all 7 files, by name" in result.stdout
    data = json.loads(mararch("inspect", signed_mar, "--json").stdout)
    sig = data["signature"]
    assert sig["mode"] == "key"
    assert sig["files"] == 7
    assert sig["model_name"] == "m"
    assert sig["unlisted"] == [] and sig["missing"] == []
    assert sig["verified"] is False
    unsigned = tmp_path / "plain"
    unsigned.mkdir()
    shutil.copy(signed_mar, unsigned / "m.mar")
    assert json.loads(mararch("inspect", unsigned / "m.mar", "--json").stdout)["signature"] is None


def test_signing_never_rewrites_the_archive(signed_mar: Path, key: KeyPair) -> None:
    before = signed_mar.read_bytes()
    assert mararch("sign", signed_mar, "--private-key", key.private).exit_code == 0
    assert signed_mar.read_bytes() == before
    assert sorted(p.name for p in signed_mar.parent.iterdir()) == ["m.mar", "m.mar.sig"]


def test_a_signature_inside_a_folder_model_is_not_a_member(
    model: ModelInputs, tmp_path: Path, key: KeyPair
) -> None:
    folder = build(model, tmp_path / "out", "no-archive")
    sig = folder / "model.sig"
    before = tree(folder)
    result = mararch("sign", folder, "--private-key", key.private, "--signature", sig)
    assert result.exit_code == 0, result.output
    ok, output = ms_verify(folder, sig, key)
    assert ok, output
    code, report = verify_json(folder, "--signature", sig, "--public-key", key.public)
    assert code == 0, report
    # Nothing of the model changed; the signature lists every file but itself.
    assert tree(folder).keys() - {"model.sig"} == before.keys()
    listed = {r["name"] for r in payload(sig)["predicate"]["resources"]}  # type: ignore[index]
    assert listed == before.keys() - {"MAR-INF/digests.json"}


def test_convert_keeps_every_member_but_the_manifest_signed(
    signed_mar: Path, tmp_path: Path, key: KeyPair
) -> None:
    # convert copies members still compressed: only the rewritten manifest differs.
    converted = tmp_path / "mms.mar"
    result = mararch("convert", signed_mar, "--to", "mms", "-o", converted)
    assert result.exit_code == 0, result.output
    code, report = verify_json(
        converted, "--signature", f"{signed_mar}.sig", "--public-key", key.public
    )
    assert code == 1
    assert codes(report, about="m.mar.sig") == [("digest-mismatch", "MAR-INF/MANIFEST.json")]


@pytest.mark.parametrize("to", ["store", "deflate", "auto"])
def test_recompression_keeps_the_signature_valid(
    model: ModelInputs, tmp_path: Path, key: KeyPair, to: str
) -> None:
    # convert --compression changes how members are held, never their bytes.
    mar = build(model, tmp_path / "out", "default", "--compression", "deflate")
    assert mararch("sign", mar, "--private-key", key.private).exit_code == 0
    repacked = tmp_path / "repacked.mar"
    result = mararch("convert", mar, "--compression", to, "-o", repacked)
    assert result.exit_code == 0, result.output
    code, report = verify_json(repacked, "--signature", f"{mar}.sig", "--public-key", key.public)
    assert code == 0, report
    assert any(c == "signature-checked" for c, _ in codes(report, "info"))


def test_signing_refuses_to_overwrite_the_archive(signed_mar: Path, key: KeyPair) -> None:
    before = signed_mar.read_bytes()
    result = mararch("sign", signed_mar, "--private-key", key.private, "--signature", signed_mar)
    assert result.exit_code == 1
    assert "signing never rewrites the archive" in result.stderr
    assert signed_mar.read_bytes() == before


def test_verify_without_a_key_loads_no_cryptography(signed_mar: Path) -> None:
    # Checking an archive that has a signature beside it must not pay for the signing stack.
    code = (
        "import sys; from mararch.cli import run\n"
        f"sys.argv = ['mararch', 'verify', {str(signed_mar)!r}]\n"
        "try:\n    run()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(sorted(m for m in sys.modules if m.startswith(('cryptography', 'model_signing'))))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("fmt", ["tgz", "no-archive"])
def test_mararch_sign_reads_any_container(
    model: ModelInputs, tmp_path: Path, key: KeyPair, fmt: str
) -> None:
    archive = build(model, tmp_path / "out", fmt)
    result = mararch("sign", archive, "--private-key", key.private)
    assert result.exit_code == 0, result.output
    sig = archive.with_name(archive.name + ".sig")
    folder = archive if fmt == "no-archive" else extract(archive, tmp_path / "d")
    ok, output = ms_verify(folder, sig, key)
    assert ok, output


def test_a_symlink_cannot_be_signed(model: ModelInputs, tmp_path: Path, key: KeyPair) -> None:
    folder = build(model, tmp_path / "out", "no-archive")
    (folder / "link.pt").symlink_to(folder / "model.pt")
    result = mararch("sign", folder, "--private-key", key.private)
    assert result.exit_code == 1
    assert f"error: cannot sign {str(folder)!r}: member 'link.pt': symlink" in result.stderr
    assert "links are not extracted" in result.stderr
    assert not folder.with_name("m.sig").exists()


def test_a_certificate_for_another_key_is_refused(
    model: ModelInputs, tmp_path: Path, key: KeyPair
) -> None:
    pki = make_pki(tmp_path / "pki")
    mar = build(model, tmp_path / "out")
    result = mararch("sign", mar, "--private-key", key.private, "--certificate", pki.leaf)
    assert result.exit_code == 1
    assert f"certificate {str(pki.leaf)!r} is not for private key" in result.stderr
    assert not Path(f"{mar}.sig").exists()


def test_a_bad_key_in_a_spec_stops_every_archive(
    model: ModelInputs, tmp_path: Path, key: KeyPair
) -> None:
    rsa = make_rsa_key(tmp_path / "rsa.pem")
    store = tmp_path / "store"
    spec = model.root / "mararch.toml"
    spec.write_text(
        "".join(
            f"[archive.{name}]\n"
            'version = "1.0"\n'
            'handler = "my_handler.py"\n'
            f'export-path = "{store}"\n'
            f'sign-key = "{signing_key}"\n'
            for name, signing_key in (("a", key.private), ("b", rsa))
        )
    )
    result = mararch("create", "--spec", spec, "--all")
    assert result.exit_code == 1
    assert f"error: {str(rsa)!r} is a RSA key" in result.stderr
    assert not store.exists() or list(store.iterdir()) == []
