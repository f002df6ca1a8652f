"""Whatever the bytes, the reader either works or raises ArchiveError: never another exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crafted import make_mar, make_tgz, sparse_mar
from mararch.errors import ArchiveError
from mararch.reader import MAX_MANIFEST_SIZE, open_archive

FILES = {"handler.py": b"def handle(d, c):\n    return d\n", "w.pt": bytes(range(256)) * 8}


def read_everything(path: Path) -> None:
    try:
        with open_archive(path) as view:
            view.manifest()
            for m in view.members:
                if m.is_file:
                    for _ in view.iter_member(m):
                        pass
    except ArchiveError:
        pass


def _seed(tmp_path: Path, kind: str) -> bytes:
    if kind == "zip":
        return make_mar(tmp_path / "seed.mar", FILES).read_bytes()
    if kind == "zip64":
        return sparse_mar(tmp_path / "seed.mar", 3000).read_bytes()
    return make_tgz(tmp_path / "seed.tar.gz", FILES).read_bytes()


_mutations = st.lists(
    st.tuples(st.integers(min_value=0, max_value=1 << 20), st.integers(0, 255)),
    min_size=1,
    max_size=8,
)


@pytest.mark.parametrize("kind", ["zip", "zip64", "tgz"])
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(mutations=_mutations, cut=st.one_of(st.none(), st.integers(0, 1 << 20)))
def test_mutated_archives_raise_only_archive_error(
    tmp_path: Path, kind: str, mutations: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(_seed(tmp_path, kind))
    for pos, value in mutations:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    path = tmp_path / ("fuzz.mar" if kind.startswith("zip") else "fuzz.tar.gz")
    path.write_bytes(bytes(data))
    read_everything(path)


@given(data=st.binary(max_size=600))
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_random_bytes_after_magic(tmp_path: Path, data: bytes) -> None:
    for magic in (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b"):
        path = tmp_path / "x"
        path.write_bytes(magic + data)
        read_everything(path)


def test_read_member_limit(tmp_path: Path) -> None:
    path = make_mar(tmp_path / "m.mar", FILES)
    with open_archive(path) as view:
        member = view.get("w.pt")
        assert member is not None
        assert view.read_member(member, 1 << 20) == FILES["w.pt"]
        with pytest.raises(ArchiveError, match="more than the 10 allowed"):
            view.read_member(member, 10)
        stream = view.open_member(member)
        assert stream.read(3) == FILES["w.pt"][:3]
        assert stream.read() == FILES["w.pt"][3:]
        stream.close()
    assert MAX_MANIFEST_SIZE == 1 << 20


def test_deep_folder_is_listed_without_recursion(tmp_path: Path) -> None:
    root = tmp_path / "model"
    deep = root
    deep.mkdir()
    for _ in range(1100):  # deeper than Python's recursion limit (1000)
        deep = deep / "d"
        deep.mkdir()
    (deep / "w.pt").write_bytes(b"x")
    (root / "MAR-INF").mkdir()
    (root / "MAR-INF" / "MANIFEST.json").write_bytes(b"{}")
    try:
        with open_archive(root) as view:
            assert len(view.members) == 1100 + 1 + 2
            last = view.members[-1]
            assert last.name == "/".join(["d"] * 1100) + "/w.pt"
            assert view.read_member(last, 10) == b"x"
    finally:
        # shutil.rmtree (pytest's clean-up) recurses too: take the tree down from the bottom.
        (deep / "w.pt").unlink()
        while deep != root:
            deep.rmdir()
            deep = deep.parent


def test_folder_symlinks_are_listed_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "model"
    root.mkdir()
    (root / "a.txt").write_text("a")
    (root / "link").symlink_to("/etc")
    with open_archive(root) as view:
        link = view.get("link")
        assert link is not None
        assert link.kind.value == "symlink"
        assert link.link_target == "/etc"
        assert [m.name for m in view.members] == ["a.txt", "link"]
