"""The package's layout rules, checked from the source's imports (``ast``, nothing is imported):
no import circles, and no stage imports a later one (dataset -> recipe -> engine -> store -> tuning ->
run -> report). Run ``python -m pytest tests/test_layers.py -q`` to check a change."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import benchmark

PACKAGE = Path(benchmark.__file__).resolve().parent

# Each top-level module or subpackage of ``benchmark`` and its stage; a module may import only from
# its own stage or earlier ones.
STAGES = {
    "benchmark": 0, "errors": 0, "limits": 0, "registry": 0, "protocol": 0, "metrics": 0,
    "datasets": 1,
    "models": 2,
    "methods": 3,
    "training": 4,
    "suites": 5,
    "store": 6,
    "tuning": 7,
    "run": 8,
    "report": 9,
    "speed": 10, "testing": 10, "publish": 10, "cli": 10, "__main__": 10,
}


def module_name(path: Path) -> str:
    parts = list(path.with_suffix("").relative_to(PACKAGE.parent).parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST):
    """Every import statement, lazy ones in functions too, except under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph(packages: bool = True) -> dict[str, set[str]]:
    """benchmark module -> the benchmark modules it imports (``from X import Y`` is X.Y where that is a
    module, else X). With ``packages=False`` a package's ``__init__`` (its public face) is no target."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    package_names = {module_name(p) for p in PACKAGE.rglob("__init__.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in paths.items():
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                candidates = [[a.name] for a in node.names]
            elif node.module and node.level == 0:
                candidates = [[f"{node.module}.{a.name}", node.module] for a in node.names]
            else:
                continue
            for options in candidates:
                target = next((t for t in options if t in paths), None)
                if target and target != name and (packages or target not in package_names):
                    graph[name].add(target)
    return graph


def area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "benchmark"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    graph = import_graph(packages=False)
    assert graph["benchmark.run.runner"], "the import graph is empty: the checker reads nothing"
    assert cycles(graph) == []


def test_the_checker_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_stage_imports_a_later_one():
    graph = import_graph()
    unknown = sorted({area(m) for m in graph} - set(STAGES))
    assert not unknown, f"give these parts of the package a stage in STAGES: {unknown}"
    upward = sorted(f"{m} -> {t}" for m, targets in graph.items() for t in targets
                    if STAGES[area(t)] > STAGES[area(m)])
    assert upward == []


def test_the_top_level_holds_about_ten_modules():
    modules = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 11, f"{len(modules)} modules at the top of benchmark/: {modules}"
