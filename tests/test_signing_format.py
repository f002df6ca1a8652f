"""The model-signing format on its own (no keys, no archives): statements round-trip, every
change to a member list is found, and hostile bundles are refused with BundleError only."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mararch.signing.statement import (
    BundleError,
    compare,
    parse_bundle,
    parse_statement,
    statement,
    subject_digest,
)

component = st.text(alphabet="abAB.-_09", min_size=1, max_size=4).filter(
    lambda c: c not in (".", "..")
)
names = st.lists(component, min_size=1, max_size=3).map("/".join)
digests = st.binary(min_size=32, max_size=32).map(bytes.hex)
models = st.dictionaries(names, digests, min_size=1, max_size=12).filter(
    # A file cannot also be a folder of the same model.
    lambda m: not any(other.startswith(n + "/") for n in m for other in m)
)


@given(models)
def test_a_statement_reads_back_as_the_files_it_lists(files: dict[str, str]) -> None:
    signed = parse_statement(statement("m", files, ["x.sig"]))
    assert signed.resources == files
    assert signed.ignore_paths == ("x.sig",)
    members = [(n, True) for n in files]
    assert compare(signed, members, files) == []


@given(models, st.data())
def test_every_change_to_the_members_is_found(files: dict[str, str], data: st.DataObject) -> None:
    signed = parse_statement(statement("m", files, []))
    name = data.draw(st.sampled_from(sorted(files)))
    changed = {**files, name: hashlib.sha256(files[name].encode()).hexdigest()}
    members = [(n, True) for n in files]
    assert [(f.code, f.member) for f in compare(signed, members, changed)] == [
        ("digest-mismatch", name)
    ]
    fewer = [(n, True) for n in files if n != name]
    assert [(f.code, f.member) for f in compare(signed, fewer, files)] == [
        ("signed-member-missing", name)
    ]
    extra = [*members, ("zz-added", True)]
    assert [(f.code, f.member) for f in compare(signed, extra, {**files, "zz-added": name})] == [
        ("member-not-signed", "zz-added")
    ]


def test_resources_are_sorted_as_paths_and_the_subject_covers_them_in_that_order() -> None:
    files = {"a.txt": "11" * 32, "a/b": "22" * 32, "a-b": "33" * 32}
    doc = json.loads(statement("m", files, []))
    # Component by component: "a" < "a-b" < "a.txt", so a/b comes first (not string order).
    assert [r["name"] for r in doc["predicate"]["resources"]] == ["a/b", "a-b", "a.txt"]
    expected = hashlib.sha256(bytes.fromhex("22" * 32 + "33" * 32 + "11" * 32)).hexdigest()
    assert doc["subject"][0]["digest"]["sha256"] == expected == subject_digest(files)


def test_git_paths_and_the_ignored_paths_are_not_members() -> None:
    signed = parse_statement(statement("m", {"w.pt": "00" * 32}, ["notes/"]))
    members = [
        ("w.pt", True),
        (".gitignore", True),
        (".git/HEAD", True),
        ("notes/a.txt", True),
        ("sub/.gitignore", True),
    ]
    found = compare(signed, members, {"w.pt": "00" * 32, "sub/.gitignore": "11" * 32})
    # Only root-level git paths are ignored, as model_signing does.
    assert [(f.code, f.member) for f in found] == [("member-not-signed", "sub/.gitignore")]


def bundle(payload: object, **material: object) -> bytes:
    return json.dumps(
        {
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": material or {"publicKey": {"hint": "ab"}},
            "dsseEnvelope": {
                "payload": base64.b64encode(json.dumps(payload).encode()).decode(),
                "payloadType": "application/vnd.in-toto+json",
                "signatures": [{"sig": base64.b64encode(b"sig").decode()}],
            },
        }
    ).encode()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff", "not a JSON document"),
        (b"[]", "the bundle is missing or not a JSON object"),
        (b"[" * 100_000, "not a JSON document"),
        (bundle({}, x509CertificateChain={"certificates": []}), "certificates is empty"),
        (bundle({}, other={}), "neither a publicKey nor a certificate chain"),
    ],
)
def test_malformed_bundles(raw: bytes, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        parse_bundle(raw)


GOOD = json.loads(statement("m", {"w.pt": "00" * 32}, []))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"_type": "x"}, "_type is 'x'"),
        ({"predicateType": "https://model_signing/Digests/v0.1"}, "only 'https://model_signing"),
        ({"subject": []}, "exactly one subject"),
        (
            {"predicate": {**GOOD["predicate"], "serialization": {"method": "shards"}}},
            "serialization is 'shards'",
        ),
        (
            {"predicate": {**GOOD["predicate"], "resources": [{"name": "w.pt"}]}},
            "is not {name, algorithm: sha256, digest}",
        ),
        (
            {"subject": [{"name": "m", "digest": {"sha256": "00" * 32}}]},
            "subject digest does not match",
        ),
    ],
)
def test_statements_that_are_not_model_signatures(change: dict[str, object], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        parse_statement(json.dumps({**GOOD, **change}).encode())


KEYS = [
    "mediaType",
    "dsseEnvelope",
    "payload",
    "payloadType",
    "signatures",
    "sig",
    "verificationMaterial",
    "publicKey",
    "x509CertificateChain",
    "certificates",
    "rawBytes",
    "_type",
    "subject",
    "digest",
    "predicate",
    "predicateType",
    "serialization",
    "resources",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_any_json_is_refused_with_a_reason_never_a_crash(value: object) -> None:
    raw = json.dumps(value).encode()
    for parse in (parse_bundle, parse_statement):
        with contextlib.suppress(BundleError):
            parse(raw)
