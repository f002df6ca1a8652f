"""One reader for every model archive: `.mar` (zip), `.tar.gz`, or an unpacked folder.

`open_archive(path)` picks the container by content, lists the members and returns an
`ArchiveView`; `inspect`, `verify` and `extract` all start from it, so there is one place that
parses archives. Listing a zip reads the central directory only, never member data. Member data is
streamed through `iter_member`/`open_member`, which never yield more bytes than the archive
declares and raise `ArchiveError` when the data is shorter, longer or fails its CRC.

Every problem with the input, hostile or merely broken, is raised as `ArchiveError`.

The modules, top to bottom: `detect` (which container, and `open_archive`), one per container
(`zip`, `tar`, `folder`), and `view` (what they share).
"""

from .detect import detect_container, open_archive
from .folder import FolderView
from .tar import GZIP_MAGIC, TarView, strip_first_component
from .view import (
    MAX_MANIFEST_SIZE,
    MAX_MEMBERS,
    ArchiveView,
    Container,
    Member,
    MemberKind,
    OffsetReader,
    parse_manifest,
)
from .zip import ZipView

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
