"""Keys, certificates and the real `model_signing` CLI for the signing tests.

Keys are made in each test (never committed). The reference CLI (model-signing 1.1.1, from the
`test` extra) sits beside the test interpreter; `MARARCH_MODEL_SIGNING` names another one. In CI
a missing CLI fails the tests instead of skipping them.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from helpers import missing_tool

CURVES = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path
    key: ec.EllipticCurvePrivateKey


def make_key(
    folder: Path, name: str = "key", curve: str = "P-256", password: bytes | None = None
) -> KeyPair:
    """An EC key pair in PEM files `NAME.pem` and `NAME.pub`."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(CURVES[curve])
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    private = folder / f"{name}.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    public = folder / f"{name}.pub"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return KeyPair(private, public, key)


def make_rsa_key(path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name = (
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]) if issuer else name
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    signer = issuer[1] if issuer else key
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()),
            critical=False,
        )
    return builder.sign(signer, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    """A root CA, an intermediate and a signing certificate, as PEM files."""

    root: Path
    intermediate: Path
    leaf: Path
    leaf_key: Path


def make_pki(folder: Path, name: str = "pki") -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    root_key = ec.generate_private_key(ec.SECP256R1())
    mid_key = ec.generate_private_key(ec.SECP384R1())
    leaf_key = make_key(folder, f"{name}-leaf")
    root = _cert(f"{name} root", root_key, None, ca=True)
    mid = _cert(f"{name} intermediate", mid_key, (f"{name} root", root_key), ca=True)
    leaf = _cert(f"{name} signer", leaf_key.key, (f"{name} intermediate", mid_key), ca=False)
    paths = []
    for label, cert in (("root", root), ("intermediate", mid), ("leaf", leaf)):
        path = folder / f"{name}-{label}.crt"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths.append(path)
    return Pki(paths[0], paths[1], paths[2], leaf_key.private)


def model_signing_cli() -> Path:
    """The `model_signing` launcher: `$MARARCH_MODEL_SIGNING`, else beside this interpreter."""
    explicit = os.environ.get("MARARCH_MODEL_SIGNING")
    candidates = [Path(explicit)] if explicit else [Path(sys.executable).parent / "model_signing"]
    found = shutil.which("model_signing")
    if not explicit and found:
        candidates.append(Path(found))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    missing_tool(
        "the model_signing CLI (model-signing 1.1.1, in mararch[test]) is not installed: "
        "pip install -e '.[test]'"
    )
    raise AssertionError("unreachable")


def model_signing(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the reference CLI; returns the finished process (exit code not checked)."""
    return subprocess.run(
        [str(model_signing_cli()), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
