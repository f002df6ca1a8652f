"""The OpenSSF model-signing format (model-signing 1.x), without any cryptography.

A signature is a Sigstore bundle (JSON) holding a DSSE envelope around an in-toto Statement v1.
Its predicate lists every file of the model as `{name, algorithm, digest}`, sorted by path, with
the serialization settings; its one subject is the model's name and a SHA-256 over the file
digests' raw bytes, in that order. What is ignored (the `.git*` paths at the model's root, the
paths the predicate names) is ignored the same way when signing and when verifying, as the
`model_signing` CLI does, so that either tool verifies the other's signatures.

The bundle and statement are a few JSON objects, written and read here: `sigstore-models` (what
model_signing uses) is pydantic-based and takes ~0.6 s to import, twice `cryptography`'s cost.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from ..errors import Finding, Severity

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
HASH_TYPE = "sha256"
METHOD = "files"
#: What model_signing leaves out of every folder it signs or verifies (unless told otherwise).
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")
#: mararch's own record of the members' digests: derived from the members, so it is left out of
#: the signature (an archive built with or without it, or converted, has the same signature).
DIGESTS_MEMBER = "MAR-INF/digests.json"
SIGNATURE_SUFFIX = ".sig"
#: A signature file larger than this is not a signature (a model of 200,000 files takes ~30 MiB).
MAX_SIGNATURE_SIZE = 64 << 20


class Mode(str, Enum):
    """How the signer is identified: by a public key, or by an X.509 certificate chain."""

    KEY = "key"
    CERTIFICATE = "certificate"


class BundleError(ValueError):
    """The signature file is not a model signature this module can read; says why."""


def signature_path_for(archive: Path) -> Path:
    """Where a model's signature sits by default: `x.mar.sig`, `x.tar.gz.sig`, `NAME.sig`."""
    return archive.with_name(archive.name + SIGNATURE_SUFFIX)


def model_name_of(archive: Path) -> str:
    """The subject's name: what `mararch extract` names the model's folder."""
    name = archive.name
    for suffix in (".mar", ".tar.gz", ".tgz"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def path_key(name: str) -> tuple[str, ...]:
    """model_signing sorts resources as paths (component by component), not as strings."""
    return tuple(name.split("/"))


def is_ignored(name: str, ignore_paths: Iterable[str]) -> bool:
    """Whether member `name` is `p` or lies below `p`, for any of the ignored paths."""
    parts = path_key(name)
    for p in ignore_paths:
        ignored = tuple(x for x in p.strip("/").split("/") if x not in ("", "."))
        if ignored and parts[: len(ignored)] == ignored:
            return True
    return False


def subject_digest(resources: Mapping[str, str]) -> str:
    """SHA-256 over the resources' raw digests, in their sorted order."""
    h = hashlib.sha256()
    for name in sorted(resources, key=path_key):
        h.update(bytes.fromhex(resources[name]))
    return h.hexdigest()


def statement(model_name: str, resources: Mapping[str, str], ignore_paths: Iterable[str]) -> bytes:
    """The in-toto statement (the DSSE payload) for files `{name: sha256 hex}`."""
    ordered = sorted(resources, key=path_key)
    doc = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model_name, "digest": {HASH_TYPE: subject_digest(resources)}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {
                "method": METHOD,
                "hash_type": HASH_TYPE,
                "allow_symlinks": False,
                "ignore_paths": sorted(set(ignore_paths)),
            },
            "resources": [
                {"name": n, "algorithm": HASH_TYPE, "digest": resources[n]} for n in ordered
            ],
        },
    }
    return json.dumps(doc, indent=2).encode("utf-8")


def pae(payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature is computed over."""
    head = f"DSSEv1 {len(PAYLOAD_TYPE)} {PAYLOAD_TYPE} {len(payload)} "
    return head.encode("utf-8") + payload


def bundle_json(payload: bytes, signature: bytes, material: dict[str, Any]) -> bytes:
    """The Sigstore bundle v0.3, as model_signing writes it for key and certificate modes."""
    doc = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {**material, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode("ascii"),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode("ascii"), "keyid": ""}],
        },
    }
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")


@dataclass(frozen=True)
class Bundle:
    """A parsed bundle; nothing in it is verified yet."""

    payload: bytes
    signature: bytes
    #: "publicKey" ({"hint": ...}) or "x509CertificateChain" ({"certificates": [DER, ...]}).
    key_hint: str | None = None
    certificates: tuple[bytes, ...] = ()

    @property
    def mode(self) -> Mode:
        return Mode.CERTIFICATE if self.certificates else Mode.KEY


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise BundleError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"{what} is not valid base64") from None


def _obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BundleError(f"{what} is missing or not a JSON object")
    return value


def parse_bundle(data: bytes) -> Bundle:
    """A bundle's bytes parsed; BundleError saying what is wrong."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BundleError(f"not a JSON document ({exc})") from None
    doc = _obj(doc, "the bundle")
    media = doc.get("mediaType")
    if media != BUNDLE_MEDIA_TYPE:
        raise BundleError(f"mediaType is {media!r}, expected {BUNDLE_MEDIA_TYPE!r}")
    envelope = _obj(doc.get("dsseEnvelope"), "dsseEnvelope")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise BundleError(f"payloadType is {envelope.get('payloadType')!r}, not {PAYLOAD_TYPE!r}")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise BundleError("dsseEnvelope.signatures is empty")
    signature = _b64(_obj(signatures[0], "the signature").get("sig"), "signatures[0].sig")
    payload = _b64(envelope.get("payload"), "dsseEnvelope.payload")
    material = _obj(doc.get("verificationMaterial"), "verificationMaterial")
    if "x509CertificateChain" in material:
        chain = _obj(material["x509CertificateChain"], "x509CertificateChain").get("certificates")
        if not isinstance(chain, list) or not chain:
            raise BundleError("x509CertificateChain.certificates is empty")
        certs = tuple(
            _b64(_obj(c, "a certificate").get("rawBytes"), f"certificate {i}")
            for i, c in enumerate(chain)
        )
        return Bundle(payload, signature, certificates=certs)
    if "publicKey" in material:
        hint = _obj(material["publicKey"], "publicKey").get("hint")
        return Bundle(payload, signature, key_hint=hint if isinstance(hint, str) else None)
    raise BundleError("verificationMaterial holds neither a publicKey nor a certificate chain")


@dataclass(frozen=True)
class SignedModel:
    """What a verified signature says the model is: its files and their SHA-256."""

    name: str
    resources: dict[str, str]
    ignore_paths: tuple[str, ...] = ()
    #: Who signed: "key <hint>" or the certificate's subject.
    signer: str = ""
    #: Members that are not part of the model: the signature file itself, inside a folder.
    skip: frozenset[str] = field(default_factory=frozenset)
    #: The signature file it was read from.
    path: Path | None = None

    def ignores(self, name: str) -> bool:
        return (
            name in self.skip or is_ignored(name, GIT_PATHS) or is_ignored(name, self.ignore_paths)
        )


def parse_statement(payload: bytes) -> SignedModel:
    """The model a (verified) payload describes; BundleError when it is not a v1.0 model
    signature by files with SHA-256, or when its subject digest does not match its files."""
    doc = _statement_doc(payload)
    subjects = doc.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1:
        raise BundleError("expected exactly one subject")
    subject = _obj(subjects[0], "the subject")
    expected = _obj(subject.get("digest"), "the subject's digest").get(HASH_TYPE)
    predicate = _obj(doc.get("predicate"), "the predicate")
    ignore = _ignore_paths(_obj(predicate.get("serialization"), "predicate.serialization"))
    resources, digest = _resources(predicate.get("resources"))
    if digest != expected:
        raise BundleError("the subject digest does not match the listed files' digests")
    name = subject.get("name")
    return SignedModel(str(name) if name is not None else "", resources, tuple(ignore))


def _statement_doc(payload: bytes) -> dict[str, Any]:
    """The payload as an in-toto statement of a model-signing 1.x predicate."""
    try:
        doc = _obj(json.loads(payload.decode("utf-8")), "the statement")
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BundleError("the signed payload is not a JSON document") from None
    if doc.get("_type") != STATEMENT_TYPE:
        raise BundleError(f"_type is {doc.get('_type')!r}, expected {STATEMENT_TYPE!r}")
    if doc.get("predicateType") != PREDICATE_TYPE:
        raise BundleError(
            f"predicateType is {doc.get('predicateType')!r}; only {PREDICATE_TYPE!r} "
            "(model-signing 1.x) is supported"
        )
    return doc


def _ignore_paths(serialization: dict[str, Any]) -> list[str]:
    """The serialization's ignored paths, once its method and hash are ones mararch reads."""
    method, hash_type = serialization.get("method"), serialization.get("hash_type")
    if method != METHOD or hash_type != HASH_TYPE:
        raise BundleError(
            f"serialization is {method!r} with {hash_type!r}; mararch reads signatures made "
            f"by {METHOD!r} with {HASH_TYPE!r} (model_signing's default)"
        )
    ignore = serialization.get("ignore_paths", [])
    if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
        raise BundleError("serialization.ignore_paths is not a list of paths")
    return ignore


def _resources(raw: object) -> tuple[dict[str, str], str]:
    """The predicate's resources as {name: sha256 hex}, and the subject digest they make (over
    the digests in the order listed)."""
    if not isinstance(raw, list):
        raise BundleError("predicate.resources is not a list")
    resources: dict[str, str] = {}
    h = hashlib.sha256()
    for item in raw:
        r = _obj(item, "a resource")
        name, algorithm, digest = r.get("name"), r.get("algorithm"), r.get("digest")
        if not isinstance(name, str) or algorithm != HASH_TYPE or not isinstance(digest, str):
            raise BundleError(f"resource {name!r} is not {{name, algorithm: sha256, digest}}")
        try:
            h.update(bytes.fromhex(digest))
        except ValueError:
            raise BundleError(f"resource {name!r} has a digest that is not hex") from None
        resources[name] = digest.lower()
    return resources, h.hexdigest()


def _error(code: str, message: str, member: str | None = None) -> Finding:
    return Finding(Severity.ERROR, code, message, member)


def compare(
    signed: SignedModel,
    members: Iterable[tuple[str, bool]],
    hashes: Mapping[str, str],
    damaged: Iterable[str] = (),
) -> list[Finding]:
    """Findings for the archive's members `(name, is a file)` against the signed list: every
    file signed, with the signed SHA-256, and every signed file present. `damaged` members are
    unreadable (reported elsewhere), so their digests are not compared."""
    out: list[Finding] = []
    unreadable = set(damaged)
    present: set[str] = set()
    where = f"in {signed.path.name}" if signed.path is not None else "in the signature"
    for name, is_file in members:
        if signed.ignores(name):
            continue
        if not is_file:
            if name in signed.resources:
                out.append(_error("digest-mismatch", f"signed as a file {where}", name))
                present.add(name)
            continue
        present.add(name)
        expected = signed.resources.get(name)
        if expected is None:
            out.append(_error("member-not-signed", f"not listed {where}: added after", name))
        elif name not in unreadable and hashes.get(name) != expected:
            out.append(
                _error("digest-mismatch", f"SHA-256 differs from the one signed {where}", name)
            )
    for name in sorted(set(signed.resources) - present, key=path_key):
        out.append(_error("signed-member-missing", f"signed {where} but not in the archive", name))
    return out


__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "DIGESTS_MEMBER",
    "GIT_PATHS",
    "Bundle",
    "BundleError",
    "Mode",
    "SignedModel",
    "bundle_json",
    "compare",
    "is_ignored",
    "model_name_of",
    "pae",
    "parse_bundle",
    "parse_statement",
    "signature_path_for",
    "statement",
    "subject_digest",
]
