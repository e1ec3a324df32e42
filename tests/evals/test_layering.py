"""evals imports one way: its modules form no cycle (in-function imports included), and it
uses only the ground package (never the training package, another stage or the orchestration)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

EVALS = Path(__file__).resolve().parents[2] / "evals"
# other stages, the training package, and the orchestration on top
FORBIDDEN = (
    "sft",
    "dpo",
    "mixtures",
    "chat_ui",
    "mixtune.training",
    "mixtune.cli",
    "mixtune.demo",
    "mixtune.demo_cli",
    "mixtune.demo_report",
)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every module the file imports, anywhere in it; `from p import m` counts as `p.m` when
    that is a module of `modules`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found |= {f"{node.module}.{a.name}" for a in node.names} & modules or {node.module}
    return found


def _graph() -> dict[str, set[str]]:
    files = {f"evals.{p.stem}" if p.stem != "__init__" else "evals": p for p in EVALS.glob("*.py")}
    return {name: (_imports(path, set(files)) & set(files)) - {name} for name, path in files.items()}


def test_evals_modules_form_no_cycle() -> None:
    graphlib.TopologicalSorter(_graph()).prepare()  # raises CycleError naming the cycle


def test_a_planted_cycle_is_caught() -> None:
    graph = _graph()
    graph["evals.benchmarks"] = graph["evals.benchmarks"] | {"evals.results"}  # results imports benchmarks
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter(graph).prepare()


def test_evals_imports_only_the_ground_package() -> None:
    bad = [
        f"{path.name}: {target}"
        for path in EVALS.glob("*.py")
        if path.name != "__main__.py"  # `python -m evals` is an entry point, like `mixtune eval`
        for target in _imports(path, set())
        if any(target == f or target.startswith(f + ".") for f in FORBIDDEN)
    ]
    assert not bad, bad
