"""A workflow's spec file (its YAML `models` and `dag`) checked as TorchServe 0.12 reads it.

TorchServe's `WorkFlow` constructor casts the `models` globals and each model's overrides to Java
`int`, reads each model's `url`, and turns every `dag` node that is not a model into a function
`<handler>:<node>` of the workflow's handler; `Dag.addEdge` refuses self loops and two-node loops,
and `Dag.validate` wants exactly one start node and a topological order covering every node.
Each of those failures is a finding here, found by parsing (YAML safely, the handler with `ast`),
never by running anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from . import modelconfig
from .errors import Finding, Severity

#: The `models` keys TorchServe reads as globals (and, per model, as overrides), cast to int.
INT_KEYS = (
    "min-workers",
    "max-workers",
    "batch-size",
    "max-batch-delay",
    "retry-attempts",
    "timeout-ms",
)
#: Keys of one model's table that TorchServe reads.
MODEL_KEYS = ("url", *INT_KEYS)
#: Larger spec files (and workflow handlers) are not parsed (a real spec is well under 4 KiB).
MAX_SPEC_SIZE = 1 << 20
#: The prefixes of a model url TorchServe downloads instead of reading from its model store.
REMOTE_PREFIXES = ("http://", "https://", "s3://", "file://")


@dataclass(frozen=True)
class WorkflowSpec:
    """What a spec file declares: model nodes (name -> url), the dag's edges, function nodes."""

    models: dict[str, str] = field(default_factory=dict)
    edges: dict[str, list[str]] = field(default_factory=dict)
    functions: tuple[str, ...] = ()


def _error(code: str, message: str, member: str) -> Finding:
    return Finding(Severity.ERROR, code, message, member)


def _warning(code: str, message: str, member: str) -> Finding:
    return Finding(Severity.WARNING, code, message, member)


def _kind(value: object) -> str:
    kinds = {list: "a list", dict: "a mapping", type(None): "empty (null)"}
    return kinds.get(type(value)) or modelconfig.type_name(value)


def _int_problem(where: str, value: object) -> str | None:
    """Why TorchServe's `(int)` cast of `value` fails, or None when it succeeds."""
    if not modelconfig.is_int(value):
        shown = repr(value) if isinstance(value, (str, float, bool)) else _kind(value)
        return f"{where} is {shown}: TorchServe casts it to an int and fails (write a number)"
    if not -(2**31) <= value <= modelconfig.JAVA_INT_MAX:
        return f"{where} is {value}: out of Java's int range"
    return None


def _models(models: object, member: str, out: list[Finding]) -> dict[str, str]:
    """The model nodes of `models` (name -> url); globals and overrides checked on the way."""
    if not isinstance(models, dict):
        what = "missing" if models is None else f"{_kind(models)}, not a mapping"
        out.append(
            _error(
                "workflow-models",
                f"'models' is {what}: TorchServe fails on it (give 'models:' with the "
                "workflow's models, each with a url)",
                member,
            )
        )
        return {}
    found: dict[str, str] = {}
    for key, value in models.items():
        name = str(key)
        if name in INT_KEYS:
            if (problem := _int_problem(f"models.{name}", value)) is not None:
                out.append(_error("workflow-int", problem, member))
            continue
        if not isinstance(value, dict):
            out.append(
                _error(
                    "workflow-model",
                    f"models.{name} is {_kind(value)}: TorchServe expects a mapping with a url "
                    "(and optional worker settings)",
                    member,
                )
            )
            continue
        out += _model_key_findings(name, value, member)
        url = _model_url(name, value.get("url"), member, out)
        if url is not None:
            found[name] = url
        found.setdefault(name, "")
    return found


def _model_key_findings(name: str, model: dict[object, object], member: str) -> list[Finding]:
    """One model's table: its worker overrides cast to int, and no key TorchServe ignores."""
    out: list[Finding] = []
    for sub, sub_value in model.items():
        if sub in INT_KEYS and (p := _int_problem(f"models.{name}.{sub}", sub_value)):
            out.append(_error("workflow-int", p, member))
        elif sub not in MODEL_KEYS:
            out.append(
                _warning(
                    "workflow-unknown-key",
                    f"models.{name}.{sub} is not read by TorchServe (known keys: "
                    f"{', '.join(MODEL_KEYS)})",
                    member,
                )
            )
    return out


def _model_url(name: str, url: object, member: str, out: list[Finding]) -> str | None:
    """A model's url when TorchServe can register it from there, else None (after a finding)."""
    if not isinstance(url, str) or not url.strip():
        out.append(
            _error(
                "workflow-model-url",
                f"models.{name} has no url (a string such as '{name}.mar'): TorchServe "
                "cannot register it",
                member,
            )
        )
        return None
    if ".." in url:
        out.append(
            _error(
                "workflow-model-url",
                f"models.{name}.url {url!r} contains '..': TorchServe refuses relative paths",
                member,
            )
        )
        return None
    return url


def _edges(dag: object, member: str, out: list[Finding]) -> dict[str, list[str]] | None:
    """The dag as node -> successors, or None (after a finding) when TorchServe cannot read it."""
    if not isinstance(dag, dict) or not dag:
        what = "missing" if dag is None else "empty" if dag == {} else f"{_kind(dag)}"
        out.append(
            _error(
                "workflow-dag",
                f"'dag' is {what}: TorchServe needs a mapping of node -> list of next nodes",
                member,
            )
        )
        return None
    edges: dict[str, list[str]] = {}
    ok = True
    for key, value in dag.items():
        node = str(key)
        if not isinstance(value, list):
            what = f"is {_kind(value)}"
        elif bad := [v for v in value if v is not None and not isinstance(v, str)]:
            what = f"lists {bad[0]!r} ({_kind(bad[0])})"
        else:
            # TorchServe skips null and blank names.
            edges[node] = [v for v in value if v is not None and v.strip()]
            continue
        out.append(
            _error(
                "workflow-dag",
                f"dag.{node} {what}: TorchServe expects a list of node names "
                f"(e.g. {node}: [next_node], or {node}: [] for the last node)",
                member,
            )
        )
        ok = False
    return edges if ok else None


def _graph_findings(edges: Mapping[str, list[str]], member: str) -> list[Finding]:
    """Dag.addEdge's and Dag.validate's rules: no loops, one start node, a topological order
    of every node."""
    out: list[Finding] = []
    nodes = list(dict.fromkeys([*edges, *(t for targets in edges.values() for t in targets)]))
    incoming: dict[str, set[str]] = {n: set() for n in nodes}
    for source, targets in edges.items():
        for target in {t for t in targets if targets.count(t) > 1}:
            # Dag.addEdge refuses an edge it has already ("loop exception").
            out.append(_error("dag-edge", f"node {source!r} lists {target!r} twice", member))
        for target in targets:
            if target == source:
                out.append(
                    _error("dag-cycle", f"node {source!r} points to itself (a self loop)", member)
                )
            incoming[target].add(source)
    starts = [n for n in nodes if not incoming[n]]
    if len(starts) != 1:
        listed = ", ".join(repr(n) for n in starts) or "none (every node has a predecessor)"
        out.append(
            _error(
                "dag-start",
                f"the dag has {len(starts)} start nodes ({listed}): TorchServe needs exactly one "
                "node that no other node points to",
                member,
            )
        )
    # Kahn's algorithm from every start node: what it never reaches is on or behind a cycle.
    remaining = {n: len(incoming[n]) for n in nodes}
    ready = list(starts)
    ordered: set[str] = set()
    while ready:
        node = ready.pop()
        ordered.add(node)
        for target in set(edges.get(node, ())):
            remaining[target] -= 1
            if remaining[target] == 0:
                ready.append(target)
    stuck = [n for n in nodes if n not in ordered]
    if stuck and not any(f.code == "dag-cycle" for f in out):
        out.append(
            _error(
                "dag-cycle",
                f"the dag has a cycle through {', '.join(repr(n) for n in stuck)}: TorchServe "
                "refuses it (not a valid DAG)",
                member,
            )
        )
    return out


def _function_findings(
    functions: Iterable[str], handler: str | None, source: bytes | None, spec_member: str
) -> list[Finding]:
    """Every non-model node must be a function of the handler: TorchServe runs `handler:node`."""
    functions = list(functions)
    if not functions:
        return []
    listed = ", ".join(repr(f) for f in functions)
    if handler is not None and source is None:
        return [
            Finding(
                Severity.INFO,
                "dag-function",
                f"the handler was not parsed (too large or unreadable): nodes {listed} not checked",
                handler,
            )
        ]
    if handler is None or source is None:
        return [
            _error(
                "dag-function",
                f"nodes {listed} are not models, so TorchServe runs them as functions of the "
                "workflow's handler, and there is none",
                spec_member,
            )
        ]
    if not handler.endswith(".py"):
        return [
            _error(
                "dag-function",
                f"nodes {listed} are functions of the handler, which TorchServe imports as a "
                f"Python module: {handler!r} must end in .py",
                handler,
            )
        ]
    from .checks import module_names

    try:
        tree = ast.parse(source, filename=handler)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        line = f" at line {exc.lineno}" if isinstance(exc, SyntaxError) and exc.lineno else ""
        msg = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        return [
            _error(
                "handler-syntax",
                f"syntax error{line}: {msg}; TorchServe cannot import the workflow's functions",
                handler,
            )
        ]
    names, _classes, star = module_names(tree)
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    out: list[Finding] = []
    for name in functions:
        if name in defined:
            continue
        if name in names or star:
            out.append(
                Finding(
                    Severity.INFO,
                    "dag-function",
                    f"node {name!r} is bound in the handler (import or assignment), not "
                    "defined there; whether it is a function was not checked",
                    handler,
                )
            )
            continue
        out.append(
            _error(
                "dag-function",
                f"node {name!r} is neither a model of 'models' nor a function defined in the "
                "handler: TorchServe cannot run it (define `def "
                f"{name}(data, context)` in the handler, or add {name!r} to 'models')",
                handler,
            )
        )
    return out


def check_spec(
    data: bytes, spec_member: str, handler: str | None, handler_source: bytes | None
) -> tuple[list[Finding], WorkflowSpec | None]:
    """Every finding for a workflow spec's bytes, and what it declares (None when unreadable).

    `handler` is the handler's member name and `handler_source` its bytes (None: absent).
    """
    try:
        doc = modelconfig.load(data)
    except modelconfig.ConfigParseError as exc:
        return [_error("workflow-spec-invalid", str(exc), spec_member)], None
    if not isinstance(doc, dict):
        return [
            _error(
                "workflow-spec-invalid",
                f"holds {_kind(doc) if doc is not None else 'nothing'}, expected a mapping with "
                "'models' and 'dag'",
                spec_member,
            )
        ], None
    out: list[Finding] = []
    models = _models(doc.get("models"), spec_member, out)
    edges = _edges(doc.get("dag"), spec_member, out)
    if edges is None:
        return out, None
    out += _graph_findings(edges, spec_member)
    nodes = list(dict.fromkeys([*edges, *(t for targets in edges.values() for t in targets)]))
    for name in models:
        if name not in nodes:
            out.append(
                _warning(
                    "workflow-model-unused",
                    f"model {name!r} is declared in 'models' but is no node of the dag: "
                    "TorchServe never registers it",
                    spec_member,
                )
            )
    functions = tuple(n for n in nodes if n not in models)
    out += _function_findings(functions, handler, handler_source, spec_member)
    used = {name: url for name, url in models.items() if name in nodes and url}
    return out, WorkflowSpec(used, dict(edges), functions)


def is_remote(url: str) -> bool:
    """Whether TorchServe downloads `url` rather than reading it from its model store."""
    return url.lower().startswith(REMOTE_PREFIXES)


__all__ = ["INT_KEYS", "MAX_SPEC_SIZE", "WorkflowSpec", "check_spec", "is_remote"]
