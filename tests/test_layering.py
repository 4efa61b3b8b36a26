"""The layout holds: packages by stage, imports only downwards (README "Layout", docs/API.md).

Read from the import graph of the source, every ``import`` statement included (those inside
functions too), so that a lazy import cannot hide a wrong dependency:
- a module imports only from its own package or from packages listed before it in
  :data:`ORDER`; planning, telemetry, pathway and programs (same rank) do not import each other;
- the Numba kernels (``pumpsim.kernels``) are imported only from ``pumpsim.sim``;
- no private name (``_x``) is imported from another package;
- the module graph has no cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "pumpsim"

#: The stages, lowest first; packages of one tuple share a rank and may not import each other.
ORDER: list[tuple[str, ...]] = [("_version",), ("model",), ("io",), ("sim",), ("rules",),
                                ("planning", "telemetry", "pathway", "programs"), ("render",), ("api",), ("dev",), ("cli",)]
RANK = {pkg: i for i, group in enumerate(ORDER) for pkg in group}


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out[".".join(["pumpsim", *parts])] = path
    return out


def imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names imported from it, line) for every import of a pumpsim module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "pumpsim"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "pumpsim":
                continue
            names = [a.name for a in node.names]
            # "from pumpsim.sim import montecarlo" imports the module pumpsim.sim.montecarlo
            subs = [n for n in names if f"{mod}.{n}" in MODULES]
            for n in subs:
                out.append((f"{mod}.{n}", [], node.lineno))
            rest = [n for n in names if n not in subs]
            if rest:
                out.append((mod, rest, node.lineno))
    return out


MODULES = modules()


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_the_source_tree_has_every_stage_and_the_graph_is_not_empty():
    stages = {stage(m) for m in MODULES}
    assert {g for group in ORDER for g in group} - {"_version"} <= stages | {"api"}, stages
    assert sum(len(imports(m, p)) for m, p in MODULES.items()) > 100  # the graph was read


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_stages_only(module):
    here = stage(module)
    problems = []
    for target, names, line in imports(module, MODULES[module]):
        there = stage(target)
        if there == "kernels":
            if here != "sim":
                problems.append(f"line {line}: {target} (the kernels are imported only from pumpsim.sim)")
            continue
        if here in ("__init__",) or there == here:
            continue
        if there not in RANK:
            problems.append(f"line {line}: {target} is in no stage")
        elif RANK[there] >= RANK.get(here, len(ORDER)):
            problems.append(f"line {line}: {target} ({there}) is not below {here}")
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        if private:
            problems.append(f"line {line}: private name(s) {private} of another package ({target})")
    assert not problems, f"{module}:\n  " + "\n  ".join(problems)


def test_the_package_root_imports_only_the_version_and_the_api():
    targets = {t for t, _, _ in imports("pumpsim", MODULES["pumpsim"])}
    assert targets <= {"pumpsim._version", "pumpsim.api", "pumpsim.render.figures"}, targets


def test_no_module_cycle():
    graph = {m: {t for t, _, _ in imports(m, p) if t in MODULES and t != m} for m, p in MODULES.items()}
    # the package root and the packages' __init__ (docstrings) take part like any module
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert len(state) == len(MODULES)
