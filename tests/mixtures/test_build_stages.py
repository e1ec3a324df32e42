"""Where filters and statistics sit in a build: dedup sees the pooled sources before weighting, and the
manifest measures what was written."""

from __future__ import annotations

import json
from pathlib import Path

from mixtures import build_mixture, load_mixture


def test_filters_run_before_weighting(
    tmp_path: Path, write_jsonl, write_recipe, make_qa, check_invariants
) -> None:
    """Upsampled repeats are never 'duplicates'; a row repeated across sources is dropped from the
    later source, and its reject still names its file and line."""
    write_jsonl(tmp_path / "a.jsonl", make_qa(6, "a"))
    write_jsonl(tmp_path / "b.jsonl", [*make_qa(3, "b"), make_qa(6, "a")[4]])
    recipe = write_recipe(
        {
            "name": "f",
            "kind": "sft",
            "sources": [{"path": "a.jsonl", "weight": 3.0}, {"path": "b.jsonl"}],
            "filters": {"exact_dedup": {}},
        }
    )
    out = build_mixture(recipe, out=tmp_path / "out")
    manifest = check_invariants(out)
    a, b = manifest["sources"]["a"], manifest["sources"]["b"]
    assert a["dropped"] == {} and a["train_rows"] == 18
    assert b["dropped"] == {"exact_duplicate": 1} and b["kept"] == 3 and b["train_rows"] == 3
    assert manifest["filters"]["applied"] and manifest["filters"]["stats"]["train"]
    reject = json.loads((out / "rejects" / "b.jsonl").read_text())
    assert (reject["reason"], reject["line"], reject["id"]) == ("exact_duplicate", 4, "b/3")
    assert reject["file"].endswith("b.jsonl")
    assert json.loads(reject["row"])["messages"][0]["content"] == "a 4?"


def test_manifest_length_stats_with_a_tokenizer(
    tmp_path: Path, tiny_base_dir: Path, write_jsonl, write_recipe
) -> None:
    from transformers import AutoTokenizer

    rows = [
        {
            "messages": [
                {"role": "user", "content": "def f(x):"},
                {"role": "assistant", "content": "    return x + 1"},
            ]
        },
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]},
    ]
    write_jsonl(tmp_path / "t.jsonl", rows)
    recipe = write_recipe(
        {"name": "t", "kind": "sft", "tokenizer": str(tiny_base_dir), "sources": [{"path": "t.jsonl"}]}
    )
    out = build_mixture(recipe, out=tmp_path / "out")
    stats = json.loads((out / "manifest.json").read_text())["stats"]["train"]
    tok = AutoTokenizer.from_pretrained(tiny_base_dir)
    expected = [
        sum(len(tok(m["content"], add_special_tokens=False)["input_ids"]) for m in r["messages"])
        for r in rows
    ]
    assert stats["all"]["messages_tokens"]["total"] == sum(expected)
    assert stats["all"]["messages_tokens"]["max"] == max(expected)
    chars = [sum(len(m["content"]) for m in r["messages"]) for r in rows]
    assert stats["by_source"]["t"]["messages_chars"]["total"] == sum(chars)
    assert stats["all"]["messages_turns"]["mean"] == 2.0
    assert len(load_mixture(out)["train"]) == 2
