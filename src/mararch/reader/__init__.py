"""One reader for every model archive (being split into a package; see zip.py for now)."""

from .zip import (
    GZIP_MAGIC,
    MAX_MANIFEST_SIZE,
    MAX_MEMBERS,
    ArchiveView,
    Container,
    FolderView,
    Member,
    MemberKind,
    OffsetReader,
    TarView,
    ZipView,
    detect_container,
    open_archive,
    parse_manifest,
    strip_first_component,
)

__all__ = [
    "GZIP_MAGIC",
    "MAX_MANIFEST_SIZE",
    "MAX_MEMBERS",
    "ArchiveView",
    "Container",
    "FolderView",
    "Member",
    "MemberKind",
    "OffsetReader",
    "TarView",
    "ZipView",
    "detect_container",
    "open_archive",
    "parse_manifest",
    "strip_first_component",
]
