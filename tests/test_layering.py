"""The house imports one way: the ground package (`mixtune`, with `mixtune.training`) never imports a
stage, no stage imports another (they talk through files), only the orchestration (`mixtune/cli.py`,
`mixtune/__main__.py`, `mixtune/demo*.py`) imports stages, and no modules import each other in a
cycle. Every import counts, the ones inside functions too (read with `ast`, nothing is imported)."""

from __future__ import annotations

import ast
import functools
import graphlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GROUND = "mixtune"
STAGES = ("mixtures", "sft", "dpo", "completion", "evals", "chat_ui")
ORCHESTRATION = ("mixtune.cli", "mixtune.__main__", "mixtune.demo")  # mixtune.demo* by prefix

# Known imports against the rules (layers or cycles), each reported to the area that owns the file;
# empty when none. (source module, imported module)
ALLOWED: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(p): p
        for package in (GROUND, *STAGES)
        if (REPO / package).is_dir()
        for p in (REPO / package).rglob("*.py")
        if "__pycache__" not in p.parts
    }


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """The project modules a file imports anywhere (functions included): `from p import m` is the
    module `p.m` when that is a module, else `p`; relative imports are resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules or m.split(".")[0] in (GROUND, *STAGES)}


@functools.cache
def graph() -> dict[str, frozenset[str]]:
    """module -> the project modules it imports, less the known, reported exceptions (`ALLOWED`)."""
    modules = project_modules()
    return {
        name: frozenset(t for t in imports_of(name, path, set(modules)) - {name} if (name, t) not in ALLOWED)
        for name, path in modules.items()
    }


def is_orchestration(module: str) -> bool:
    return module in ORCHESTRATION or module.startswith("mixtune.demo")


def layer_of(module: str) -> str:
    """'orchestration', 'ground' (mixtune and mixtune.training) or the stage's package name."""
    top = module.split(".")[0]
    if top == GROUND:
        return "orchestration" if is_orchestration(module) else "ground"
    return top


def violations(edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Every import that runs against the layers: ground -> stage, stage -> another stage, and
    anything -> orchestration except a stage's `__main__` (`python -m <stage>` is `mixtune <stage>`)."""
    bad = []
    for source, targets in sorted(edges.items()):
        here = layer_of(source)
        for target in sorted(targets):
            there = layer_of(target)
            if there == "orchestration" and here != "orchestration" and not source.endswith(".__main__"):
                bad.append(f"{source} -> {target} (imports the orchestration)")
            elif here == "ground" and there in STAGES:
                bad.append(f"{source} -> {target} (the ground package imports a stage)")
            elif here in STAGES and there in STAGES and there != here:
                bad.append(f"{source} -> {target} (a stage imports another stage)")
    return bad


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle in import order (a imports b ... imports a), or None."""
    try:
        graphlib.TopologicalSorter(edges).prepare()  # edges read as node -> what must come first
    except graphlib.CycleError as exc:
        return list(reversed(exc.args[1]))
    return None


def test_no_import_runs_against_the_layers() -> None:
    bad = violations(graph())
    assert not bad, "\n".join(bad)


def test_no_import_cycle_between_modules() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_walk_sees_in_function_and_relative_imports(tmp_path: Path) -> None:
    edges = graph()
    # in-function imports count: the orchestration builds stages inside its functions
    assert "mixtures" in {t.split(".")[0] for t in edges["mixtune.demo"]}
    assert "mixtune.training.stage" in edges["sft.train"]
    source = tmp_path / "pkg" / "mod.py"
    source.parent.mkdir()
    source.write_text("def f():\n    from . import other\n    from ..mixtures import build\n")
    found = imports_of("sft.pkg.mod", source, {"sft.pkg.other", "mixtures.build"})
    assert found == {"sft.pkg.other", "sft.mixtures"}


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ({"mixtune.training.data": {"mixtures.build"}}, "the ground package imports a stage"),
        ({"mixtune.hashing": {"evals.results"}}, "the ground package imports a stage"),
        ({"chat_ui.app": {"evals.results"}}, "a stage imports another stage"),
        ({"sft.train": {"mixtune.cli"}}, "imports the orchestration"),
    ],
)
def test_a_planted_violation_is_reported(edges: dict[str, set[str]], message: str) -> None:
    [bad] = violations(edges)
    assert message in bad
    assert not violations(
        {"mixtune.cli": {"sft.cli"}, "sft.__main__": {"mixtune.cli"}, "dpo.train": {"mixtune"}}
    )


def test_a_planted_cycle_is_found() -> None:
    cycle = find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert cycle is not None and " -> ".join(cycle) in (
        "a -> b -> c -> a",
        "b -> c -> a -> b",
        "c -> a -> b -> c",
    )
    assert find_cycle({"a": {"b"}, "b": set()}) is None
