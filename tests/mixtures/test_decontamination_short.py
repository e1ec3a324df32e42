"""Short verbatim copies of benchmark solutions and prompts are caught (>= 95% of planted MBPP
copies), ordinary instruction rows are not (0 of 1,000), and the recipe syntax for naming a
benchmark file works as the README documents it."""

from __future__ import annotations

import datasets
import pytest

from mixtures import build_mixture, read_manifest
from mixtures.filters import FiltersConfig, apply_filters
from tests.mixtures.decontamination_corpus import (
    MBPP,
    mbpp_tasks,
    ordinary_rows,
    planted_prompts,
    planted_solutions,
)

FILTERS = {
    "decontamination": {"benchmarks": [{"path": str(MBPP), "fields": ["text", "code"], "name": "mbpp"}]}
}


@pytest.fixture(scope="module")
def verdicts() -> dict[str, dict[str, str]]:
    """Reason and detail per row id for planted and ordinary rows, in one filter run."""
    rows, ids = [], []
    for kind, planted in (("solution", planted_solutions()), ("prompt", planted_prompts())):
        for task_id, row in planted:
            rows.append(row)
            ids.append(f"{kind}/{task_id}")
    for i, row in enumerate(ordinary_rows(1000)):
        rows.append(row)
        ids.append(f"ordinary/{i}")
    ds = datasets.Dataset.from_list(
        [{**r, "source": i.split("/")[0], "id": i} for r, i in zip(rows, ids, strict=True)]
    )
    result = apply_filters(ds, FiltersConfig.model_validate(FILTERS), "sft")
    rejected = result.rejected
    return {
        row_id: {"reason": reason, "detail": detail}
        for row_id, reason, detail in zip(
            rejected["id"][:], rejected["reject_reason"][:], rejected["reject_detail"][:], strict=True
        )
    }


def _caught(verdicts: dict, kind: str) -> tuple[int, int]:
    """Planted rows flagged as contaminated. (MBPP 43's prompt contains MBPP 16's whole prompt,
    so its copy may be reported as 16: the row is caught either way.)"""
    tasks = mbpp_tasks()
    hits = 0
    for task in tasks:
        found = verdicts.get(f"{kind}/{task['task_id']}")
        hits += bool(found and found["reason"] == "decontaminated" and found["detail"].startswith("mbpp "))
    return hits, len(tasks)


def test_short_solutions_are_caught(verdicts) -> None:
    hits, total = _caught(verdicts, "solution")
    print(f"planted MBPP solutions caught: {hits}/{total}")
    assert hits / total >= 0.95, sorted(k for k in verdicts if k.startswith("solution"))


def test_short_prompts_are_caught(verdicts) -> None:
    hits, total = _caught(verdicts, "prompt")
    print(f"planted MBPP prompts caught: {hits}/{total}")
    assert hits / total >= 0.95


def test_no_ordinary_row_is_flagged(verdicts) -> None:
    flagged = {k: v for k, v in verdicts.items() if k.startswith("ordinary/")}
    print(f"ordinary rows flagged: {len(flagged)}/1000")
    assert flagged == {}


@pytest.mark.parametrize(
    ("text", "caught"),
    [
        ("def find_rect_num(n):\n  return n*(n + 1)", True),  # 2 lines, 33 characters: a copy
        ("def find_rect_num(n):\n    return n * (n + 1)\n", True),
        ("def rect(n):\n    return n * (n + 1)", False),  # the same idea, not a copy
        ("return n*(n + 1)", False),  # one line is no evidence
        ("Write a function to find the perimeter of a square", True),  # whole turn
        ("write a function", False),
    ],
)
def test_what_counts_as_a_copy(text: str, caught: bool) -> None:
    from mixtures.filters.decontaminate import build_index

    cfg = FiltersConfig.model_validate(FILTERS).decontamination.model_copy(update={"humaneval": False})
    index = build_index(cfg)
    assert (index.check_turns([text])[0] is not None) is caught


def test_benchmark_file_syntax_in_a_recipe(tmp_path, write_recipe, write_jsonl) -> None:
    task = mbpp_tasks()[12]  # square_perimeter
    rows = [{"instruction": "Perimeter?", "output": task["code"]}, {"instruction": "Hi", "output": "Hello!"}]
    write_jsonl(tmp_path / "data.jsonl", rows)
    recipe = {
        "name": "d",
        "kind": "sft",
        "filters": {
            "decontamination": {
                "humaneval": False,
                "benchmarks": [{"path": str(MBPP), "fields": ["text", "code"]}],
            }
        },
        "sources": [{"path": "data.jsonl"}],
    }
    manifest = read_manifest(build_mixture(write_recipe(recipe), out=tmp_path / "out"))
    assert manifest["sources"]["data"]["dropped"] == {"decontaminated": 1}
    stats = manifest["filters"]["stats"]["train"]["decontamination"]
    assert stats["benchmarks"] == ["mbpp_sample"] and stats["code_snippets"] >= 38


def test_short_text_only_as_a_whole_turn(tmp_path, write_jsonl) -> None:
    from mixtures.filters.decontaminate import build_index

    bench = write_jsonl(tmp_path / "b.jsonl", [{"task_id": "s1", "text": "Reverse a linked list."}])
    cfg = FiltersConfig.model_validate(
        {"decontamination": {"humaneval": False, "benchmarks": [{"path": str(bench), "fields": ["text"]}]}}
    ).decontamination
    index = build_index(cfg)
    found = index.check_turns(
        ["  reverse a LINKED list ", "Please reverse a linked list in place.", "Reverse a list."]
    )
    assert found[0] == (0, "whole turn match") and found[1:] == [None, None]
