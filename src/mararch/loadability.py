"""Will TorchServe load these weights? The rules of TorchServe 0.12's
`ts/torch_handler/base_handler.py` (`BaseHandler.initialize`), which every built-in handler runs:

- with `modelFile`: the module is imported and must define exactly one class
  (`list_classes_from_module`), which is built with no arguments; the serialized file is then read
  with `torch.load` and given to `load_state_dict`, so it must be a torch state_dict;
- without `modelFile`: a serialized file ending in `.pt` is read with `torch.jit.load`
  (TorchScript only), `.onnx` with onnxruntime (when installed), `.so` only with
  `pt2: {export: {aot_compile: true}}` in model-config.yaml; anything else fails with
  "No model weights could be loaded", and no serialized file at all with an AttributeError.

The handler, the model file and the config are parsed (ast, safe YAML), never imported.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from .errors import Finding, Severity
from .handlers import HandlerOrigin, handler_origin, split_function
from .weights import WeightsFormat, WeightsInfo, pickle_findings

if TYPE_CHECKING:
    from .checks import ReadMember

#: Handler and model files larger than this are not parsed.
MAX_SOURCE = 8 << 20
#: TorchServe's handler classes whose `initialize` is BaseHandler's.
BASE_HANDLER_CLASSES = frozenset(
    {"BaseHandler", "VisionHandler", "ImageClassifier", "ImageSegmenter", "ObjectDetector",
     "TextHandler", "TextClassifier", "DenseNetHandler"}
)  # fmt: skip
NOT_A_STATE_DICT = {
    WeightsFormat.SAFETENSORS: "a safetensors file (torch.load cannot read it)",
    WeightsFormat.ONNX: "an ONNX model (torch.load cannot read it)",
    WeightsFormat.TORCHSCRIPT: "TorchScript (torch.load returns a module, not a state_dict)",
}


def _error(code: str, message: str, member: str | None) -> Finding:
    return Finding(Severity.ERROR, code, message, member)


def _parse(data: bytes | None) -> ast.Module | None:
    if data is None:
        return None
    try:
        return ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # the handler checks report a handler that does not parse


def _calls_base_initialize(func: ast.AST) -> bool:
    """`super().initialize(...)` (or `BaseHandler.initialize(self, ...)`) inside `func`."""
    for node in ast.walk(func):
        if isinstance(node, ast.Attribute) and node.attr == "initialize":
            target = node.value
            if isinstance(target, ast.Call) and getattr(target.func, "id", None) == "super":
                return True
            if isinstance(target, ast.Name) and target.id in BASE_HANDLER_CLASSES:
                return True
    return False


def runs_base_initialize(handler: str, runtime: str, names: set[str], read: ReadMember) -> bool:
    """Whether the handler loads the model with BaseHandler.initialize: a built-in handler, or
    a handler class derived from one that keeps or calls its `initialize`."""
    origin, member = handler_origin(handler, runtime, names)
    if origin is HandlerOrigin.BUILTIN:
        return True
    if member is None or not member.endswith(".py") or split_function(handler)[1] is not None:
        return False
    tree = _parse(read(member, MAX_SOURCE))
    if tree is None:
        return False
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        bases = {getattr(b, "id", getattr(b, "attr", None)) for b in cls.bases}
        if not bases & BASE_HANDLER_CLASSES:
            continue
        own = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "initialize"]
        if not own or any(_calls_base_initialize(f) for f in own):
            return True
    return False


def model_classes(tree: ast.Module) -> list[str]:
    """Classes a module defines at its top level (inside top-level if/try/with too), as
    `inspect.getmembers` would list them after import."""
    found: list[str] = []
    blocks: list[list[ast.stmt]] = [tree.body]
    while blocks:
        for node in blocks.pop():
            if isinstance(node, ast.ClassDef):
                found.append(node.name)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                blocks.append(node.body)
                blocks.append(getattr(node, "orelse", []))
                blocks.append(getattr(node, "finalbody", []))
                for h in getattr(node, "handlers", []):
                    blocks.append(h.body)
    return list(dict.fromkeys(found))


def _aot_compile(config: dict[str, Any] | None) -> bool:
    pt2 = (config or {}).get("pt2")
    export = pt2.get("export") if isinstance(pt2, dict) else None
    return isinstance(export, dict) and export.get("aot_compile") is True


def loadability_findings(
    manifest: dict[str, Any],
    names: set[str],
    read: ReadMember,
    infos: dict[str, WeightsInfo],
    config: dict[str, Any] | None = None,
) -> list[Finding]:
    """The base_handler rules for a TorchServe manifest (see the module's docstring)."""
    model = manifest.get("model")
    model = model if isinstance(model, dict) else {}
    handler, runtime = model.get("handler"), str(manifest.get("runtime"))
    serialized, model_file = model.get("serializedFile"), model.get("modelFile")
    if not isinstance(handler, str) or not isinstance(serialized, (str, type(None))):
        return []  # reported by the manifest checks
    info = infos.get(serialized) if serialized else None
    fmt = info.format if info is not None else None
    if runtime not in ("python", "python3") or not runs_base_initialize(
        handler, runtime, names, read
    ):
        return _custom_handler_findings(handler, serialized, fmt)
    why = f"the handler {handler!r} loads the model with TorchServe's BaseHandler.initialize"
    if isinstance(model_file, str) and model_file:
        return _model_file_findings(model_file, serialized, fmt, why, read)
    if not serialized:
        # Only noted: archives without weights are common as templates and in tests.
        return [
            Finding(
                Severity.INFO,
                "weights-missing",
                f"neither model.serializedFile nor model.modelFile; {why}, which then fails "
                "(AttributeError on the missing path): give --serialized-file",
                "MAR-INF/MANIFEST.json",
            )
        ]
    return _serialized_only_findings(serialized, fmt, why, config)


def _custom_handler_findings(
    handler: str, serialized: str | None, fmt: WeightsFormat | None
) -> list[Finding]:
    """A handler with its own loading: only safetensors weights are worth a word."""
    if fmt is WeightsFormat.SAFETENSORS or str(serialized).endswith(".safetensors"):
        return [
            Finding(
                Severity.WARNING,
                "weights-not-loadable",
                "a safetensors file: TorchServe's BaseHandler cannot load it, so the "
                f"custom handler {handler!r} must (safetensors.torch.load_file)",
                serialized,
            )
        ]
    return []


def _model_file_findings(
    model_file: str, serialized: str | None, fmt: WeightsFormat | None, why: str, read: ReadMember
) -> list[Finding]:
    """With a model file: exactly one class in it, and a state_dict for `torch.load`."""
    out = []
    tree = _parse(read(model_file, MAX_SOURCE)) if model_file.endswith(".py") else None
    classes = model_classes(tree) if tree is not None else None
    if classes is not None and len(classes) != 1:
        out.append(
            _error(
                "model-file-classes",
                f"defines {len(classes)} classes ({', '.join(classes) or 'none'}); {why}, "
                "which needs exactly one class in the model file ('Expected only one class "
                "as model definition'): move the others to another module",
                model_file,
            )
        )
    if fmt is WeightsFormat.SAFETENSORS and str(serialized).endswith(".safetensors"):
        # torch.load reads a path ending in .safetensors through the safetensors package
        # (torch 2.13 does; older torch does not), which TorchServe does not install.
        out.append(
            Finding(
                Severity.WARNING,
                "weights-not-loadable",
                f"a safetensors file; with a model file, {why}: torch.load, which reads it "
                "only with a recent torch (2.13 does) and the safetensors package installed "
                "on the server ('safetensors is not installed' otherwise); a "
                "torch.save(model.state_dict()) file loads everywhere",
                serialized,
            )
        )
    elif fmt in NOT_A_STATE_DICT:
        out.append(
            _error(
                "weights-not-loadable",
                f"{NOT_A_STATE_DICT[fmt]}; with a model file, {why}: torch.load then "
                "load_state_dict; give a torch.save(model.state_dict()) file",
                serialized,
            )
        )
    return out


def _serialized_only_findings(
    serialized: str, fmt: WeightsFormat | None, why: str, config: dict[str, Any] | None
) -> list[Finding]:
    """Without a model file the serialized file's suffix picks the loader: `.pt` TorchScript,
    `.onnx` onnxruntime, `.so` an AOT-compiled model; nothing else loads."""
    # Unrecognized content (no format mararch knows) is only noted: mararch cannot be sure.
    severity = Severity.ERROR if fmt is not None or serialized.endswith(".so") else Severity.INFO
    if serialized.endswith(".pt"):
        if fmt is WeightsFormat.TORCHSCRIPT:
            return []
        what = f"is {fmt.value}" if fmt is not None else "is not recognized as a torch file"
        return [
            Finding(
                severity,
                "weights-not-loadable",
                f"without a model file, {why}: torch.jit.load, which needs TorchScript, but "
                f"the file {what}: add --model-file, or save it with torch.jit.save",
                serialized,
            )
        ]
    if serialized.endswith(".onnx"):
        return [
            Finding(
                Severity.INFO,
                "weights-onnx",
                "loaded with onnxruntime: TorchServe needs onnxruntime and psutil installed, "
                "or fails with 'No model weights could be loaded'",
                serialized,
            )
        ]
    if serialized.endswith(".so") and _aot_compile(config):
        return []
    hint = (
        "set pt2: {export: {aot_compile: true}} in model-config.yaml"
        if serialized.endswith(".so")
        else "name TorchScript '.pt', or add --model-file for a state_dict"
    )
    return [
        Finding(
            severity,
            "weights-not-loadable",
            f"without a model file, {why}, which loads only '.pt' (TorchScript), '.onnx' and "
            f"'.so' (AOT-compiled) files and fails with 'No model weights could be loaded': "
            f"{hint}",
            serialized,
        )
    ]


def _config(model: dict[str, Any], read: ReadMember) -> dict[str, Any] | None:
    from . import modelconfig

    name = model.get("configFile")
    data = read(name, modelconfig.MAX_CONFIG_SIZE) if isinstance(name, str) else None
    if data is None:
        return None
    try:
        config = modelconfig.load(data)
    except modelconfig.ConfigParseError:
        return None  # reported by the config checks
    return config if isinstance(config, dict) else None


def weights_findings(
    manifest: dict[str, Any] | None,
    torchserve: bool,
    names: set[str],
    read: ReadMember,
    infos: dict[str, WeightsInfo],
) -> list[Finding]:
    """Every member's pickle findings, then (for TorchServe) the base_handler rules."""
    out = [f for info in infos.values() for f in pickle_findings(info)]
    if manifest is not None and torchserve:
        model = manifest.get("model")
        config = _config(model, read) if isinstance(model, dict) else None
        out += loadability_findings(manifest, names, read, infos, config)
    return out


__all__ = ["loadability_findings", "model_classes", "runs_base_initialize", "weights_findings"]
