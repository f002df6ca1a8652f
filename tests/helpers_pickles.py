"""Crafted pickles, written opcode by opcode (never by pickling a live object, never loaded), and
torch-like zips around them, for the pickle scanning tests. Each malicious pickle names the
callable it would run, so that tests can check the finding names it."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from crafted import HANDLER, STORED, make_mar, make_tgz, manifest_bytes

CONTAINERS = ["mar-deflated", "mar-stored", "tgz", "folder"]


def build_archive(tmp_path: Path, container: str, files: dict[str, bytes], **model: object) -> Path:
    """An archive (one of CONTAINERS) with a custom handler, so that only the pickle rules speak,
    `files`, and `model` merged into the manifest's model object."""
    files = {"handler.py": HANDLER, **files}
    tmp_path.mkdir(parents=True, exist_ok=True)
    manifest = manifest_bytes(model=model)
    if container == "mar-deflated":
        return make_mar(tmp_path / "m.mar", files, manifest=manifest)
    if container == "mar-stored":
        return make_mar(tmp_path / "m.mar", files, manifest=manifest, method=STORED)
    if container == "tgz":
        return make_tgz(tmp_path / "m.tar.gz", files, manifest=manifest)
    root = tmp_path / "m"
    for name, data in {"MAR-INF/MANIFEST.json": manifest, **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _u(text: str) -> bytes:
    """SHORT_BINUNICODE text."""
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


@dataclass(frozen=True)
class Crafted:
    name: str
    data: bytes
    #: The callable a scan must name ("module.attr"), or "<computed at load time>".
    callable: str


MALICIOUS = [
    # protocol 0: GLOBAL, MARK, STRING, TUPLE, REDUCE
    Crafted("p0-os-system", b"cos\nsystem\n(S'echo pwned'\ntR.", "os.system"),
    # protocol 0: INST takes the callable inline
    Crafted("p0-inst-os-system", b"(S'echo pwned'\nios\nsystem\n.", "os.system"),
    # protocol 2: posix is os on Linux
    Crafted(
        "p2-posix-system",
        b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.",
        "posix.system",
    ),
    Crafted(
        "p2-eval", b"\x80\x02c__builtin__\neval\nX\x03\x00\x00\x001+1\x85R.", "__builtin__.eval"
    ),
    Crafted(
        "p3-subprocess-popen",
        b"\x80\x03csubprocess\nPopen\nX\x04\x00\x00\x00true\x85R.",
        "subprocess.Popen",
    ),
    Crafted(
        "p2-runpy",
        b"\x80\x02crunpy\n_run_code\nX\x0b\x00\x00\x00print('hi')}\x86R.",
        "runpy._run_code",
    ),
    # protocol 4: STACK_GLOBAL with the strings on the stack
    Crafted(
        "p4-stack-global-exec",
        b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00"
        + _u("builtins")
        + b"\x94"
        + _u("exec")
        + b"\x94\x93\x94"
        + _u("import os")
        + b"\x85R.",
        "builtins.exec",
    ),
    # protocol 4: the strings go through the memo first, with unrelated values in between
    Crafted(
        "p4-memo-os-system",
        b"\x80\x04"
        + _u("os")
        + b"\x94"
        + _u("system")
        + b"\x94K\x010"  # push 1, POP
        + b"0"  # POP the "system" string
        + b"0"  # POP the "os" string
        + b"h\x00h\x01\x93"  # BINGET 0, BINGET 1, STACK_GLOBAL
        + _u("id")
        + b"\x85R.",
        "os.system",
    ),
    # getattr(importlib.import_module('builtins'), 'eval')('1+1')
    Crafted(
        "p4-getattr-import-module-eval",
        b"\x80\x04"
        + _u("builtins")
        + _u("getattr")
        + b"\x93"
        + _u("importlib")
        + _u("import_module")
        + b"\x93"
        + _u("builtins")
        + b"\x85R"
        + _u("eval")
        + b"\x86R"
        + _u("1+1")
        + b"\x85R.",
        "builtins.getattr",
    ),
    # the module name is computed at load time: operator.add('o', 's')
    Crafted(
        "p4-computed-module",
        b"\x80\x04"
        + _u("operator")
        + _u("add")
        + b"\x93"
        + _u("o")
        + _u("s")
        + b"\x86R"
        + _u("system")
        + b"\x93"
        + _u("id")
        + b"\x85R.",
        "<computed at load time>",
    ),
    # importing is running code: __import__('os') then getattr-free attribute access via BUILD
    Crafted(
        "p2-builtin-import",
        b"\x80\x02c__builtin__\n__import__\nX\x02\x00\x00\x00os\x85R.",
        "__builtin__.__import__",
    ),
    # marshal.loads builds a code object, the first step of running arbitrary bytecode
    Crafted(
        "p4-marshal-loads",
        b"\x80\x04" + _u("marshal") + _u("loads") + b"\x93C\x01N\x85R.",
        "marshal.loads",
    ),
    Crafted(
        "p5-socket",
        b"\x80\x05csocket\ncreate_connection\nX\t\x00\x00\x00127.0.0.1K\x01\x86\x85R.",
        "socket.create_connection",
    ),
]

#: An OrderedDict of a list and a str: what a state_dict without tensors looks like.
BENIGN = (
    b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00aq\x02]q\x03(K\x01K\x02es."
)
#: A full-model pickle: a user's own class.
USER_CLASS = b"\x80\x02cmymodels\nNet\nq\x00)\x81q\x01}q\x02b."


def state_dict_pickle(tensors: int = 2, dtype: str = "Float") -> bytes:
    """A torch.save-style data.pkl: OrderedDict of _rebuild_tensor_v2(storage pid, 0, (3, 4),
    (4, 1), False, OrderedDict()) entries, as torch writes them (protocol 2)."""
    out = io.BytesIO()
    out.write(b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(")
    for i in range(tensors):
        key = f"layer{i}.weight".encode()
        out.write(b"X" + struct.pack("<I", len(key)) + key)
        out.write(b"ctorch._utils\n_rebuild_tensor_v2\n(")
        out.write(b"(X\x07\x00\x00\x00storagectorch\n" + dtype.encode() + b"Storage\n")
        out.write(b"X\x01\x00\x00\x00" + str(i).encode() + b"X\x03\x00\x00\x00cpuK\x0ctQ")
        out.write(b"K\x00K\x03K\x04\x86K\x04K\x01\x86\x89h\x00)Rt")
        out.write(b"R")
    out.write(b"u.")
    return out.getvalue()


class _Unseekable(io.RawIOBase):
    """Makes zipfile write data descriptors and zero sizes in the local headers, as torch does."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        return self.buffer.write(b)

    def flush(self) -> None:
        pass


def torch_zip(
    data_pkl: bytes,
    *,
    root: str = "archive",
    descriptors: bool = True,
    deflated: bool = False,
    code: bool = False,
    tensor: bytes = b"\x00" * 48,
) -> bytes:
    """A zip laid out as torch.save writes one (data.pkl first, then tensors, version)."""
    records = [(f"{root}/data.pkl", data_pkl), (f"{root}/byteorder", b"little")]
    records += [(f"{root}/data/{i}", tensor) for i in range(2)]
    if code:
        records.insert(0, (f"{root}/code/__torch__.py", b"class Net(Module):\n  pass\n"))
        records.append((f"{root}/constants.pkl", b"\x80\x02)."))
    records.append((f"{root}/version", b"3\n"))
    method = zipfile.ZIP_DEFLATED if deflated else zipfile.ZIP_STORED
    sink: io.RawIOBase | io.BytesIO = _Unseekable() if descriptors else io.BytesIO()
    with zipfile.ZipFile(sink, "w", compression=method) as zf:  # type: ignore[arg-type]
        for name, data in records:
            with zf.open(zipfile.ZipInfo(name), "w") as fh:
                fh.write(data)
    return sink.buffer.getvalue() if isinstance(sink, _Unseekable) else sink.getvalue()


def legacy_torch(main_pickle: bytes, tail: bytes = b"\x00" * 64) -> bytes:
    """A pre-1.6 torch.save file: magic, protocol, sys_info, the object, storage keys, data."""
    magic = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
    protocol = b"\x80\x02M\xe9\x03."
    sys_info = b"\x80\x02}q\x00X\x0d\x00\x00\x00little_endianq\x01\x88s."
    keys = b"\x80\x02]q\x00X\x01\x00\x00\x000q\x01a."
    return magic + protocol + sys_info + main_pickle + keys + tail


def safetensors(tensors: dict[str, tuple[str, list[int], list[int]]], data_len: int) -> bytes:
    """A safetensors file with the given header entries (dtype, shape, offsets) and zeros."""
    header = json.dumps(
        {k: {"dtype": d, "shape": s, "data_offsets": o} for k, (d, s, o) in tensors.items()}
    ).encode()
    return struct.pack("<Q", len(header)) + header + b"\x00" * data_len
