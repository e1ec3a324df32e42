"""Mixture filters: length/quality, decontamination, exact and near deduplication, PII.

`apply_filters` runs the enabled filters over a mixture's canonical rows, across all its
sources, in a fixed order (length -> decontamination -> exact_dedup -> near_dedup -> pii) and
loses nothing: every input row ends in `kept` or in `rejected` with its reason and detail, and
for each source rows in = kept + sum of its dropped counts.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixtune.row_text import turn_columns
from mixtures.filters.config import FiltersConfig
from mixtures.filters.verdicts import FilterVerdicts

log = logging.getLogger(__name__)

REJECT_COLUMNS = ("reject_reason", "reject_detail")
FILTER_ORDER = ("length", "decontamination", "exact_dedup", "near_dedup", "pii")

__all__ = ["FilterResult", "FiltersConfig", "apply_filters", "FILTER_ORDER"]


@dataclass
class FilterResult:
    """Rows kept (PII-redacted where asked), rows dropped with `reject_reason`/`reject_detail`,
    dropped counts per source and reason, and per-filter statistics for the manifest."""

    kept: Any
    rejected: Any
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)


def _run_filter(name: str, ds: Any, cfg: FiltersConfig, kind: str, num_proc: int | None) -> FilterVerdicts:
    if name == "length":
        from mixtures.filters.length import run_length

        return run_length(ds, cfg.length, kind, num_proc)
    if name == "decontamination":
        from mixtures.filters.decontaminate import run_decontamination

        return run_decontamination(ds, cfg.decontamination, kind, num_proc)
    if name == "exact_dedup":
        from mixtures.filters.dedup import run_exact

        return run_exact(ds, cfg.exact_dedup, kind, num_proc)
    if name == "near_dedup":
        from mixtures.filters.dedup import run_near

        return run_near(ds, cfg.near_dedup, kind, num_proc)
    from mixtures.filters.pii import run_pii

    return run_pii(ds, cfg.pii, kind, num_proc)


def _with_reasons(part: Any, result: FilterVerdicts, drop: np.ndarray) -> Any:
    """The dropped rows as an in-memory Arrow table plus reason/detail columns (appending columns
    to the Arrow table avoids re-encoding the rows through `datasets`' writer)."""
    import pyarrow as pa
    from datasets import Dataset

    table = part.with_format("arrow")[:]
    table = table.append_column("reject_reason", pa.array([result.reasons[i] for i in drop], pa.string()))
    table = table.append_column("reject_detail", pa.array([result.details[i] for i in drop], pa.string()))
    return Dataset(table)


def _empty_rejected(ds: Any) -> Any:
    """No row was dropped: an empty table with the input's columns plus the reject columns."""
    import pyarrow as pa
    from datasets import Dataset

    table = ds.with_format("arrow")[:0]
    for column in REJECT_COLUMNS:
        table = table.append_column(column, pa.array([], pa.string()))
    return Dataset(table)


def _check_columns(ds: Any, kind: str) -> None:
    from mixtune.errors import DataError

    missing = [c for c in (*turn_columns(kind), "source", "id") if c not in ds.column_names]
    if missing:
        raise DataError(
            f"filters need canonical {kind} rows; missing column(s) {missing} in {ds.column_names}"
        )


def _filter_groups(
    name: str, sources: np.ndarray, cfg: FiltersConfig, per_source: dict[str, FiltersConfig]
) -> list[tuple[FiltersConfig | None, np.ndarray]]:
    """Rows grouped by the settings `name` runs with for their source (None: exempt)."""
    configs: dict[str, FiltersConfig | None] = {}
    for source in np.unique(sources).tolist():
        own = per_source.get(source, cfg)
        configs[source] = own if getattr(own, name).enabled else None
    keys: dict[str, tuple[FiltersConfig | None, list[str]]] = {}
    for source, own in configs.items():
        key = "" if own is None else getattr(own, name).model_dump_json()
        keys.setdefault(key, (own, []))[1].append(source)
    return [(own, np.flatnonzero(np.isin(sources, members))) for own, members in keys.values()]


def _merge_stats(total: dict[str, Any], new: dict[str, Any]) -> None:
    """Stage statistics of several source groups: numbers add up, mappings merge."""
    for key, value in new.items():
        old = total.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            _merge_stats(old, value)
        elif isinstance(old, int | float) and isinstance(value, int | float) and not isinstance(value, bool):
            total[key] = old + value
        else:
            total[key] = value


def _run_grouped(
    name: str,
    ds: Any,
    cfg: FiltersConfig,
    per_source: dict[str, FiltersConfig],
    kind: str,
    num_proc: int | None,
) -> FilterVerdicts | None:
    """Run one filter over the rows it applies to, each source group with its own settings; the
    verdicts (and rewritten rows) come back in the order of `ds`."""
    from datasets import concatenate_datasets

    if not per_source:
        return _run_filter(name, ds, cfg, kind, num_proc) if getattr(cfg, name).enabled else None
    sources = np.asarray(ds.with_format("arrow")["source"].to_pylist(), dtype=object)
    groups = _filter_groups(name, sources, cfg, per_source)
    if all(own is None for own, _ in groups):
        return None
    if len(groups) == 1:
        return _run_filter(name, ds, groups[0][0], kind, num_proc)  # type: ignore[arg-type]
    reasons, details = [""] * len(ds), [""] * len(ds)
    stats: dict[str, Any] = {}
    rewritten, order = [], []
    for own, idx in groups:
        part = ds.select(idx)
        if own is None:
            rewritten.append(part)
            order.append(idx)
            continue
        result = _run_filter(name, part, own, kind, num_proc)
        for j, i in enumerate(idx.tolist()):
            reasons[i], details[i] = result.reasons[j], result.details[j]
        _merge_stats(stats, result.stats)
        rewritten.append(result.dataset if result.dataset is not None else part)
        order.append(idx)
    dataset = None
    if any(r is not None for r in rewritten) and name == "pii":
        joined = concatenate_datasets(rewritten)
        dataset = joined.select(np.argsort(np.concatenate(order), kind="stable"))
    return FilterVerdicts(reasons, details, stats, dataset=dataset)


def apply_filters(
    ds: Any,
    cfg: FiltersConfig,
    kind: str,
    num_proc: int | None = None,
    per_source: dict[str, FiltersConfig] | None = None,
) -> FilterResult:
    """Apply every enabled filter of `cfg` to `ds` (a `datasets.Dataset` of canonical `kind` rows);
    `per_source` gives the sources whose own `filters:` change a filter's settings or exempt them."""
    from datasets import concatenate_datasets

    _check_columns(ds, kind)
    sources_in = Counter(ds["source"][:]) if len(ds) else Counter()
    rejected_parts = []
    stats: dict[str, Any] = {}
    current = ds
    for name in FILTER_ORDER:
        result = _run_grouped(name, current, cfg, per_source or {}, kind, num_proc) if len(current) else None
        if result is None:
            continue
        stats.update(result.stats)
        if result.dataset is not None:
            current = result.dataset
        is_dropped = np.fromiter((bool(r) for r in result.reasons), dtype=bool, count=len(result.reasons))
        drop = np.flatnonzero(is_dropped)
        if len(drop):
            rejected_parts.append(_with_reasons(current.select(drop), result, drop))
            current = current.select(np.flatnonzero(~is_dropped))
        log.info("filter %s: dropped %d rows, %d remain", name, len(drop), len(current))

    rejected = concatenate_datasets(rejected_parts) if rejected_parts else _empty_rejected(ds)
    dropped: dict[str, dict[str, int]] = {source: {} for source in sorted(sources_in)}
    if len(rejected):
        for (source, reason), count in sorted(
            Counter(zip(rejected["source"][:], rejected["reject_reason"][:], strict=True)).items()
        ):
            dropped.setdefault(source, {})[reason] = count
    return FilterResult(kept=current, rejected=rejected, dropped=dropped, stats=stats)
