"""The layout's rules, read from the source: science packages and the campaign steps never
import FireWorks or a database driver, and perovflow's import graph has no cycle, counting
imports inside functions too (so none of them hides one)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "perovflow"
SCIENCE = ("structures", "descriptors", "selection", "models", "engines", "ccd", "reproduce")
DATABASE_DRIVERS = ("pymongo", "gridfs", "bson", "motor", "mongomock")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def imports_of(name: str) -> list[tuple[str, bool]]:
    """(imported module, inside a function) for every import statement of a module; for
    ``from a import b`` the module ``a.b`` when it exists, else ``a``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    found.append((full if full in MODULES else base, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def internal_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        for target, _ in imports_of(name):
            if target.split(".")[0] == "perovflow":
                while target not in MODULES and "." in target:  # an attribute of a module
                    target = target.rpartition(".")[0]
                if target != name:
                    graph[name].add(target)
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_tree_is_read():
    assert {"perovflow.campaign.active_learning", "perovflow.settings", "perovflow.fireworks.tasks",
            "perovflow.store.store"} <= set(MODULES)
    assert ("fireworks", False) in imports_of("perovflow.fireworks.tasks") or any(
        target.startswith("fireworks") for target, _ in imports_of("perovflow.fireworks.tasks"))


@pytest.mark.parametrize("package", [*SCIENCE, "campaign", "settings", "units"])
def test_science_and_campaign_steps_import_no_fireworks_and_no_driver(package):
    graph = internal_graph()
    modules = [m for m in MODULES if m == f"perovflow.{package}" or m.startswith(f"perovflow.{package}.")]
    assert modules
    for name in modules:
        for target, _ in imports_of(name):
            top = target.split(".")[0]
            assert top != "fireworks", f"{name} imports {target}"
            assert top not in DATABASE_DRIVERS, f"{name} imports {target}: use the store's interface"
        reached = reachable(graph, name)
        assert not any(m.startswith("perovflow.fireworks.") and m != "perovflow.fireworks.hook" for m in reached), \
            f"{name} reaches the FireWorks adapter"
        if package in SCIENCE:
            assert not any(m.startswith(("perovflow.store", "perovflow.campaign", "perovflow.cli")) for m in reached), \
                f"science module {name} reaches the store, the campaign steps or the command line"


def test_import_graph_has_no_cycle():
    graph = internal_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_a_cycle_would_be_found():
    """The cycle check itself can fail: a graph with a cycle is reported."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert "a" in reachable(graph, "a")
