"""Static pickle scanning: walk the opcodes, never unpickle.

`scan_pickle` reads one pickle from a `ByteSource` opcode by opcode (the opcode table is
`pickletools.opcodes`; nothing is executed), follows the module and name strings through the stack
and the memo, and records every callable the pickle would import (`GLOBAL`, `INST`,
`STACK_GLOBAL`), every storage a torch pickle asks for (`BINPERSID`) and every tensor it rebuilds.
Long byte and string arguments (inline array data) are skipped, not read, so memory does not grow
with the pickle. `judge` sorts an import into pass, warning or error.
"""

from __future__ import annotations

import io
import pickletools
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import IO, Optional

#: String arguments longer than this are skipped (module and attribute names are short).
MAX_KEPT_ARG = 1 << 16
#: A protocol-0 line (GLOBAL, INST, INT, ...) longer than this is not a pickle a tool wrote.
MAX_LINE = 1 << 16
READ_CHUNK = 1 << 20


class Verdict(str, Enum):
    """What an import means for whoever unpickles the file."""

    SAFE = "safe"
    UNKNOWN = "unknown"
    UNSAFE = "unsafe"


# Modules and attributes that run code or touch the system. Started from picklescan 1.0.5's
# `_unsafe_globals` (github.com/mmaitre314/picklescan, src/picklescan/scanner.py), with the
# import machinery (importlib, __import__, marshal, types.FunctionType) and process/IO modules
# added. "*" means every attribute; a listed module also covers its submodules (os.path).
_ANY = "*"
_BUILTINS_UNSAFE = frozenset(
    {
        "eval", "exec", "compile", "getattr", "setattr", "delattr", "apply", "open",
        "breakpoint", "__import__", "globals", "locals", "vars", "input", "exit", "quit",
    }
)  # fmt: skip
UNSAFE_GLOBALS: dict[str, object] = {
    "__builtin__": _BUILTINS_UNSAFE,
    "builtins": _BUILTINS_UNSAFE,
    "os": _ANY, "posix": _ANY, "nt": _ANY, "posixpath": _ANY, "ntpath": _ANY,
    "subprocess": _ANY, "_posixsubprocess": _ANY, "pty": _ANY, "commands": _ANY,
    "runpy": _ANY, "importlib": _ANY, "imp": _ANY, "pkgutil": _ANY, "zipimport": _ANY,
    "marshal": _ANY, "pickle": _ANY, "_pickle": _ANY, "cloudpickle": _ANY, "dill": _ANY,
    "shutil": _ANY, "tempfile": _ANY, "io": _ANY, "_io": _ANY,
    "socket": _ANY, "_socket": _ANY, "ssl": _ANY, "http": _ANY, "httplib": _ANY,
    "urllib": _ANY, "requests": _ANY, "aiohttp": _ANY, "asyncio": _ANY, "ftplib": _ANY,
    "smtplib": _ANY, "telnetlib": _ANY, "xmlrpc": _ANY, "webbrowser": _ANY,
    "sys": _ANY, "ctypes": _ANY, "_ctypes": _ANY, "multiprocessing": _ANY, "signal": _ANY,
    "threading": _ANY, "_thread": _ANY, "code": _ANY, "codeop": _ANY, "pdb": _ANY,
    "bdb": _ANY, "profile": _ANY, "cProfile": _ANY, "timeit": _ANY, "trace": _ANY,
    "pydoc": _ANY, "doctest": _ANY, "ensurepip": _ANY, "pip": _ANY, "venv": _ANY,
    "distutils": _ANY, "setuptools": _ANY, "idlelib": _ANY, "lib2to3": _ANY, "test": _ANY,
    "uuid": _ANY, "imaplib": _ANY, "_osx_support": _ANY, "_aix_support": _ANY,
    "_pyrepl": _ANY, "numpy.f2py": _ANY, "numpy.testing": _ANY,
    "types": frozenset({"CodeType", "FunctionType", "LambdaType", "MethodType", "ModuleType"}),
    "functools": frozenset({"partial", "reduce"}),
    "operator": frozenset({"attrgetter", "itemgetter", "methodcaller", "getitem"}),
    "_operator": frozenset({"attrgetter", "itemgetter", "methodcaller", "getitem"}),
    "logging": frozenset({"FileHandler"}),
    "torch.serialization": frozenset({"load"}),
    "torch.storage": frozenset({"_load_from_bytes"}),
    "torch._inductor.codecache": frozenset({"compile_file"}),
    "torch.jit.unsupported_tensor_ops": frozenset({"execWrapper"}),
    "torch.utils.collect_env": frozenset({"run"}),
    "torch._dynamo.guards": frozenset({"GuardBuilder.get"}),
}  # fmt: skip

# What real weights need: torch's own allowlist for `torch.load(weights_only=True)`
# (torch/_weights_only_unpickler.py `_get_allowed_globals`, torch 2.13), numpy's array
# reconstruction, plain containers, and TorchScript's own names (`__torch__.*` are classes of the
# archive's code/, resolved by TorchScript's C++ loader; torch.jit._pickle builds its lists).
SAFE_GLOBALS = frozenset(
    {
        "collections.OrderedDict", "collections.Counter", "collections.defaultdict",
        "torch.nn.parameter.Parameter", "torch.serialization._get_layout", "torch.Size",
        "torch.Tensor", "torch.device", "torch.storage.TypedStorage",
        "torch.storage.UntypedStorage", "torch._tensor._rebuild_from_type_v2",
        "_codecs.encode", "copy_reg._reconstructor", "copyreg._reconstructor",
        "numpy.ndarray", "numpy.dtype",
        "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
        *(
            f"{b}.{n}"
            for b in ("builtins", "__builtin__")
            for n in ("set", "frozenset", "complex", "bytearray", "bytes", "slice", "range",
                      "dict", "list", "tuple", "int", "float", "bool", "str")
        ),
        *(
            f"torch._utils.{n}"
            for n in ("_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_qtensor",
                      "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3",
                      "_rebuild_sparse_tensor", "_rebuild_meta_tensor_no_storage",
                      "_rebuild_nested_tensor", "_rebuild_wrapper_subclass",
                      "_rebuild_device_tensor_from_numpy",
                      "_rebuild_device_tensor_from_cpu_tensor")
        ),
    }
)  # fmt: skip
_SAFE_PATTERNS = re.compile(
    r"torch(\.cuda)?(\.sparse)?\.\w+(Storage|Tensor)"
    r"|torch\.(float|bfloat|int|uint|complex|qint|quint|bits)\w*|torch\.(bool|half|double|long)"
    r"|torch\.per_(tensor|channel)_\w+"
    r"|numpy\.dtypes\.\w+DType"
    r"|__torch__(\.\w+)*\.\w+|torch\.jit\._pickle\.\w+"
)
#: Functions that rebuild a tensor from (storage, offset, size, ...).
TENSOR_REBUILDERS = frozenset(
    {
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_qtensor",
    }
)
#: torch.<Name>Storage -> dtype name.
STORAGE_DTYPES = {
    "Float": "float32", "Half": "float16", "BFloat16": "bfloat16", "Double": "float64",
    "Long": "int64", "Int": "int32", "Short": "int16", "Char": "int8", "Byte": "uint8",
    "Bool": "bool", "ComplexFloat": "complex64", "ComplexDouble": "complex128",
    "QInt8": "qint8", "QUInt8": "quint8", "QInt32": "qint32", "QUInt4x2": "quint4x2",
    "QUInt2x4": "quint2x4",
}  # fmt: skip


def judge(module: str, name: str) -> Verdict:
    """SAFE for what weights need, UNSAFE for what runs code or touches the system, else UNKNOWN."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        rule = UNSAFE_GLOBALS.get(".".join(parts[:i]))
        if rule == _ANY:
            return Verdict.UNSAFE
        if (
            i == len(parts)
            and isinstance(rule, frozenset)
            and (name in rule or name.split(".", maxsplit=1)[0] in rule)
        ):
            return Verdict.UNSAFE
    dotted = f"{module}.{name}"
    if dotted in SAFE_GLOBALS or _SAFE_PATTERNS.fullmatch(dotted):
        return Verdict.SAFE
    return Verdict.UNKNOWN


# ---------------------------------------------------------------------------------------------
# a forward-only byte source
# ---------------------------------------------------------------------------------------------


class PickleError(Exception):
    """The bytes are not a well-formed pickle (at `ByteSource.pos`)."""


class ByteSource:
    """Forward-only reads over chunks, counting the position; skips without keeping bytes."""

    def __init__(self, chunks: Iterator[bytes], size: int | None = None) -> None:
        self._chunks = chunks
        self._buf = b""
        self._at = 0
        self.pos = 0
        #: Where the data ends, when known: a longer argument is refused before it is skipped.
        self.size = size
        #: With `keep_tail` set, the last `keep_tail` bytes that went past (a zip's end record).
        self.keep_tail = 0
        self.tail = b""

    def _fill(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                if self.keep_tail:
                    joined = chunk if len(chunk) >= self.keep_tail else self.tail + chunk
                    self.tail = joined[-self.keep_tail :]
                # No copy when the buffer is used up (skipping tensor data): a fresh megabyte
                # buffer per chunk costs more than the search through it.
                rest = self._buf[self._at :] if self._at < len(self._buf) else b""
                self._buf = rest + chunk if rest else chunk
                self._at = 0
                return True
        return False

    def start_tail(self, n: int) -> None:
        """From now on keep the last `n` bytes of the data in `tail` (what is buffered counts)."""
        self.keep_tail = n
        self.tail = self._buf[self._at :][-n:]

    def read(self, n: int) -> bytes:
        """Exactly `n` bytes, or fewer at the end of the data."""
        while len(self._buf) - self._at < n and self._fill():
            pass
        data = self._buf[self._at : self._at + n]
        self._at += len(data)
        self.pos += len(data)
        return data

    def peek(self, n: int) -> bytes:
        while len(self._buf) - self._at < n and self._fill():
            pass
        return self._buf[self._at : self._at + n]

    def readline(self, limit: int = MAX_LINE) -> bytes:
        """Up to and including the next newline; PickleError past `limit` bytes or at the end."""
        while True:
            end = self._buf.find(b"\n", self._at)
            if end >= 0:
                return self.read(end + 1 - self._at)
            if len(self._buf) - self._at > limit or not self._fill():
                raise PickleError("a line that does not end")

    def skip(self, n: int) -> int:
        """Drop `n` bytes without keeping them; return how many there were."""
        done = 0
        while done < n:
            have = len(self._buf) - self._at
            if not have:
                if not self._fill():
                    break
                continue
            take = min(have, n - done)
            self._at += take
            done += take
        self.pos += done
        return done

    def unread(self, data: bytes) -> None:
        """Put back bytes just read (what an inflater read past the end of its stream)."""
        self._buf = data + self._buf[self._at :]
        self._at = 0
        self.pos -= len(data)

    def find(self, needle: bytes) -> int:
        """Skip to the next occurrence of `needle` (left unread); -1 if none before the end."""
        while True:
            hit = self._buf.find(needle, self._at)
            if hit >= 0:
                self.skip(hit - self._at)
                return self.pos
            # Keep the last bytes, which may begin a match that the next chunk completes.
            keep = max(self._at, len(self._buf) - len(needle) + 1)
            self.pos += keep - self._at
            self._at = keep
            if not self._fill():
                return -1

    def at_end(self) -> bool:
        return not self.peek(1)


def stream_chunks(stream: IO[bytes], size: int = READ_CHUNK) -> Iterator[bytes]:
    while chunk := stream.read(size):
        yield chunk


# ---------------------------------------------------------------------------------------------
# the walk
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """A callable the pickle imports; `module`/`name` are None when computed at load time."""

    module: Optional[str]
    name: Optional[str]
    opcode: str
    pos: int

    @property
    def dotted(self) -> str:
        if self.module is None or self.name is None:
            return "<computed at load time>"
        return f"{self.module}.{self.name}"

    @property
    def verdict(self) -> Verdict:
        if self.module is None or self.name is None:
            return Verdict.UNSAFE
        if self.opcode.startswith("EXT"):
            return Verdict.UNKNOWN
        return judge(self.module, self.name)


@dataclass(frozen=True)
class _Global:
    module: str
    name: str


@dataclass(frozen=True)
class _Storage:
    dtype: str
    numel: int | None
    key: object


class _Sym(Enum):
    UNKNOWN = "?"
    MARK = "mark"


@dataclass
class PickleScan:
    """What one pickle asks for, found without running it."""

    protocol: int = 0
    imports: list[Import] = field(default_factory=list)
    #: storage key -> (dtype, element count); torch pickles only.
    storages: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    tensors: int = 0
    parameters: int = 0
    dtypes: set[str] = field(default_factory=set)
    #: Why the walk stopped before STOP, or None when it reached STOP.
    error: str | None = None
    start: int = 0
    end: int = 0

    @property
    def complete(self) -> bool:
        return self.error is None


_LEN_PREFIX = {
    pickletools.TAKEN_FROM_ARGUMENT1: (1, False),
    pickletools.TAKEN_FROM_ARGUMENT4: (4, True),
    pickletools.TAKEN_FROM_ARGUMENT4U: (4, False),
    pickletools.TAKEN_FROM_ARGUMENT8U: (8, False),
}
_STRINGISH = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING",
     "SHORT_BINSTRING"}
)  # fmt: skip
_SCALARS = frozenset(
    {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT"}
)  # fmt: skip
_CONST_PUSH = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False, "EMPTY_TUPLE": ()}
_TUPLE_N = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}


# Reading an opcode's argument: one reader per kind of argument, chosen once per opcode.

_ArgReader = Callable[[ByteSource, pickletools.OpcodeInfo], object]


def _no_arg(src: ByteSource, op: pickletools.OpcodeInfo) -> object:
    return None


def _read_name_pair(src: ByteSource, op: pickletools.OpcodeInfo) -> object:
    """GLOBAL's and INST's two lines, module and name."""
    module = src.readline()
    name = src.readline()
    return (module[:-1].decode("utf-8", "replace"), name[:-1].decode("utf-8", "replace"))


def _read_fixed(src: ByteSource, op: pickletools.OpcodeInfo) -> object:
    """An argument of a fixed width."""
    assert op.arg is not None
    n = op.arg.n
    raw = src.read(n)
    if len(raw) != n:
        raise PickleError("truncated")
    return _decode(op, raw)


def _read_line(src: ByteSource, op: pickletools.OpcodeInfo) -> object:
    """A protocol-0 argument, up to the newline."""
    return _decode(op, src.readline())


def _read_counted(src: ByteSource, op: pickletools.OpcodeInfo) -> object:
    """An argument after its length; a long one is skipped (UNKNOWN) so memory stays flat."""
    assert op.arg is not None
    width, signed = _LEN_PREFIX[op.arg.n]
    prefix = src.read(width)
    if len(prefix) != width:
        raise PickleError("truncated")
    length = int.from_bytes(prefix, "little", signed=signed)
    if length < 0 or (src.size is not None and src.pos + length > src.size):
        raise PickleError(f"a {op.name} argument of {length} bytes, past the end of the data")
    if length > MAX_KEPT_ARG:
        if src.skip(length) != length:
            raise PickleError("truncated")
        return _Sym.UNKNOWN
    data = src.read(length)
    if len(data) != length:
        raise PickleError("truncated")
    return _decode(op, prefix + data)


def _decode(op: pickletools.OpcodeInfo, raw: bytes) -> object:
    """The argument's raw bytes decoded by pickletools' own reader."""
    assert op.arg is not None
    try:
        # pickletools decodes STRING arguments with codecs.escape_decode, which warns
        # about escapes a hostile or corrupt pickle may hold: the decoded value is all we need.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return op.arg.reader(io.BytesIO(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        raise PickleError(f"a bad {op.name} argument ({exc})") from None


def _arg_reader(op: pickletools.OpcodeInfo) -> _ArgReader:
    """How to read `op`'s argument."""
    if op.arg is None:
        return _no_arg
    if op.name in ("GLOBAL", "INST"):
        return _read_name_pair
    if op.arg.n >= 0:
        return _read_fixed
    if op.arg.n == pickletools.UP_TO_NEWLINE:
        return _read_line
    return _read_counted


class _Walk:
    """The symbolic stack machine of one pickle.

    Each `op_*` method applies one opcode (or a family) to the stack and the memo; `_APPLY` maps
    opcode names to them and every other opcode goes through `generic`. Only STOP returns True.
    """

    def __init__(self, src: ByteSource) -> None:
        self.src = src
        self.stack: list[object] = []
        self.memo: dict[int, object] = {}
        self.scan = PickleScan(start=src.pos)

    def pop(self, n: int = 1) -> list[object]:
        if n > len(self.stack) or _Sym.MARK in self.stack[len(self.stack) - n :]:
            raise PickleError("the stack underflows")
        if n == 0:
            return []
        items = self.stack[-n:]
        del self.stack[-n:]
        return items

    def pop_mark(self) -> list[object]:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i] is _Sym.MARK:
                items = self.stack[i + 1 :]
                del self.stack[i:]
                return items
        raise PickleError("no MARK on the stack")

    def top(self) -> object:
        if not self.stack or self.stack[-1] is _Sym.MARK:
            raise PickleError("the stack is empty")
        return self.stack[-1]

    def add_import(self, module: object, name: object, opcode: str, pos: int) -> _Global | _Sym:
        ok = isinstance(module, str) and isinstance(name, str)
        self.scan.imports.append(
            Import(module if ok else None, name if ok else None, opcode, pos)  # type: ignore[arg-type]
        )
        return _Global(module, name) if ok else _Sym.UNKNOWN  # type: ignore[arg-type]

    def persid(self, pid: object) -> object:
        if (
            isinstance(pid, tuple)
            and len(pid) >= 5
            and pid[0] == "storage"
            and isinstance(pid[1], _Global)
        ):
            kind = pid[1].name.removesuffix("Storage")
            dtype = STORAGE_DTYPES.get(kind, kind.lower() or "untyped")
            numel = pid[4] if isinstance(pid[4], int) else None
            self.scan.storages[str(pid[2])] = (dtype, numel)
            return _Storage(dtype, numel, pid[2])
        return _Sym.UNKNOWN

    def reduce(self, func: object, args: object) -> None:
        if not (isinstance(func, _Global) and f"{func.module}.{func.name}" in TENSOR_REBUILDERS):
            return
        self.scan.tensors += 1
        if not isinstance(args, tuple) or len(args) < 3:
            return
        storage, size = args[0], args[2]
        if isinstance(storage, _Storage):
            self.scan.dtypes.add(storage.dtype)
        if isinstance(size, tuple) and all(isinstance(d, int) for d in size):
            count = 1
            for d in size:
                count *= d
            self.scan.parameters += count

    def op_stop(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> bool:
        self.pop()
        return True

    def op_proto(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        self.scan.protocol = int(arg)  # type: ignore[call-overload]

    def op_frame(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        """Framing only groups the opcodes that follow: nothing to do."""

    def op_value(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        """A string or a number: kept, as module and attribute names travel as strings."""
        self.stack.append(
            arg if isinstance(arg, (str, int, float)) or arg is None else _Sym.UNKNOWN
        )

    def op_const(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        self.stack.append(_CONST_PUSH[op.name])

    def op_mark(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        self.stack.append(_Sym.MARK)

    def op_tuple(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        self.stack.append(tuple(self.pop_mark()))

    def op_tuple_n(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        self.stack.append(tuple(self.pop(_TUPLE_N[op.name])))

    def op_put(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        self.memo[int(arg)] = self.top()  # type: ignore[call-overload]

    def op_memoize(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        self.memo[len(self.memo)] = self.top()

    def op_get(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        if int(arg) not in self.memo:  # type: ignore[call-overload]
            raise PickleError(f"memo key {arg} is not set")
        self.stack.append(self.memo[int(arg)])  # type: ignore[call-overload]

    def op_dup(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        self.stack.append(self.top())

    def op_global(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        assert isinstance(arg, tuple)
        self.stack.append(self.add_import(arg[0], arg[1], op.name, pos))

    def op_stack_global(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        module, attr = self.pop(2)
        self.stack.append(self.add_import(module, attr, op.name, pos))

    def op_inst(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        assert isinstance(arg, tuple)
        self.add_import(arg[0], arg[1], op.name, pos)
        self.pop_mark()
        self.stack.append(_Sym.UNKNOWN)

    def op_ext(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        """A callable from the copyreg extension registry: which one is known at load time only."""
        self.add_import("copyreg extension", str(arg), op.name, pos)
        self.stack.append(_Sym.UNKNOWN)

    def op_binpersid(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        self.stack.append(self.persid(self.pop()[0]))

    def op_reduce(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        func, args = self.pop(2)
        self.reduce(func, args)
        self.stack.append(_Sym.UNKNOWN)

    def generic(self, op: pickletools.OpcodeInfo, arg: object, pos: int) -> None:
        """Any other opcode: pop what it consumes, push an UNKNOWN for each thing it makes."""
        before = op.stack_before
        if pickletools.markobject in before:
            self.pop_mark()
            self.pop(before.index(pickletools.markobject))
        else:
            self.pop(len(before))
        self.stack.extend(_Sym.UNKNOWN for _ in op.stack_after)


_Apply = Callable[[_Walk, pickletools.OpcodeInfo, object, int], Optional[bool]]
_APPLY: dict[str, _Apply] = {
    "STOP": _Walk.op_stop,
    "PROTO": _Walk.op_proto,
    "FRAME": _Walk.op_frame,
    **dict.fromkeys(_STRINGISH | _SCALARS, _Walk.op_value),
    **dict.fromkeys(_CONST_PUSH, _Walk.op_const),
    "MARK": _Walk.op_mark,
    "TUPLE": _Walk.op_tuple,
    **dict.fromkeys(_TUPLE_N, _Walk.op_tuple_n),
    **dict.fromkeys(("PUT", "BINPUT", "LONG_BINPUT"), _Walk.op_put),
    "MEMOIZE": _Walk.op_memoize,
    **dict.fromkeys(("GET", "BINGET", "LONG_BINGET"), _Walk.op_get),
    "DUP": _Walk.op_dup,
    "GLOBAL": _Walk.op_global,
    "STACK_GLOBAL": _Walk.op_stack_global,
    "INST": _Walk.op_inst,
    **dict.fromkeys(("EXT1", "EXT2", "EXT4"), _Walk.op_ext),
    "BINPERSID": _Walk.op_binpersid,
    "REDUCE": _Walk.op_reduce,
}
#: opcode byte -> (opcode, how to read its argument, how to apply it): looked up once per opcode.
_OPS: dict[bytes, tuple[pickletools.OpcodeInfo, _ArgReader, _Apply]] = {
    op.code.encode("latin-1"): (op, _arg_reader(op), _APPLY.get(op.name, _Walk.generic))
    for op in pickletools.opcodes
}


def scan_pickle(src: ByteSource) -> PickleScan:
    """Walk one pickle from `src`'s position to its STOP (left just after it); never raises for
    bad data: `error` says why the walk stopped early."""
    walk = _Walk(src)
    try:
        while True:
            pos = src.pos
            code = src.read(1)
            if not code:
                raise PickleError("the data ends before STOP")
            entry = _OPS.get(code)
            if entry is None:
                raise PickleError(f"unknown opcode {code!r}")
            op, read_arg, apply = entry
            if apply(walk, op, read_arg(src, op), pos):
                break
    except PickleError as exc:
        walk.scan.error = f"{exc} at byte {src.pos}"
    walk.scan.end = src.pos
    return walk.scan


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def plausible(imp: Import) -> bool:
    """An import whose module and name are Python identifiers (not bytes that happened to
    follow a GLOBAL opcode in a file that is not a pickle)."""
    return imp.module is None or bool(
        _IDENTIFIER.fullmatch(imp.module) and _IDENTIFIER.fullmatch(imp.name or "")
    )


def looks_like_pickle(head: bytes) -> bool:
    """Protocol 2+ pickles start with PROTO; 0 and 1 have no magic (see `scan_pickle`)."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


__all__ = [
    "ByteSource",
    "Import",
    "PickleScan",
    "Verdict",
    "judge",
    "looks_like_pickle",
    "plausible",
    "scan_pickle",
]
