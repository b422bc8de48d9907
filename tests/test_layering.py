"""The package's import graph: no cycle, and no arrow that points up the layering below.

Every import of a lookinside module counts, those inside functions included (an import put
in a function to dodge a cycle is still the cycle); those under `if TYPE_CHECKING:` do not
(they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import lookinside

ROOT = Path(lookinside.__file__).parent

# Lowest first: a module may import from its own layer and those below it, never above.
LAYERS = [
    ("base", ["errors", "events", "files", "flags", "rng", "tensor_tree", "unwrap",
              "functional", "schedules", "limits", "explain", "tensorlog", "plots"]),
    ("models", ["nn", "models", "config", "datasets"]),
    ("telemetry", ["telemetry", "telemetry_plots", "diagnosis", "watch_*", "watcher", "hooks"]),
    ("loop", ["callback", "callbacks", "learner", "data", "distributed", "lr_finder",
              "inference", "checkpoint"]),
    ("remedies", ["remedies"]),
    ("records", ["runs", "study_results", "study_plots", "report", "trial", "study"]),
    ("commands", ["train", "ablate", "fix", "finish", "describe"]),
    ("faces", ["cli", "__main__", "integrations", "zoo", "lookinside"]),
]  # fmt: skip


def modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (a package by its __init__)."""
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports when it runs (any depth of its code)."""
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree)
               if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for child in node.body for n in ast.walk(child)}  # fmt: skip
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = ".".join(base + ([node.module] if node.module else []))
            if not node.level:
                module = node.module or ""
            for alias in node.names:
                found.add(_owner(f"{module}.{alias.name}", known) or _owner(module, known))
        elif isinstance(node, ast.Import):
            found |= {_owner(alias.name, known) for alias in node.names}
    return {m for m in found if m and m != name}


def _owner(dotted: str, known: dict[str, Path]) -> str:
    """The module that defines `dotted` (itself, or the nearest enclosing one); '' if none."""
    while dotted and dotted not in known:
        dotted = dotted.rpartition(".")[0]
    return dotted


def layer(module: str) -> int:
    short = module.removeprefix("lookinside").removeprefix(".") or "lookinside"
    for i, (_, names) in enumerate(LAYERS):
        for n in names:
            if short == n or short.startswith(n + ".") or (
                    n.endswith("*") and short.startswith(n[:-1])):  # fmt: skip
                return i
    raise AssertionError(f"{module} has no layer: add it to LAYERS")


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    assert cycles(graph()) == []


def test_no_import_points_up_the_layering() -> None:
    edges = graph()
    up = sorted(f"{m} -> {t}" for m, ts in edges.items() for t in ts if layer(t) > layer(m))
    assert up == []


def test_the_checks_see_a_cycle_and_an_arrow_up() -> None:
    edges = {"lookinside.report": {"lookinside.fix"}, "lookinside.fix": {"lookinside.report"}}
    assert cycles(edges) == [["lookinside.fix", "lookinside.report"]]
    assert layer("lookinside.report") < layer("lookinside.fix")
    known = modules()
    found = imports("lookinside.report", known["lookinside.report"], known)
    assert "lookinside.runs" in found and "lookinside.trial" in found  # a lazy import counts
