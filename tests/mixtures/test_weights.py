"""Weight / count semantics, exactly, and their determinism per seed; test holdouts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mixtures import build_mixture, load_mixture
from mixtures.sampling import holdout_rows, rng_for, select_rows


@pytest.mark.parametrize(
    ("n", "weight", "count", "target", "repeats", "extras"),
    [
        (10, 1.0, None, 10, 1, 0),
        (10, 0.25, None, 3, 0, 3),  # 2.5 rounds half up
        (40, 0.25, None, 10, 0, 10),
        (10, 2.5, None, 25, 2, 5),
        (10, 3.0, None, 30, 3, 0),
        (10, None, 7, 7, 0, 7),
        (10, None, 23, 23, 2, 3),
        (0, 2.0, None, 0, 0, 0),
    ],
)
def test_select_rows_exact(n, weight, count, target, repeats, extras) -> None:
    sel = select_rows(n, rng_for(0, "s"), weight=weight, count=count)
    assert (sel.target, sel.repeats, sel.extras) == (target, repeats, extras)
    assert sel.indices.size == target
    counts = Counter(sel.indices.tolist())
    if n:
        # every row appears `repeats` times, and `extras` distinct rows once more
        assert sorted(Counter(counts.values()).items()) == sorted(
            {k: v for k, v in {repeats: n - extras, repeats + 1: extras}.items() if k and v}.items()
        )
    assert sel.upsampled == (target > n)


def test_selection_is_seeded() -> None:
    a = select_rows(100, rng_for(1, "src", "weight"), weight=0.3).indices
    b = select_rows(100, rng_for(1, "src", "weight"), weight=0.3).indices
    c = select_rows(100, rng_for(2, "src", "weight"), weight=0.3).indices
    d = select_rows(100, rng_for(1, "other", "weight"), weight=0.3).indices
    assert np.array_equal(a, b) and not np.array_equal(a, c) and not np.array_equal(a, d)


def test_holdout_fraction_count_and_cap() -> None:
    tr, te = holdout_rows(40, 0.2, None, rng_for(0, "h"))
    assert te.size == 8 and tr.size == 32 and not set(tr) & set(te) and sorted([*tr, *te]) == list(range(40))
    assert holdout_rows(40, 5, None, rng_for(0, "h"))[1].size == 5
    assert holdout_rows(40, 0.5, 3, rng_for(0, "h"))[1].size == 3


def _three_sources(
    tmp_path: Path, write_jsonl, make_qa, seed: int = 7, extra: bool = False, holdout: float = 0
) -> dict:
    write_jsonl(tmp_path / "a.jsonl", make_qa(40, "a"))
    write_jsonl(tmp_path / "b.jsonl", make_qa(10, "b"))
    write_jsonl(tmp_path / "c.jsonl", make_qa(10, "c"))
    sources = [
        {"path": "a.jsonl", "weight": 0.25},
        {"path": "b.jsonl", "weight": 2.5},
        {"path": "c.jsonl", "count": 23},
    ]
    if extra:
        write_jsonl(tmp_path / "d.jsonl", make_qa(5, "d"))
        sources.append({"path": "d.jsonl"})
    return {"name": "w", "kind": "sft", "seed": seed, "sources": sources, "test": {"holdout": holdout}}


def _ids_by_source(ds) -> dict[str, Counter]:
    out: dict[str, Counter] = {}
    for row_id, source in zip(ds["id"], ds["source"], strict=True):
        out.setdefault(source, Counter())[row_id] += 1
    return out


def test_weights_in_a_build(tmp_path, write_jsonl, write_recipe, make_qa, check_invariants) -> None:
    out = build_mixture(write_recipe(_three_sources(tmp_path, write_jsonl, make_qa)), out=tmp_path / "o1")
    manifest = check_invariants(out)
    s = manifest["sources"]
    assert (s["a"]["train_rows"], s["b"]["train_rows"], s["c"]["train_rows"]) == (10, 25, 23)
    assert (s["b"]["repeats"], s["b"]["extra_rows"], s["b"]["upsampled"]) == (2, 5, True)
    assert (s["c"]["repeats"], s["c"]["extra_rows"], s["c"]["amount"]) == (2, 3, {"count": 23})
    assert s["a"]["upsampled"] is False
    ids = _ids_by_source(load_mixture(out)["train"])
    assert len(ids["a"]) == 10 and set(ids["a"].values()) == {1}
    assert sorted(Counter(ids["b"].values()).items()) == [(2, 5), (3, 5)]
    assert sorted(Counter(ids["c"].values()).items()) == [(2, 7), (3, 3)]


def test_deterministic_per_seed_and_independent_of_other_sources(
    tmp_path, write_jsonl, write_recipe, make_qa
) -> None:
    first = load_mixture(
        build_mixture(write_recipe(_three_sources(tmp_path, write_jsonl, make_qa)), out=tmp_path / "o1")
    )
    again = load_mixture(
        build_mixture(
            write_recipe(_three_sources(tmp_path, write_jsonl, make_qa), "r2.yaml"), out=tmp_path / "o2"
        )
    )
    assert first["train"]["id"] == again["train"]["id"]
    other_seed = load_mixture(
        build_mixture(
            write_recipe(_three_sources(tmp_path, write_jsonl, make_qa, seed=8), "r3.yaml"),
            out=tmp_path / "o3",
        )
    )
    assert _ids_by_source(other_seed["train"])["a"] != _ids_by_source(first["train"])["a"]
    more = load_mixture(
        build_mixture(
            write_recipe(_three_sources(tmp_path, write_jsonl, make_qa, extra=True), "r4.yaml"),
            out=tmp_path / "o4",
        )
    )
    for name in ("a", "b", "c"):
        assert _ids_by_source(more["train"])[name] == _ids_by_source(first["train"])[name]


def test_holdout_never_leaks_into_upsampled_train(
    tmp_path, write_jsonl, write_recipe, make_qa, check_invariants
) -> None:
    data = _three_sources(tmp_path, write_jsonl, make_qa, holdout=0.2)
    out = build_mixture(write_recipe(data), out=tmp_path / "o")
    manifest = check_invariants(out)
    s = manifest["sources"]
    assert (s["a"]["held_out"], s["b"]["held_out"], s["c"]["held_out"]) == (8, 2, 2)
    # weights apply to what is left after the holdout
    assert (s["a"]["train_rows"], s["b"]["train_rows"], s["c"]["train_rows"]) == (8, 20, 23)
    dd = load_mixture(out)
    assert not set(dd["train"]["id"]) & set(dd["test"]["id"])
    assert len(dd["test"]) == 12


def test_shuffle_off_keeps_recipe_order(tmp_path, write_jsonl, write_recipe, make_qa) -> None:
    data = _three_sources(tmp_path, write_jsonl, make_qa)
    data["shuffle"] = False
    train = load_mixture(build_mixture(write_recipe(data), out=tmp_path / "o"))["train"]
    sources = train["source"]
    assert sources == ["a"] * 10 + ["b"] * 25 + ["c"] * 23
    b_ids = [i for i, s in zip(train["id"], sources, strict=True) if s == "b"]
    assert b_ids[:20] == [f"b/{i}" for i in range(10)] * 2
