"""Building the search index of a built mixture: where did this code come from?

The index format, its segments and reading it live in the ground package
(`mixtune.attribution.index`), so that serving, evals and the playground can query an index
without importing this stage; this module writes it (`mix index`, `index: true` in a recipe,
and `ensure_indexes` for every mixture a model was trained on, which the orchestration
calls before starting anything that checks answers against training data).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from mixtune.attribution.index import (  # noqa: F401  (the read side, for callers of this module)
    INDEX_SUFFIX,
    INDEX_VERSION,
    MIN_LINE_CHARS,
    IndexConfig,
    SearchIndex,
    band_values_of,
    config_for,
    index_path,
    is_current,
    line_hash,
    load_index,
    normalise_line,
    read_meta,
    row_segments,
    segments_of,
    significant_lines,
)

_BATCH = 4096
INDEXED_COLUMNS = ("messages", "prompt", "chosen", "rejected", "content")


def _segment_arrays(
    rows: Iterable[dict[str, Any]], kind: str
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    texts: list[str] = []
    seg_row, seg_turn, seg_block = [], [], []
    for r, row in enumerate(rows):
        for turn, block, text in row_segments(row, kind):
            texts.append(text)
            seg_row.append(r)
            seg_turn.append(turn)
            seg_block.append(block)
    return (
        texts,
        np.asarray(seg_row, dtype=np.int64),
        np.asarray(seg_turn, dtype=np.int32),
        np.asarray(seg_block, dtype=np.int32),
    )


def build_arrays(
    rows: Iterable[dict[str, Any]], kind: str, config: IndexConfig, digest: str, split: str = "train"
) -> SearchIndex:
    """Index rows in memory (batch by batch for the signatures)."""
    texts, seg_row, seg_turn, seg_block = _segment_arrays(rows, kind)
    perms = config.perms()
    bands, _ = config.bands_rows
    n = len(texts)
    band_vals = np.empty((n, bands), dtype=np.uint64)
    keep = np.ones(n, dtype=bool)
    line_vals: list[int] = []
    line_segs: list[int] = []
    for lo in range(0, n, _BATCH):
        chunk = texts[lo : lo + _BATCH]
        values, empty = band_values_of(chunk, config, perms)
        band_vals[lo : lo + len(chunk)] = values
        keep[lo : lo + len(chunk)] = ~empty
        for k, text in enumerate(chunk):
            if seg_block[lo + k]:
                continue  # a block's lines are the turn's lines: hashed once, with the turn
            for h in {line_hash(norm) for _, norm in significant_lines(text)}:
                line_vals.append(h)
                line_segs.append(lo + k)
    ids = np.flatnonzero(keep)
    bv = band_vals[ids].T  # (bands, m)
    order = np.argsort(bv, axis=1, kind="stable")
    lv = np.asarray(line_vals, dtype=np.uint64)
    ls = np.asarray(line_segs, dtype=np.int64)
    lorder = np.argsort(lv, kind="stable")
    n_rows = int(seg_row[-1]) + 1 if n else 0
    return SearchIndex(
        config=config,
        digest=digest,
        kind=kind,
        seg_row=seg_row,
        seg_turn=seg_turn,
        seg_block=seg_block,
        band_vals=np.take_along_axis(bv, order, axis=1),
        band_segs=ids[order],
        line_vals=lv[lorder],
        line_segs=ls[lorder],
        rows=n_rows,
        split=split,
    )


def save_index(index: SearchIndex, out: Path, extra: dict[str, Any] | None = None) -> None:
    """Write `index.npz` + `meta.json` atomically (a temporary sibling, then a rename)."""
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))  # one per writer
    np.savez(
        tmp / "index.npz",
        seg_row=index.seg_row,
        seg_turn=index.seg_turn,
        seg_block=index.seg_block,
        band_vals=index.band_vals,
        band_segs=index.band_segs,
        line_vals=index.line_vals,
        line_segs=index.line_segs,
    )
    meta = {
        "version": INDEX_VERSION,
        "hash": index.digest,
        "kind": index.kind,
        "split": index.split,
        "rows": index.rows,
        "segments": index.segments,
        "lines": int(len(index.line_vals)),
        "config": asdict(index.config),
        "bands_rows": list(index.config.bands_rows),
        **(extra or {}),
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    try:
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except OSError:  # another process put the same index in place meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
        if read_meta(out) is None:
            raise


def build_index(mixture: str | Path, force: bool = False) -> Path:
    """Build the search index of a built mixture's train split (a no-op when it is current)."""
    from mixtune.built_mixture import load_mixture
    from mixtune.manifest import read_manifest

    mixture = Path(mixture)
    manifest = read_manifest(mixture)
    out = index_path(mixture)
    if not force and is_current(mixture):
        return out
    start = time.perf_counter()
    ds = load_mixture(mixture)["train"]
    columns = [c for c in INDEXED_COLUMNS if c in ds.column_names]
    rows = ds.select_columns(columns).to_iterable_dataset() if len(ds) else []
    index = build_arrays(rows, manifest["kind"], config_for(manifest), manifest["hash"])
    seconds = time.perf_counter() - start
    save_index(index, out, {"mixture": manifest["name"], "build_seconds": round(seconds, 3)})
    return out


def ensure_indexes(dir_or_model: str | Path) -> list[Path]:
    """Build the missing or stale search indexes of a mixture, or of every mixture in a model's
    lineage (run records), so that `mixtune.attribution` can answer queries; returns the index
    folders. Called by the orchestration before serving a model with the training-data check."""
    from mixtune.attribution import targets

    return [build_index(mixture) for mixture in targets(dir_or_model)]
