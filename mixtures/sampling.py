"""Weight / count semantics and test holdouts, as index arrays (the rows themselves stay in Arrow).

- `weight: w` asks for round(w × n) rows of a source with n rows (halves round up).
  Below 1 that is a seeded subsample without replacement; above 1 every row appears
  floor(w) times plus a seeded sample of the remainder ("full repeats + seeded extras").
- `count: c` asks for exactly c rows, by the same rule (c > n upsamples).
- A holdout takes a seeded sample of a source's rows for the test split *before* any
  upsampling, so a test row never appears in train.
Every random choice draws from a generator seeded by (recipe seed, source name, purpose),
so adding or reordering a source never changes another source's rows.

`select_splits` applies these per source to the filtered pools and assembles the train and
test splits (and each source's manifest entry) that `writer.py` saves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixtune.errors import DataError
from mixtune.hashing import hash_obj
from mixtures.recipe import MixtureRecipe

MAX_SOURCE_ROWS = 1_000_000_000  # a weight or count asking for more is a mistake, not a plan


def rng_for(seed: int, *purpose: str) -> np.random.Generator:
    return np.random.default_rng(int(hash_obj([seed, *purpose]), 16))


def round_half_up(x: float) -> int:
    return math.floor(x + 0.5 + 1e-9)


@dataclass(frozen=True)
class Selection:
    indices: np.ndarray
    pool: int
    target: int
    repeats: int
    extras: int

    @property
    def upsampled(self) -> bool:
        return self.target > self.pool


def target_rows(n: int, weight: float | None = None, count: int | None = None) -> int:
    if count is not None:
        return count if n > 0 else 0
    return round_half_up((1.0 if weight is None else weight) * n)


def select_rows(
    n: int, rng: np.random.Generator, weight: float | None = None, count: int | None = None
) -> Selection:
    """Indices into a pool of n rows realising the weight/count; repeats in pool order, then the
    seeded extras in pool order."""
    target = target_rows(n, weight, count)
    if target > MAX_SOURCE_ROWS:
        key = f"count {count}" if count is not None else f"weight {weight:g}"
        raise DataError(
            f"{key} asks for {target:,} rows from a pool of {n:,}; more than {MAX_SOURCE_ROWS:,} rows per source"
        )
    if n == 0 or target == 0:
        return Selection(np.zeros(0, dtype=np.int64), n, target, 0, 0)
    repeats, extras = divmod(target, n)
    extra_idx = np.sort(rng.choice(n, size=extras, replace=False)) if extras else np.zeros(0, dtype=np.int64)
    indices = np.concatenate([np.tile(np.arange(n, dtype=np.int64), repeats), extra_idx.astype(np.int64)])
    return Selection(indices, n, target, repeats, extras)


def holdout_rows(
    n: int, holdout: float, cap: int | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices), both sorted: a fraction (< 1) or a count of the n rows."""
    k = round_half_up(holdout * n) if holdout < 1 else int(holdout)
    k = min(k, n)
    if cap is not None:
        k = min(k, cap)
    if k == 0:
        return np.arange(n, dtype=np.int64), np.zeros(0, dtype=np.int64)
    perm = rng.permutation(n)
    return np.sort(perm[k:]).astype(np.int64), np.sort(perm[:k]).astype(np.int64)


def file_holdout(pool: Any, recipe: MixtureRecipe, local: bool) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices) of a completion pool: a file (or repository) is held out
    when the hash of its path and the recipe's seed falls below `test.holdout`, so the split
    moves no file when others are added, and `mixtune.code_files.is_held_out` recomputes it."""
    from mixtures.completion import held_out_mask

    if not len(pool):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    table = pool.with_format("arrow")
    paths, repos = table["path"].to_pylist(), table["repo"].to_pylist()
    assert recipe.test.by is not None
    held = np.asarray(held_out_mask(paths, repos, recipe.test.by, local, recipe.test.holdout, recipe.seed))
    return np.flatnonzero(~held).astype(np.int64), np.flatnonzero(held).astype(np.int64)


def cap_rows(n: int, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    """All n rows, or a seeded sample of `cap` of them (in pool order)."""
    if cap is None or cap >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(rng.choice(n, size=cap, replace=False)).astype(np.int64)


def _empty_split(kind: str, tools: bool = True) -> Any:
    from datasets import Dataset

    from mixtures.normalise import canonical_columns, canonical_features

    return Dataset.from_dict(
        {c: [] for c in (*canonical_columns(kind, tools), "source", "id")},
        features=canonical_features(kind, tools),
    )


def _concat(parts: list[Any], kind: str, tools: bool) -> Any:
    from datasets import concatenate_datasets

    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty_split(kind, tools)
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def select_splits(
    recipe: MixtureRecipe, plans: list[Any], train_sides: dict, test_sides: dict, tools: bool = False
) -> tuple[Any, Any, dict]:
    """Per source: the test rows (own split, else holdout) and the weighted train rows."""
    seed = recipe.seed
    cap = recipe.test.max_rows_per_source
    train_parts, test_parts, entries = [], [], {}
    for p in plans:
        name = p.spec.name
        side = train_sides[name]
        pool = side.pool
        entry: dict[str, Any] = {"identity": p.train_in.identity, "amount": p.spec.amount, **side.summary()}
        if p.test_in is not None:
            tside = test_sides[name]
            tidx = cap_rows(len(tside.pool), cap, rng_for(seed, name, "test"))
            test_parts.append(tside.pool.select(tidx))
            test_entry = {
                "from": "own split",
                "identity": p.test_in.identity,
                **tside.summary(),
                "rows": int(tidx.size),
            }
            train_pool, held = pool, 0
        elif recipe.kind == "completion":
            tr, te = file_holdout(pool, recipe, p.spec.code_repo is not None)
            test_parts.append(pool.select(te))
            train_pool, held = pool.select(tr), int(te.size)
            test_entry = {"from": f"held-out {recipe.test.by}s", "rows": held}
        elif recipe.test.holdout > 0:
            tr, te = holdout_rows(len(pool), recipe.test.holdout, cap, rng_for(seed, name, "holdout"))
            test_parts.append(pool.select(te))
            train_pool, held = pool.select(tr), int(te.size)
            test_entry = {"from": "holdout", "rows": held}
        else:
            train_pool, held = pool, 0
            test_entry = {"from": "none", "rows": 0}
        try:
            sel = select_rows(
                len(train_pool), rng_for(seed, name, "weight"), weight=p.spec.weight, count=p.spec.count
            )
        except DataError as exc:
            raise DataError(f"source '{name}': {exc}") from None
        train_parts.append(train_pool.select(sel.indices))
        entry.update(
            held_out=held,
            train_pool=len(train_pool),
            train_rows=int(sel.indices.size),
            repeats=sel.repeats,
            extra_rows=sel.extras,
            upsampled=sel.upsampled,
            test=test_entry,
        )
        entries[name] = entry
    train = _concat(train_parts, recipe.kind, tools)
    if len(train) == 0:
        detail = "; ".join(
            f"{n}: {e['rows_in']} in, {e['kept']} kept, dropped {e['dropped']}" for n, e in entries.items()
        )
        raise DataError(f"mixture '{recipe.name}': empty result: no training rows ({detail})")
    if recipe.shuffle:
        train = train.select(rng_for(seed, "shuffle").permutation(len(train)))
    return train, _concat(test_parts, recipe.kind, tools), entries
