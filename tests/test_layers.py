"""Every import inside the package points down the layers (docs/architecture.md).

A module may import from its own layer or a lower one; imports made only for type checking
(`if TYPE_CHECKING:`) are exempt, as they never run. A new module must be placed in LAYERS; a new
module of a subpackage listed in SUBLAYERS, in its layers too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "mararch"

#: Top to bottom. Keep in step with docs/architecture.md.
LAYERS: list[tuple[str, set[str]]] = [
    ("faces", {"__main__", "cli", "console", "allocator", "__init__", "compat"}),
    ("spec files", {"buildspec", "workflowspec"}),
    ("commands", {"legacy", "conversion", "workflow", "repack", "batch"}),
    (
        "engines",
        {
            "builder",
            "planning",
            "extraction",
            "summary",
            "deploy",
            "deploy_remote",
            "tree",
            "bundle",
            "warsummary",
        },
    ),
    ("checks", {"checks", "warfile", "dag", "weights", "loadability"}),
    ("signing", {"signing"}),
    ("writers and reader", {"writers", "reader", "names", "remote_read", "remote_write", "bombs"}),
    (
        "format and rule modules",
        {
            "compress",
            "digests",
            "modelconfig",
            "sources",
            "ignore",
            "handlers",
            "answers",
            "manifest",
            "output",
            "progress",
            "remote",
            "properties",
            "snapshot",
            "pickles",
            "timetoserve",
        },
    ),
    ("base", {"plans", "zipformat", "errors", "version"}),
]

#: A subpackage's own modules, top to bottom (as in docs/architecture.md), where they import
#: each other: those imports point down too.
SUBLAYERS: dict[str, list[set[str]]] = {
    "reader": [{"__init__"}, {"detect"}, {"zip", "tar", "folder"}, {"view"}],
}


def layer_of(module: str) -> int:
    for index, (_, modules) in enumerate(LAYERS):
        if module in modules:
            return index
    raise AssertionError(f"src/mararch/{module}.py is in no layer: add it to LAYERS")


def runtime_imports(tree: ast.Module, level: int = 1) -> set[str]:
    """The package's own modules imported outside `if TYPE_CHECKING:` blocks (`level` 2 for a
    module of a subpackage: `from ..reader import ...`)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.level == level:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


#: Modules, and subpackages (a subpackage is placed in one layer as a whole).
MODULES = sorted(
    {p.stem for p in PACKAGE.glob("*.py")} | {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
)


def imports_of(module: str) -> set[str]:
    if (PACKAGE / module).is_dir():
        return set().union(
            *(
                runtime_imports(ast.parse(p.read_text(encoding="utf-8")), level=2)
                for p in sorted((PACKAGE / module).glob("*.py"))
            )
        )
    return runtime_imports(ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8")))


@pytest.mark.parametrize("module", MODULES)
def test_imports_point_down(module: str) -> None:
    mine = layer_of(module)
    upward = sorted(
        f"{imported} ({LAYERS[layer_of(imported)][0]})"
        for imported in imports_of(module)
        if layer_of(imported) < mine
    )
    assert not upward, f"{module} ({LAYERS[mine][0]}) imports from above: {', '.join(upward)}"


def test_every_layer_names_existing_modules() -> None:
    listed = set().union(*(modules for _, modules in LAYERS))
    assert listed <= set(MODULES), f"no such modules: {sorted(listed - set(MODULES))}"


@pytest.mark.parametrize("package", sorted(SUBLAYERS))
def test_subpackage_imports_point_down(package: str) -> None:
    layers = SUBLAYERS[package]
    files = sorted((PACKAGE / package).glob("*.py"))
    rank = {module: index for index, modules in enumerate(layers) for module in modules}
    unplaced = sorted(p.stem for p in files if p.stem not in rank)
    assert not unplaced, f"{package}: modules in no layer, add them to SUBLAYERS: {unplaced}"
    missing = sorted(set(rank) - {p.stem for p in files})
    assert not missing, f"{package}: no such modules: {missing}"
    upward = sorted(
        f"{path.stem} imports {imported}"
        for path in files
        for imported in runtime_imports(ast.parse(path.read_text(encoding="utf-8")))
        if rank[imported] < rank[path.stem]
    )
    assert not upward, f"{package}: imports from above: {', '.join(upward)}"
