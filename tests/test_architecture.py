"""The house rules of docs/design.md, checked on the source: the arrows point one way, no import cycle, no
module imports another's private name, no module over 400 lines, no function over 60 lines unless a
comment on it says why it must be one piece.

Layers, bottom first (a module may import only its own layer or those below it):
lazy, specs < physics < serving, training, scenario, scaling < compare, lifecycle, emit, accuracy, budgets, report,
distill < cli.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "gpt4plan"
LAYER = {"lazy": 0, "specs": 0, "physics": 1, "serving": 2, "training": 2, "scenario": 2, "scaling": 2, "compare": 3,
         "lifecycle": 3, "emit": 3,
         "accuracy": 3, "budgets": 3, "report": 3, "distill": 3, "cli": 4}
MODULES = sorted(p for p in SRC.rglob("*.py"))


def _package(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    return rel.parts[0]


def _imports(path: Path):
    """(module imported, names, line, at module level) for every gpt4plan import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gpt4plan"):
            yield node.module, [a.name for a in node.names], node.lineno, id(node) in top
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("gpt4plan"):
                    yield a.name, [], node.lineno, id(node) in top


def test_every_package_has_a_layer():
    assert {_package(p) for p in MODULES} - {"__init__"} <= set(LAYER)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_arrows_point_down_and_no_private_names(path):
    here = _package(path)
    if here == "__init__":
        return
    for module, names, line, _ in _imports(path):
        parts = module.split(".")
        if len(parts) == 1:  # `from gpt4plan import __version__`
            continue
        there = parts[1]
        assert LAYER[there] <= LAYER[here], f"{path.name}:{line}: {here} imports {module} (an upward arrow)"
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        assert not private, f"{path.name}:{line}: imports private {private} from {module}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_and_function_sizes(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 400, f"{path} has {len(text.splitlines())} lines"
    lines = text.splitlines()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > 60:
                body = "\n".join(lines[node.lineno - 1:node.end_lineno])
                assert "one piece" in body.lower(), \
                    f"{path.name}: {node.name} is {n} lines with no comment saying why it must be one piece"


def test_no_import_cycle_at_module_level():
    """Module-level imports between gpt4plan modules form no cycle (imports inside functions are lazy)."""
    def name(p: Path) -> str:
        rel = p.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    known = {name(p) for p in MODULES}
    graph = {name(p): set() for p in MODULES}
    for p in MODULES:
        for module, names, _, top in _imports(p):
            if not top:
                continue
            targets = {f"{module}.{n}" for n in names if f"{module}.{n}" in known} or {module}
            graph[name(p)] |= {t for t in targets if t in known and t != name(p)}
    # a package's __init__ re-exporting its own submodules is not a cycle worth reporting
    state: dict[str, int] = {}

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for m in graph[n]:
            if m.startswith(n + "."):
                continue
            if state.get(m) == 1:
                cycle = stack[stack.index(m):] + [m] if m in stack else [n, m]
                raise AssertionError(" -> ".join(cycle))
            if m not in state:
                visit(m, stack + [m])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])


@pytest.mark.parametrize("package", ["specs", "serving", "training", "report", "budgets", "emit"])
def test_lazy_exports_resolve_and_never_shadow_a_submodule(package):
    """A package re-exports its names lazily (PEP 562, a fast start); a name equal to one of its submodules
    would be shadowed by the submodule once imported, so none may be."""
    import importlib

    pkg = importlib.import_module(f"gpt4plan.{package}")
    submodules = {p.stem for p in (SRC / package).glob("*.py")}
    for name in pkg._LAZY:
        assert name not in submodules, f"gpt4plan.{package}.{name} is both a name and a module"
        assert getattr(pkg, name) is not None
    assert set(pkg.__all__) <= set(pkg._LAZY) | set(vars(pkg))
