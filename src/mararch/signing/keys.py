"""Keys and certificates for model signatures (the `cryptography` package, extra `mararch[sign]`).

The curves and hashes are model_signing's: EC P-256/P-384/P-521 keys, ECDSA with SHA-256/384/512
by key size. In key mode the bundle carries a hint (SHA-256 of the public key's PEM); in
certificate mode the signing certificate and its chain, checked against the trusted certificates
at the time the signing certificate became valid, as model_signing does.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SignatureError
from .files import read_small
from .statement import Bundle, BundleError

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise SignatureError(
        "signing needs the 'cryptography' package",
        hint="Install it with: pip install 'mararch[sign]'",
    ) from exc

CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
#: Private keys, public keys and certificates are small; anything larger is not one.
MAX_PEM_SIZE = 1 << 20
#: Longest certificate chain followed up to a trusted certificate.
MAX_CHAIN = 10


def _read(path: Path, what: str) -> bytes:
    return read_small(path, what, MAX_PEM_SIZE)


def _hash_for(key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    size = key.curve.key_size
    return hashes.SHA256() if size == 256 else hashes.SHA384() if size == 384 else hashes.SHA512()


def _describe(key: object) -> str:
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return f"an EC key on curve {key.curve.name}"
    name = type(key).__name__.replace("_", "").replace("PrivateKey", "").replace("PublicKey", "")
    size = getattr(key, "key_size", None)
    return f"a {name} key" + (f" of {size} bits" if size else "")


def _check_curve(key: object, path: Path) -> None:
    ok = isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey))
    if not ok or getattr(key, "curve").name not in CURVES:  # noqa: B009 - narrowed above
        raise SignatureError(
            f"{str(path)!r} is {_describe(key)}: model signing uses EC keys on "
            + ", ".join(CURVES.values()),
            path=str(path),
            hint="Make one with: openssl ecparam -name prime256v1 -genkey -noout -out key.pem",
        )


def key_hint(public_key: ec.EllipticCurvePublicKey) -> str:
    """model_signing's key identifier: SHA-256 of the public key in PEM (SubjectPublicKeyInfo)."""
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(pem).hexdigest()


def _not_pem(path: Path, what: str, hint: str) -> SignatureError:
    return SignatureError(f"{str(path)!r} is not a PEM {what}", path=str(path), hint=hint)


def load_private_key(path: Path, password_file: Path | None = None) -> ec.EllipticCurvePrivateKey:
    """A PEM private key, decrypted with the first line of `password_file` when given."""
    data = _read(path, "private key")
    password = None
    if password_file is not None:
        password = _read(password_file, "password file").splitlines()[:1] or [b""]
    try:
        key = serialization.load_pem_private_key(data, password[0] if password else None)
    except TypeError:
        if password is None:
            raise SignatureError(
                f"private key {str(path)!r} is encrypted",
                path=str(path),
                hint="Pass the file holding its password with --password-file.",
            ) from None
        raise SignatureError(
            f"private key {str(path)!r} is not encrypted, but a password was given",
            path=str(path),
            hint="Leave out the password file.",
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        if password is not None and b"ENCRYPTED" in data:
            raise SignatureError(
                f"wrong password for private key {str(path)!r} (from {str(password_file)!r})",
                path=str(path),
            ) from None
        raise _not_pem(
            path,
            "private key",
            "Give the signing key in PEM form (-----BEGIN ... PRIVATE KEY-----).",
        ) from None
    _check_curve(key, path)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def load_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    data = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise _not_pem(
            path, "public key", "Give the public key in PEM form (openssl ec -in key.pem -pubout)."
        ) from None
    _check_curve(key, path)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def load_certificates(paths: Sequence[Path]) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    for path in paths:
        try:
            certs += x509.load_pem_x509_certificates(_read(path, "certificate file"))
        except ValueError:
            raise SignatureError(
                f"{str(path)!r} holds no PEM certificate",
                path=str(path),
                hint="Give certificates in PEM form (-----BEGIN CERTIFICATE-----).",
            ) from None
    return certs


def _der(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


@dataclass(frozen=True)
class Signer:
    """A loaded private key (and, in certificate mode, its certificate and chain)."""

    key: ec.EllipticCurvePrivateKey
    certificates: tuple[x509.Certificate, ...] = ()

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message, ec.ECDSA(_hash_for(self.key.public_key())))

    def material(self) -> dict[str, Any]:
        if self.certificates:
            certs = [{"rawBytes": _der(c)} for c in self.certificates]
            return {"x509CertificateChain": {"certificates": certs}}
        return {"publicKey": {"hint": key_hint(self.key.public_key())}}


def load_signer(
    private_key: Path,
    password_file: Path | None = None,
    certificate: Path | None = None,
    chain: Sequence[Path] = (),
) -> Signer:
    """Everything signing needs, checked before any archive is read or written."""
    key = load_private_key(private_key, password_file)
    if certificate is None:
        return Signer(key)
    [leaf, *_] = load_certificates([certificate])
    if leaf.public_key() != key.public_key():
        raise SignatureError(
            f"certificate {str(certificate)!r} is not for private key {str(private_key)!r}",
            path=str(certificate),
            hint="Give the certificate issued for this key.",
        )
    return Signer(key, (leaf, *load_certificates(chain)))


def _verify_ecdsa(key: ec.EllipticCurvePublicKey, bundle: Bundle, message: bytes) -> None:
    try:
        key.verify(bundle.signature, message, ec.ECDSA(_hash_for(key)))
    except InvalidSignature:
        raise BundleError(
            "the signature does not match: wrong key, or the signature file was altered"
        ) from None


def verify_with_key(bundle: Bundle, public_key: Path, message: bytes) -> str:
    """Check a key-mode signature; return who signed ("key <hint>")."""
    key = load_public_key(public_key)
    hint = key_hint(key)
    if bundle.certificates:
        raise BundleError(
            "the signature was made with a certificate: verify it with --certificate-chain"
        )
    if bundle.key_hint is not None and bundle.key_hint != hint:
        raise BundleError(
            f"the signature was made by another key (key hint {bundle.key_hint[:16]}…, "
            f"{str(public_key)!r} is {hint[:16]}…)"
        )
    _verify_ecdsa(key, bundle, message)
    return f"key {hint[:16]}"


def _issuer(cert: x509.Certificate, candidates: Sequence[x509.Certificate]) -> x509.Certificate:
    for candidate in candidates:
        try:
            cert.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        return candidate
    raise BundleError(
        f"no trusted certificate issued {cert.subject.rfc4514_string()!r}: "
        "the chain does not lead to one given with --certificate-chain"
    )


def _check_path(
    leaf: x509.Certificate, chain: Sequence[x509.Certificate], trusted: Sequence[x509.Certificate]
) -> None:
    """The leaf leads, through `chain`, to a trusted certificate, every link valid when the leaf
    became valid, and every issuer a CA."""
    at = leaf.not_valid_before_utc
    trusted_der = {c.public_bytes(serialization.Encoding.DER) for c in trusted}
    cert = leaf
    for _ in range(MAX_CHAIN):
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise BundleError(
                f"certificate {cert.subject.rfc4514_string()!r} was not valid when the signing "
                "certificate was issued"
            )
        if cert.public_bytes(serialization.Encoding.DER) in trusted_der:
            return
        issuer = _issuer(cert, [*trusted, *chain])
        try:
            ca = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            ca = False
        if not ca:
            raise BundleError(f"{issuer.subject.rfc4514_string()!r} is not a CA certificate")
        cert = issuer
    raise BundleError(f"the certificate chain is longer than {MAX_CHAIN}")


def _can_sign(cert: x509.Certificate) -> bool:
    ext = cert.extensions
    try:
        if ext.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return True
    except x509.ExtensionNotFound:
        pass
    try:
        return (
            ExtendedKeyUsageOID.CODE_SIGNING
            in ext.get_extension_for_class(x509.ExtendedKeyUsage).value
        )
    except x509.ExtensionNotFound:
        return False


def verify_with_chain(bundle: Bundle, chain: Sequence[Path], message: bytes) -> str:
    """Check a certificate-mode signature against trusted certificates; return the signer."""
    trusted = load_certificates(chain)
    if not bundle.certificates:
        raise BundleError("the signature was made with a key, not a certificate: use --public-key")
    try:
        leaf, *rest = (x509.load_der_x509_certificate(c) for c in bundle.certificates)
    except ValueError:
        raise BundleError("the signature's certificate chain is not DER certificates") from None
    _check_path(leaf, rest, trusted)
    if not _can_sign(leaf):
        raise BundleError("the signing certificate is not for digital signatures")
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in CURVES:
        raise BundleError(f"the signing certificate holds {_describe(key)}; EC keys only")
    _verify_ecdsa(key, bundle, message)
    return leaf.subject.rfc4514_string()


__all__ = ["Signer", "key_hint", "load_signer", "verify_with_chain", "verify_with_key"]
