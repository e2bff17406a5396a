"""The package's layout: every module imports, no import cycles, and the boundaries hold.

- Inside ``components/`` (the ``djangostack`` package) imports are relative: the package works
  under its installed name whatever the directory is called.
- No cycle among the package's own imports, counting lazy (function-level) imports too and leaving
  out only ``if TYPE_CHECKING:`` blocks, which never run. Importing ``a.b.c`` runs ``a`` and
  ``a.b`` first, so a module also depends on the packages above what it imports.
- Nothing outside ``tests/`` imports from ``tests``.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import djangostack
from tests.harness import REPO, repository_files

PACKAGE_DIR = REPO / "components"
NAME = "djangostack"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([NAME, *parts])


MODULES = {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (relative imports resolved; parents included)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level == 0:
                continue
            base = package.split(".")
            if node.level > 1:
                base = base[: -(node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            edges.update(_with_parents(target))
            for alias in node.names:
                if f"{target}.{alias.name}" in MODULES:
                    edges.add(f"{target}.{alias.name}")
        edges.discard(name)
        # A module's own parent packages have finished importing before it runs.
        graph[name] = {e for e in edges if e in MODULES and not name.startswith(e + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_is_the_components_directory() -> None:
    assert Path(djangostack.__file__).resolve().parent == PACKAGE_DIR


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.endswith("__main__")))
def test_every_module_imports(name: str) -> None:
    importlib.import_module(name)


def test_every_package_module_is_found_by_the_import_system() -> None:
    found = {m.name for m in pkgutil.walk_packages(djangostack.__path__, f"{NAME}.")}
    assert found == set(MODULES) - {NAME}


def test_imports_inside_the_package_are_relative() -> None:
    absolute = []
    for name, path in MODULES.items():
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            else:
                modules = [node.module or ""] if node.level == 0 else []
            absolute += [f"{name}: {m}" for m in modules if m.split(".")[0] in (NAME, "components", "tests", "tools")]
    assert absolute == []


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_nothing_outside_tests_imports_from_tests() -> None:
    offenders = []
    for path in repository_files("*.py"):
        rel = path.relative_to(REPO)
        if rel.parts[0] in ("tests", "examples"):
            continue
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if node.__class__ is ast.ImportFrom and node.level:
                continue
            offenders += [f"{rel}: {n}" for n in names if n == "tests" or n.startswith("tests.")]
    assert offenders == []


def test_the_distribution_lists_every_package_and_ships_the_templates() -> None:
    import tomllib

    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    # Only djangostack: a generic top-level name such as ``components`` would collide with the
    # consumers' own packages.
    assert setuptools["package-dir"] == {NAME: "components"}
    packages = {module_name(p) for p in PACKAGE_DIR.rglob("__init__.py")}
    assert set(setuptools["packages"]) == packages, "list new packages in pyproject.toml [tool.setuptools]"
    data_files = {p for p in PACKAGE_DIR.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")}
    shipped = set()
    for package, patterns in setuptools["package-data"].items():
        base = PACKAGE_DIR.joinpath(*package.split(".")[1:])
        for pattern in patterns:
            shipped |= set(base.glob(pattern))
    assert data_files - shipped == set(), "non-Python files the wheel would leave out"
