"""The model folder behind the MMS golden archives, shared by the tests and the script that
regenerates the archives with model-archiver 1.0.3 (tests/fixtures/mms/regenerate.py).

It exercises every exclusion rule; which members each tool keeps is spelled out below.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

MODEL_NAME = "mms_model"
FIXTURES = Path(__file__).parent / "fixtures" / "mms"


def pseudo_random(n: int, seed: str) -> bytes:
    """Deterministic bytes that do not compress, so the golden archives never change."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n])


#: Kept by both model-archiver 1.0.3 and mararch.
KEPT: dict[str, bytes] = {
    "service.py": b"def handle(data, context):\n    return [len(data)]\n",
    "model-symbol.json": b'{"nodes": [], "arg_nodes": [], "heads": []}\n',
    "model-0000.params": pseudo_random(20_000, "params"),
    "signature.json": b'{"inputs": [{"data_name": "data", "data_shape": [1, 3, 224, 224]}]}\n',
    "synset.txt": b"cat\ndog\n",
    "empty.txt": b"",
    "read me.txt": b"a name with a space\n",
    "labels_\u00e9t\u00e9.txt": b"non-ASCII name\n",
    "assets/labels.txt": b"cat\ndog\n",
    "assets/deep/nested/table.bin": pseudo_random(3_000, "table"),
    "MAR-INF/notes.txt": b"kept: only MANIFEST.json is dropped from a stale MAR-INF\n",
}

#: Kept by model-archiver 1.0.3's code but excluded by its documentation, and by mararch.
HIDDEN_FILES: dict[str, bytes] = {
    ".hidden-file": b"hidden file at the root\n",
    "assets/.env": b"SECRET=1\n",
}

#: Dropped by both.
DROPPED: dict[str, bytes] = {
    ".git/HEAD": b"ref: refs/heads/main\n",
    "assets/.cache/blob": b"hidden folder\n",
    "__MACOSX/._service.py": b"\x00\x05\x16\x07",
    ".DS_Store": b"\x00\x00\x00\x01Bud1",
    "assets/.DS_Store": b"\x00\x00\x00\x01Bud1",
    "MANIFEST.json": b'{"model": {"service": "old_service.py"}}\n',
    "assets/MANIFEST.json": b"{}\n",
    "MAR-INF/MANIFEST.json": b'{"runtime": "python"}\n',
    "service.pyc": b"\x00" * 16,
    "__pycache__/service.cpython-311.pyc": b"\x00" * 16,
    "assets/__pycache__/x.cpython-311.pyc": b"\x00" * 16,
    "old_build.mar": pseudo_random(500, "old archive"),
    "assets/older.mar": pseudo_random(100, "older archive"),
}

#: Each golden archive: its format, the file it is stored as, and model-archiver's flags.
CASES: dict[str, tuple[str, list[str]]] = {
    "default": (f"{MODEL_NAME}.mar", ["--handler", "service:handle", "--runtime", "python"]),
    "tgz": (f"{MODEL_NAME}.tar.gz", ["--handler", "service", "--runtime", "python2"]),
    "no-archive": (MODEL_NAME, ["--handler", "service:handle", "--runtime", "python3"]),
}


def make_mms_model(root: Path) -> Path:
    """Lay the model folder out under `root` and return it."""
    for rel, data in {**KEPT, **HIDDEN_FILES, **DROPPED}.items():
        path = root.joinpath(*rel.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root
