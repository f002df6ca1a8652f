"""Which container an archive is (by content, not name), and opening it as the view of its kind."""

from __future__ import annotations

import stat
from pathlib import Path

from .. import zipformat as zf
from ..errors import ArchiveError
from ..plans import PathLike, is_url
from .folder import FolderView
from .tar import GZIP_MAGIC, TarView
from .view import ArchiveView, Container
from .zip import ZipView


def detect_container(path: Path) -> Container:
    """ZIP, TGZ or FOLDER, by content (not by name); ArchiveError for anything else."""
    if path.is_dir():
        return Container.FOLDER
    try:
        # Opening a FIFO or a device would block or read forever: look before opening.
        if not stat.S_ISREG(path.stat().st_mode):
            raise ArchiveError(
                f"{str(path)!r} is not a model archive: it is not a regular file "
                "(a FIFO, socket or device?)",
                hint="Give a .mar, a .tar.gz, or the folder of a no-archive model.",
                code="not-an-archive",
            )
        with path.open("rb") as fh:
            head = fh.read(4)
    except FileNotFoundError:
        raise ArchiveError(
            f"{str(path)!r} does not exist", hint="Check the path of the archive."
        ) from None
    except OSError as exc:
        raise ArchiveError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    if head in (zf.LOCAL_SIG, zf.END_SIG):
        return Container.ZIP
    if head[:2] == GZIP_MAGIC:
        return Container.TGZ
    what = "an empty file" if not head else "neither a zip (.mar) nor a gzip (.tar.gz) file"
    raise ArchiveError(
        f"{str(path)!r} is not a model archive: it is {what}",
        hint="Give a .mar, a .tar.gz, or the folder of a no-archive model.",
        code="not-an-archive",
    )


_VIEWS: dict[Container, type[ArchiveView]] = {
    Container.ZIP: ZipView,
    Container.TGZ: TarView,
    Container.FOLDER: FolderView,
}


def open_archive(path: PathLike) -> ArchiveView:
    """Open and list any model archive, local or at a URL (s3://, gs://, http(s)://); raises
    ArchiveError for anything unreadable."""
    if is_url(path):
        # Only now: a local archive never imports the remote machinery.
        from ..remote_read import open_remote_archive

        return open_remote_archive(path)
    p = Path(path)
    container = detect_container(p)
    return _VIEWS[container](p)  # type: ignore[call-arg]
