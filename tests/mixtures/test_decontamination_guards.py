"""Decontamination evidence rules, each with a negative and a positive on a controlled benchmark file.

What is *not* evidence of a copy: an n-gram shared by more than three benchmark problems
(boilerplate), a whitelisted line, an n-gram with fewer than two informative words (loops over
i and j). What is: any other benchmark n-gram, whatever the case and whitespace.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from mixtures.filters import FiltersConfig, apply_filters

BOILERPLATE = (  # in five problems: not evidence
    "Validate the incoming payload against the declared schema before persisting records into the "
    "storage bucket."
)
SHARED_BY_TWO = (  # in two problems: evidence
    "Normalise unicode identifiers with compatibility folding so visually identical variable names "
    "compare equal."
)
HEADER = "Copyright 2024 Example Corporation licensed under the Apache License version two point zero"
LOOP = "for i in range(n):\n    for j in range(n):\n        grid[i][j] = 0"
MERGE = (  # a short solution: matched by its lines or its syntax tree, not by n-grams alone
    "def merge_counts(left, right):\n"
    "    total = dict(left)\n"
    "    for key, value in right.items():\n"
    "        total[key] = total.get(key, 0) + value\n"
    "    return total\n"
)
SHORT_PROMPT = "Count inversions in a ledger."  # too short for n-grams and substrings
TRIVIAL = "def add(x, y):\n    return x + y\n"  # too small a function to be evidence
UNIQUE = {
    "p1": "Compute the harmonic centrality of every vertex in a weighted directed graph using Dijkstra distances.",
    "p2": "Merge overlapping calendar intervals and report the total booked minutes per meeting room.",
    "p3": "Parse roman numerals from a ledger column and convert them into integers preserving order.",
    "p4": "Rotate a sparse matrix stored in coordinate format by ninety degrees clockwise without densifying.",
    "p5": "Estimate the median of a stream of sensor readings with two heaps and bounded memory.",
    "p6": "Tokenise shell command lines honouring quotes escapes and comments like a POSIX shell would.",
    "p7": "Detect cycles in a package dependency manifest and print the offending chain of packages.",
    "p8": "Render a markdown table from nested dictionaries aligning numeric columns to the right edge.",
}


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    records = [{"task_id": p, "text": f"{UNIQUE[p]}\n{BOILERPLATE}"} for p in ("p1", "p2", "p3", "p4", "p5")]
    records += [{"task_id": p, "text": f"{UNIQUE[p]}\n{SHARED_BY_TWO}"} for p in ("p6", "p7")]
    records.append({"task_id": "p8", "text": f"{HEADER}\n{UNIQUE['p8']}"})
    records.append({"task_id": "p9", "text": f"def clear(grid, n):\n{LOOP}\nreturn grid"})
    records.append({"task_id": "p10", "text": MERGE})
    records.append({"task_id": "p11", "text": SHORT_PROMPT})
    records.append({"task_id": "p12", "text": TRIVIAL})
    path = tmp_path_factory.mktemp("bench") / "bench.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _verdicts(bench: Path, rows: dict[str, str], **settings: object) -> dict[str, str]:
    """{row id: reject detail} for rows whose user turn is the given text; kept rows are absent."""
    data = [
        {
            "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "Sure."}],
            "source": "chat",
            "id": row_id,
        }
        for row_id, text in rows.items()
    ]
    decontamination = {
        "humaneval": False,
        "benchmarks": [{"path": str(bench), "fields": ["text"], "name": "bench"}],
        **settings,
    }
    result = apply_filters(
        datasets.Dataset.from_list(data),
        FiltersConfig.model_validate({"decontamination": decontamination}),
        "sft",
    )
    assert len(result.kept) + len(result.rejected) == len(rows)
    return dict(zip(result.rejected["id"][:], result.rejected["reject_detail"][:], strict=True))


def test_boilerplate_shared_by_many_problems_is_not_evidence(bench: Path) -> None:
    flagged = _verdicts(
        bench,
        {
            "boilerplate": f"Before we start, a rule from our wiki: {BOILERPLATE} Thanks!",
            "shared-by-two": f"Style guide says: {SHARED_BY_TWO}",
            "pasted-p3": "  " + UNIQUE["p3"].upper().replace(" ", "\n  "),
        },
    )
    assert set(flagged) == {"shared-by-two", "pasted-p3"}
    assert flagged["shared-by-two"] in ("bench p6 10-gram overlap", "bench p7 10-gram overlap")
    assert flagged["pasted-p3"] == "bench p3 10-gram overlap"


def test_whitelisted_lines_are_not_evidence(bench: Path) -> None:
    rows = {"header": f"{HEADER}\nimport os\nprint(os.getcwd())", "pasted-p8": f"Task: {UNIQUE['p8']}"}
    assert _verdicts(bench, rows, whitelist=["pass", HEADER.lower()]) == {
        "pasted-p8": "bench p8 10-gram overlap"
    }
    # the same line is evidence when it is not whitelisted
    assert set(_verdicts(bench, rows, whitelist=["pass"])) == {"header", "pasted-p8"}


def test_ngrams_with_one_informative_word_are_not_evidence(bench: Path) -> None:
    flagged = _verdicts(
        bench,
        {
            "loop": f"Zero the grid:\n\n{LOOP}\n",
            "pasted-p9": "def clear(grid, n):\n  for i in range(n):\n    for j in range(n): grid[i][j] = 0",
        },
    )
    assert flagged == {"pasted-p9": "bench p9 10-gram overlap"}


def test_every_problem_is_found_when_pasted(bench: Path) -> None:
    rows = {p: f"Can you help?\n{' '.join(text.split()).lower()}" for p, text in UNIQUE.items()}
    rows["unrelated"] = "How do I read a CSV file with the csv module and skip the header row?"
    flagged = _verdicts(bench, rows)
    assert flagged == {p: f"bench {p} 10-gram overlap" for p in UNIQUE}


def test_a_reformatted_short_solution_is_found_by_its_syntax_tree(bench: Path) -> None:
    # a comment on every line: no ten tokens in a row and no line are the benchmark's, the tree is
    commented = "\n".join(f"{line}  # step {i}" for i, line in enumerate(MERGE.splitlines()))
    flagged = _verdicts(
        bench,
        {
            "commented": f"Here you go:\n\n```python\n{commented}\n```",
            "respaced": MERGE.replace("    ", "  ").replace(", ", ","),
            "renamed": MERGE.replace("total", "acc"),
        },
    )
    assert set(flagged) == {"commented", "respaced"}  # a renamed variable is a different solution
    assert flagged["commented"] == "bench p10 function syntax tree match"
    assert flagged["respaced"].startswith("bench p10 ")


def test_a_short_benchmark_text_is_found_only_as_a_whole_turn(bench: Path) -> None:
    flagged = _verdicts(
        bench,
        {
            "asked": "count  inversions in a LEDGER",
            "inside": f"My teacher said: {SHORT_PROMPT} How would I start?",
        },
    )
    assert flagged == {"asked": "bench p11 whole turn match"}


def test_trivial_functions_are_not_evidence(bench: Path) -> None:
    rows = {"add": "def add(x, y):  # the usual one\n    return x + y  # sum\n\nprint(add(1, 2))"}
    assert _verdicts(bench, rows) == {}
