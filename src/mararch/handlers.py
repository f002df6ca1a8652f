"""Handler specs: a built-in name, or `path/to/module[.py][:function]` naming a file to package;
where the server finds a manifest's handler, and what a handler module defines (parsed, never
imported)."""

from __future__ import annotations

import ast
import difflib
import os
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path, PurePath

from .plans import Runtime

#: TorchServe's built-in Python handlers (ts.torch_handler.<name>), as its archiver knows them.
BUILTIN_HANDLERS: tuple[str, ...] = (
    "base_handler",
    "dali_image_classifier",
    "image_classifier",
    "image_segmenter",
    "object_detector",
    "text_classifier",
    "trt_llm_handler",
    "vllm_handler",
)
#: The C++ backend's built-in handlers (runtime LSP).
LSP_BUILTIN_HANDLERS: tuple[str, ...] = ("BaseHandler", "TorchScriptHandler")


@dataclass(frozen=True)
class HandlerSpec:
    """A resolved handler: the manifest value, and the file to package (None for built-ins)."""

    manifest_value: str
    file: Path | None
    function: str | None

    @property
    def builtin(self) -> bool:
        return self.file is None


def split_function(raw: str) -> tuple[str, str | None]:
    """Split `module:function`; the colon of a Windows drive letter is not a separator."""
    head, sep, tail = raw.rpartition(":")
    if not sep or not tail or "/" in tail or "\\" in tail or (len(head) == 1 and head.isalpha()):
        return raw, None
    return head, tail


def shared_library_suffix(platform: str = sys.platform) -> str:
    return ".dylib" if platform.startswith("darwin") else ".so"


def resolve_handler(raw: str, runtime: Runtime, platform: str = sys.platform) -> HandlerSpec:
    """Resolve `--handler` the way torch-model-archiver does, without touching the disk."""
    # The manifest keeps the user's string minus any folder, as the reference archiver writes it.
    manifest_value = os.path.basename(raw)
    builtins = LSP_BUILTIN_HANDLERS if runtime is Runtime.LSP else BUILTIN_HANDLERS
    if raw in builtins:
        return HandlerSpec(raw, None, None)
    module, function = split_function(raw)
    if runtime is Runtime.LSP:
        suffix = shared_library_suffix(platform)
        path = module if module.endswith((".so", ".dylib")) else module + suffix
    else:
        path = module if module.endswith(".py") else module + ".py"
    return HandlerSpec(manifest_value, Path(path), function)


def builtin_suggestion(raw: str, runtime: Runtime) -> str | None:
    """A built-in handler name close to `raw`, for "did you mean" hints."""
    builtins = LSP_BUILTIN_HANDLERS if runtime is Runtime.LSP else BUILTIN_HANDLERS
    stem = split_function(PurePath(raw).name)[0].removesuffix(".py")
    match = difflib.get_close_matches(stem, builtins, n=1, cutoff=0.75)
    return match[0] if match else None


class HandlerOrigin(str, Enum):
    """Where the server finds a handler: a file in the archive, a built-in, or nowhere."""

    ARCHIVE = "archive"
    BUILTIN = "builtin"
    MISSING = "missing"


def handler_origin(
    handler: str, runtime: str | None, names: set[str]
) -> tuple[HandlerOrigin, str | None]:
    """Resolve a manifest handler the way the server does: a module in the model folder first
    (`module[:function]`, any folder and `.py` suffix dropped), then the built-ins."""
    module = split_function(handler)[0].rsplit("/", 1)[-1]
    lsp = runtime == "LSP"
    if lsp:
        candidates = [module, module + ".so", module + ".dylib"]
    else:
        module = module.removesuffix(".py")
        path = module.replace(".", "/")
        candidates = [path + ".py", path + "/__init__.py"]
    for candidate in candidates:
        if candidate in names:
            return HandlerOrigin.ARCHIVE, candidate
    builtins = LSP_BUILTIN_HANDLERS if lsp else BUILTIN_HANDLERS
    if module in builtins:
        return HandlerOrigin.BUILTIN, None
    return HandlerOrigin.MISSING, None


def module_names(tree: ast.Module) -> tuple[set[str], list[ast.ClassDef], bool]:
    """Names bound at module level, the classes defined there, and whether `import *` is used."""
    names: set[str] = set()
    classes: list[ast.ClassDef] = []
    star = False
    stack: list[ast.stmt] = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        bound, starred = _bound_names(node)
        names |= bound
        star = star or starred
        if isinstance(node, ast.ClassDef):
            classes.append(node)
        for block in _nested_blocks(node):
            stack.extend(reversed(block))
    return names, classes, star


def _bound_names(node: ast.stmt) -> tuple[set[str], bool]:
    """The names one statement binds, and whether it is an `import *`."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}, False
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        named = {a.asname or a.name.split(".")[0] for a in node.names if a.name != "*"}
        return named, any(a.name == "*" for a in node.names)
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}, False
    return set(), False


def _nested_blocks(node: ast.stmt) -> list[list[ast.stmt]]:
    """The statements inside a module-level if/try/with/for block: what they define is a module
    attribute too (a function's or class's body is not)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return []
    blocks: list[list[ast.stmt]] = []
    for attr in ("body", "orelse", "finalbody", "handlers"):
        children = getattr(node, attr, None)
        if isinstance(children, list):
            blocks.append([c for c in children if isinstance(c, ast.stmt)])
            blocks += [h.body for h in children if isinstance(h, ast.ExceptHandler)]
    return blocks
