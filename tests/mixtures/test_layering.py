"""The mixtures package imports one way: no import cycle between its modules (in-function
imports included), and nothing from another stage or from the orchestration on top."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mixtures"
# the ground package's modules a stage may import (orchestration and training sit above them)
ABOVE = ("mixtune.cli", "mixtune.demo", "mixtune.demo_cli", "mixtune.demo_report", "mixtune.training")
OTHER_STAGES = ("sft", "dpo", "evals", "chat_ui")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str] = frozenset()) -> set[str]:
    """Every module an import anywhere in the file (in functions too) uses: `from p import m`
    uses the module `p.m` where that is one of `modules`, else `p` itself."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {t for t in imports_of(path, set(files)) if t in files and t != name}
        for name, path in files.items()
    }


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_mixtures_modules_import_one_way() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_a_planted_cycle_is_found() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(edges) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_mixtures_imports_no_other_stage_nor_orchestration() -> None:
    bad = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__main__.py":  # `python -m mixtures`: an entry point, the same as `mixtune mix`
            continue
        for target in imports_of(path):
            top = target.split(".")[0]
            if top in OTHER_STAGES or target.startswith(ABOVE):
                bad.append(f"{path.relative_to(PACKAGE.parent)}: {target}")
    assert not bad, bad
