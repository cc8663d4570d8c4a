"""The pack's layout, read from its source with `ast` (no ComfyUI, nothing imported): no import cycle between
its modules, the library (`directions/`) free of the nodes, the evaluation, the workflow files and ComfyUI,
and modules short enough to hold in mind."""
from __future__ import annotations

import ast
from pathlib import Path


PACK_ROOT = Path(__file__).resolve().parents[1]
PARTS = ("directions", "nodes", "evaluation", "workflow_files")
MAX_LINES = 450


def _module_files() -> dict[str, Path]:
    """Module name (relative to the pack, `directions.steer`; the root package is "") -> file."""
    files = [*PACK_ROOT.glob("*.py"), *(f for part in PARTS for f in (PACK_ROOT / part).rglob("*.py"))]
    modules = {}
    for f in files:
        parts = list(f.relative_to(PACK_ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = f
    return modules


MODULES = _module_files()


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _pack_module(name: str) -> str | None:
    """The pack's own module a dotted name imports (the longest known prefix), or None for outside modules."""
    if name != "crosssteer" and not name.startswith("crosssteer."):
        return None  # `import nodes` inside ComfyUI is ComfyUI's module, not the pack's
    name = name.removeprefix("crosssteer").removeprefix(".")
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(module: str) -> set[str]:
    """Every name `module` imports anywhere (also inside functions), relative ones resolved to absolute ones
    (`crosssteer.directions.steer`), with each imported name as a possible submodule (`from . import x`)."""
    path = MODULES[module]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(module, path).split(".") if _package_of(module, path) else []
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                stem = ".".join(["crosssteer", *base, *([node.module] if node.module else [])])
                found.add(stem)
                found.update(f"{stem}.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    return {m: {t for n in _imports(m) if (t := _pack_module(n)) is not None and t != m} for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> b -> ... -> a) for each group of modules that import one another (Tarjan's components)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while (w := stack.pop()) != v:
                group.add(w)
                on_stack.discard(w)
            on_stack.discard(v)
            if group:
                groups.append(group | {v})

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_through(min(g), g, graph) for g in groups]


def _cycle_through(start: str, group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """The shortest way from `start` back to itself inside its component."""
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        for w in sorted(graph[path[-1]] & group):
            if w == start:
                return [*path, start]
            if w not in seen:
                seen.add(w)
                paths.append([*path, w])
    raise AssertionError(f"{start} is in a component without a cycle")


def test_the_walk_sees_the_imports_it_must():
    """The walk itself: relative imports at every level, imports inside functions, names vs modules."""
    graph = _graph()
    assert {"directions.commands", "evaluation.commands", "workflow_files.add_steering"} <= graph["cli"]
    assert "directions.progress" in graph["evaluation.commands"]  # imported inside a function, two levels up
    assert "directions.estimate" in graph["directions.commands"]  # `from . import estimate`
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_library_imports_nothing_from_the_rest_of_the_pack_or_comfyui():
    bad = {}
    for module in (m for m in MODULES if m.split(".")[0] == "directions"):
        for name in _imports(module):
            own = _pack_module(name)
            if (own is not None and own.split(".")[0] not in ("directions", "")) or name.startswith(("comfy", "nodes")):
                bad.setdefault(module, set()).add(name)
    assert not bad, f"directions/ must stay pure: {bad}"


def test_no_module_over_450_lines():
    long = {str(path.relative_to(PACK_ROOT)): n for module, path in MODULES.items()
            if module.split(".")[0] in ("directions", "nodes", "evaluation")
            and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
