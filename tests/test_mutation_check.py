"""bench/mutation.py applies a mutation only inside the function it names, and says so loudly
when the snippet is gone (so an entry is re-aimed after a refactor, never silently skipped)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mutation():
    spec = importlib.util.spec_from_file_location("mutation_check", REPO / "bench" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutation_check"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["mutation_check"]


SOURCE = """LIMIT = 2


def first(x):
    return x > LIMIT


class Box:
    @staticmethod
    def second(x):
        return x > LIMIT
"""


def _m(mutation, function: str, original: str, replacement: str = "x >= LIMIT"):
    return mutation.Mutation("m", "area", "f.py", function, original, replacement, "breaks", ("t.py",))


def test_a_mutation_changes_only_its_function(mutation) -> None:
    out = mutation.mutate_source(SOURCE, _m(mutation, "Box.second", "x > LIMIT"))
    assert out.count("x > LIMIT") == 1 and out.count("x >= LIMIT") == 1
    assert "return x >= LIMIT" in out.split("class Box")[1]
    out = mutation.mutate_source(SOURCE, _m(mutation, "<module>", "LIMIT = 2", "LIMIT = 1"))
    assert out.startswith("LIMIT = 1\n")


def test_a_mutation_that_no_longer_applies_is_an_error(mutation) -> None:
    with pytest.raises(mutation.MutationError, match=r"no longer applies: f.py:first snippet not found"):
        mutation.mutate_source(SOURCE, _m(mutation, "first", "x < LIMIT"))
    with pytest.raises(mutation.MutationError, match=r"f.py:third function not found"):
        mutation.mutate_source(SOURCE, _m(mutation, "third", "x > LIMIT"))
    with pytest.raises(mutation.MutationError, match=r"occurs 2 times"):
        mutation.mutate_source(SOURCE, _m(mutation, "<module>", "x > LIMIT"))


def test_declared_mutations_are_complete(mutation) -> None:
    names = [m.name for m in mutation.MUTATIONS]
    assert len(names) == len(set(names)) >= 25
    assert {m.area for m in mutation.MUTATIONS} >= {
        "mixtures",
        "filters",
        "training",
        "dpo",
        "evals",
        "chat_ui",
    }
    for m in mutation.MUTATIONS:
        assert m.original != m.replacement and m.tests and m.breaks, m.name
