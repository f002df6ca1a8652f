"""Sign a model archive's members and check a signature against them, in any container.

The model is the archive's files, named by their member paths: the same members in a .mar
(stored or deflated), a .tar.gz or a folder have the same signature, and `model_signing` verifies
it on the extracted folder.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ArchiveError, Finding, Severity, SignatureError
from ..names import unsafe_members
from ..progress import OptionalProgress
from ..reader import ArchiveView, Container, MemberKind, open_archive
from . import statement as st
from .files import read_small

if TYPE_CHECKING:
    from ..writers import WrittenMember
    from .keys import Signer


@dataclass(frozen=True)
class SignResult:
    """What `sign` wrote: the signature's path, the mode, and the files it covers."""

    signature: Path
    mode: st.Mode
    model_name: str
    files: int
    subject_digest: str


@dataclass(frozen=True)
class Trust:
    """What a signature is checked with: a public key, or trusted certificates."""

    signature: Path | None = None
    public_key: Path | None = None
    certificate_chain: tuple[Path, ...] = ()


def _inside(path: Path, folder: Path) -> str | None:
    """`path` as a member name when it lies inside `folder` (a folder model), else None."""
    try:
        rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(folder))
    except ValueError:
        return None
    return rel.as_posix()


def _ignored_paths(view: ArchiveView, signature: Path) -> list[str]:
    ignored = [*st.GIT_PATHS, st.DIGESTS_MEMBER]
    if view.container is Container.FOLDER:
        inner = _inside(signature, Path(view.model_root or view.path))
        if inner is not None:
            ignored.append(inner)
    return ignored


def hash_members(
    view: ArchiveView, ignore: Sequence[str], progress: OptionalProgress = None
) -> dict[str, str]:
    """SHA-256 of every file member not ignored, streamed; refuses what cannot be signed.

    (Hashing on a second thread, as the writers do beside deflate, measured slower here: the
    reader's own work per chunk, a CRC-32, is too small to overlap with.)"""
    wanted = [m for m in view.members if not st.is_ignored(m.name, ignore)]
    # A signature vouches for the files a server unpacks: what extraction refuses (links,
    # special files, unsafe or duplicate names) cannot be signed (model_signing refuses links).
    unsafe = unsafe_members(wanted)
    if unsafe:
        m, reason = unsafe[0]
        more = f" (and {len(unsafe) - 1} more)" if len(unsafe) > 1 else ""
        raise ArchiveError(
            f"cannot sign {str(view.path)!r}: member {m.name!r}: {reason}{more}",
            member=m.name,
            hint="A signature covers regular files only; rebuild the archive (mararch create).",
        )
    hashes: dict[str, str] = {}
    total = sum(m.size for m in wanted if m.is_file)
    done = 0
    for m in wanted:
        if not m.is_file:
            continue
        digest = hashlib.sha256()
        for chunk in view.iter_member(m):
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        hashes[m.name] = digest.hexdigest()
    return hashes


def write_signature(
    signer: Signer,
    hashes: Mapping[str, str],
    *,
    model_name: str,
    ignore: Sequence[str],
    out: Path,
) -> SignResult:
    """Sign `{member: sha256}` and write the bundle to `out` atomically (replacing it)."""
    from ..output import atomic_output

    payload = st.statement(model_name, hashes, ignore)
    data = st.bundle_json(payload, signer.sign(st.pae(payload)), signer.material())
    with atomic_output(out, is_dir=False, force=True) as tmp:
        tmp.write_bytes(data)
    mode = st.Mode.CERTIFICATE if signer.certificates else st.Mode.KEY
    return SignResult(out, mode, model_name, len(hashes), st.subject_digest(hashes))


def signer_for(
    private_key: Path,
    *,
    password_file: Path | None = None,
    certificate: Path | None = None,
    certificate_chain: Sequence[Path] = (),
) -> Signer:
    """The key (and certificates) loaded and checked: a wrong password or key type fails before
    any archive is read or written."""
    from .keys import load_signer

    if certificate_chain and certificate is None:
        raise SignatureError(
            "a certificate chain was given without the signing certificate",
            hint="Pass --certificate CERT.pem as well (or leave out --certificate-chain).",
        )
    return load_signer(private_key, password_file, certificate, certificate_chain)


def sign_view(
    view: ArchiveView,
    signer: Signer,
    signature: Path | None = None,
    progress: OptionalProgress = None,
) -> SignResult:
    """Sign the model in an open archive; the archive is only read."""
    out = signature if signature is not None else st.signature_path_for(view.path)
    if os.path.abspath(out) == os.path.abspath(view.path) or out.is_dir():
        raise SignatureError(
            f"the signature cannot be written to {str(out)!r}: signing never rewrites the "
            "archive, nor replaces a folder",
            path=str(out),
            hint="Name a new file with --signature (default: ARCHIVE.sig beside the archive).",
        )
    ignore = _ignored_paths(view, out)
    hashes = hash_members(view, ignore, progress)
    return write_signature(
        signer, hashes, model_name=st.model_name_of(view.path), ignore=ignore, out=out
    )


def sign(
    archive: str | os.PathLike[str],
    private_key: Path,
    *,
    password_file: Path | None = None,
    certificate: Path | None = None,
    certificate_chain: Sequence[Path] = (),
    signature: Path | None = None,
    progress: OptionalProgress = None,
) -> SignResult:
    """Sign the model in `archive` (.mar, .tar.gz or folder) and write its signature (default:
    `ARCHIVE.sig`); the archive is only read."""
    signer = signer_for(
        private_key,
        password_file=password_file,
        certificate=certificate,
        certificate_chain=certificate_chain,
    )
    with open_archive(archive) as view:
        return sign_view(view, signer, signature, progress)


def sign_written(signer: Signer, output: Path, hashes: Mapping[str, str]) -> SignResult:
    """Sign an archive just written, from the digests computed while writing it (the signature
    of a folder model sits beside it, never inside)."""
    out = st.signature_path_for(output)
    ignore = [*st.GIT_PATHS, st.DIGESTS_MEMBER]
    kept = {n: h for n, h in hashes.items() if not st.is_ignored(n, ignore)}
    return write_signature(
        signer, kept, model_name=st.model_name_of(output), ignore=ignore, out=out
    )


def sign_built(signer: Signer, output: Path, members: Sequence[WrittenMember]) -> SignResult:
    """Sign an archive `build` just wrote: from the SHA-256s taken while writing it, or, when
    none were (--no-digests), by reading it back."""
    hashes = {m.name: m.sha256 for m in members if m.sha256 is not None}
    if len(hashes) < sum(m.name != st.DIGESTS_MEMBER for m in members):
        with open_archive(output) as view:
            return sign_view(view, signer)
    return sign_written(signer, output, hashes)


@dataclass(frozen=True)
class SignatureInfo:
    """What `inspect` says about the signature beside an archive (read, not verified)."""

    path: str
    mode: st.Mode | None = None
    signer: str | None = None
    model_name: str | None = None
    files: int = 0
    #: Archive files the signature does not list, and listed files the archive lacks (by name).
    unlisted: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    problem: str | None = None

    @property
    def covers(self) -> str:
        if self.problem is not None:
            return f"unreadable: {self.problem}"
        if not self.unlisted and not self.missing:
            return f"all {self.files} files, by name (verify --public-key checks them)"
        return (
            f"{self.files} files; {len(self.unlisted)} archive files not listed, "
            f"{len(self.missing)} listed files absent"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "mode": self.mode.value if self.mode is not None else None,
            "signer": self.signer,
            "model_name": self.model_name,
            "files": self.files,
            "unlisted": list(self.unlisted),
            "missing": list(self.missing),
            "problem": self.problem,
            "verified": False,
        }


def describe_signature(view: ArchiveView) -> SignatureInfo | None:
    """The signature beside `view`'s archive (`ARCHIVE.sig`), if any, as `inspect` shows it."""
    sig = st.signature_path_for(view.path)
    if not sig.is_file():
        return None
    try:
        bundle = read_bundle(sig)
        signed = st.parse_statement(bundle.payload)
    except (st.BundleError, SignatureError) as exc:
        return SignatureInfo(str(sig), problem=str(exc))
    signer = f"key {bundle.key_hint[:16]}" if bundle.key_hint else None
    files = {m.name for m in view.members if m.is_file and not signed.ignores(m.name)}
    return SignatureInfo(
        str(sig),
        mode=bundle.mode,
        signer=signer,
        model_name=signed.name,
        files=len(signed.resources),
        unlisted=tuple(sorted(files - set(signed.resources), key=st.path_key)),
        missing=tuple(sorted(set(signed.resources) - files, key=st.path_key)),
    )


def _info(code: str, message: str) -> Finding:
    return Finding(Severity.INFO, code, message)


def signature_note(archive: Path) -> Finding | None:
    """`verify` without a key: say that a signature sits beside the archive, unchecked."""
    sig = st.signature_path_for(archive)
    if not sig.is_file():
        return None
    return _info(
        "signature-unchecked",
        f"{sig.name} sits beside the archive; pass --public-key or --certificate-chain to check it",
    )


def read_bundle(path: Path) -> st.Bundle:
    """A signature file parsed (not verified); BundleError or SignatureError saying why not."""
    data = read_small(
        path,
        "signature",
        st.MAX_SIGNATURE_SIZE,
        hint="Sign the archive with `mararch sign`, or name the signature with --signature.",
    )
    return st.parse_bundle(data)


def check_signature(archive: Path, trust: Trust) -> tuple[st.SignedModel | None, list[Finding]]:
    """Verify the signature's cryptography; return the model it vouches for (the members are
    compared during verify's pass over the data), or the finding that says why it cannot be used.
    Key and certificate files that cannot be used are SignatureErrors (the caller's input)."""
    from .keys import load_certificates, load_public_key, verify_with_chain, verify_with_key

    # Fail on unusable key material before looking at the signature.
    if trust.public_key is not None:
        load_public_key(trust.public_key)
    else:
        load_certificates(trust.certificate_chain)
    sig = trust.signature if trust.signature is not None else st.signature_path_for(archive)
    try:
        bundle = read_bundle(sig)
        message = st.pae(bundle.payload)
        if trust.public_key is not None:
            signer = verify_with_key(bundle, trust.public_key, message)
        else:
            signer = verify_with_chain(bundle, trust.certificate_chain, message)
        signed = st.parse_statement(bundle.payload)
    except st.BundleError as exc:
        return None, [
            Finding(Severity.ERROR, "signature-invalid", f"{str(sig)!r} cannot be trusted: {exc}")
        ]
    signed = replace(signed, signer=signer, path=sig)
    note = _info(
        "signature-checked",
        f"{sig.name}: signed by {signer}, {len(signed.resources)} files listed",
    )
    return signed, [note]


def signature_member(signed: st.SignedModel, view: ArchiveView) -> str | None:
    """The member name of the signature file, when it sits inside the folder model it signs."""
    if view.container is not Container.FOLDER or signed.path is None:
        return None
    return _inside(signed.path, Path(view.model_root or view.path))


def member_findings(
    signed: st.SignedModel, view: ArchiveView, hashes: Mapping[str, str], damaged: set[str]
) -> list[Finding]:
    """verify's comparison of the members (hashed in its one pass) with the signed list; the
    signature file itself is not a member when it sits inside a folder model."""
    skip = signature_member(signed, view)
    if skip is not None:
        signed = replace(signed, skip=frozenset({skip}))
    members = [(m.name, m.is_file) for m in view.members if m.kind is not MemberKind.DIR]
    return st.compare(signed, members, hashes, damaged)


__all__ = [
    "SignResult",
    "SignatureInfo",
    "Trust",
    "check_signature",
    "describe_signature",
    "hash_members",
    "member_findings",
    "read_bundle",
    "sign",
    "sign_built",
    "sign_view",
    "sign_written",
    "signature_member",
    "signature_note",
    "signer_for",
]
