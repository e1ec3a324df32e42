"""What every filter returns (`FilterVerdicts`), and the one way filters run a function over a dataset."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ROWS_PER_PROCESS = 5_000  # below this a worker process costs more than it saves


@dataclass
class FilterVerdicts:
    """Per-row verdicts of one filter ("" = kept), a replacement dataset when the filter rewrites
    rows (PII redaction), and numbers for the manifest."""

    reasons: list[str]
    details: list[str]
    stats: dict[str, Any] = field(default_factory=dict)
    dataset: Any = None


def effective_num_proc(n_rows: int, num_proc: int | None) -> int | None:
    """`num_proc` for `datasets.map`, capped so each process gets a worthwhile share of rows."""
    if not num_proc or num_proc <= 1:
        return None
    procs = min(num_proc, n_rows // ROWS_PER_PROCESS, os.cpu_count() or 1)
    return procs if procs > 1 else None


def map_columns(
    ds: Any, fn: Callable[[dict[str, list[Any]]], dict[str, Any]], num_proc: int | None, desc: str
) -> Any:
    """Run a batched function over `ds` and return a dataset of only the columns it produces."""
    return ds.map(
        fn,
        batched=True,
        batch_size=1000,
        remove_columns=ds.column_names,
        num_proc=effective_num_proc(len(ds), num_proc),
        load_from_cache_file=False,
        desc=desc,
    )


def column_numpy(ds: Any, name: str) -> np.ndarray:
    """A column of a mapped dataset (no indices mapping) as numpy; a list column becomes 2-D."""
    import pyarrow as pa

    col = ds.data.column(name).combine_chunks()
    if (
        pa.types.is_list(col.type)
        or pa.types.is_large_list(col.type)
        or pa.types.is_fixed_size_list(col.type)
    ):
        values = col.flatten().to_numpy(zero_copy_only=False)
        return values.reshape(len(col), -1) if len(col) else values.reshape(0, 0)
    return col.to_numpy(zero_copy_only=False)


def verdict_lists(out: Any) -> tuple[list[str], list[str]]:
    return out["__reason"][:], out["__detail"][:]
