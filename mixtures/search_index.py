"""A search index over a built mixture's training rows: where did this code come from?

Two parts, both over *segments* (every turn's content, plus each fenced code block inside a
turn that holds more than the block, so a snippet is compared with the code, not with the
prose around it):

- near matches: MinHash signatures computed exactly as the near-dedup filter computes them
  (`mixtures.filters.minhash`: BigCode word tokens, word n-gram shingles, affine permutations)
  with LSH bands; one sorted (band value, segment) table per band, looked up by binary search;
- verbatim copies: a hash of every significant normalised line of each turn (whitespace collapsed,
  at least `MIN_LINE_CHARS` characters), sorted with its segment.

The index is stored beside the mixture, never inside it (a built mixture folder stays
byte-identical): `<mixture>.index/`, holding `meta.json` (the mixture hash it was built from)
and `index.npz`. It is rebuilt only when the mixture's hash changes.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mixtune.errors import DataError
from mixtures.filters import minhash
from mixtures.filters.config import optimal_bands_rows
from mixtures.filters.text import iter_turns

INDEX_VERSION = "2"
INDEX_SUFFIX = ".index"
MIN_LINE_CHARS = 8
FENCE_RE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_BATCH = 4096


@dataclass(frozen=True)
class IndexConfig:
    """MinHash settings: `ngram` and `seed` follow the recipe's near-dedup filter; 128
    permutations (half the filter's default) keep the band tables small; `threshold` is the
    Jaccard the LSH bands are tuned for and the least similarity a near match reports."""

    ngram: int = 5
    seed: int = 42
    num_perm: int = 128
    threshold: float = 0.5

    @property
    def bands_rows(self) -> tuple[int, int]:
        return optimal_bands_rows(self.threshold, self.num_perm)

    def perms(self) -> tuple[np.ndarray, np.ndarray]:
        return minhash.permutations(self.num_perm, self.seed)


def config_for(manifest: dict[str, Any]) -> IndexConfig:
    """The index settings of a mixture: shingling and seed as its near-dedup filter's."""
    near = ((manifest.get("recipe") or {}).get("filters") or {}).get("near_dedup") or {}
    return IndexConfig(ngram=int(near.get("ngram", 5)), seed=int(near.get("seed", 42)))


def normalise_line(line: str) -> str:
    """One code line as the exact index sees it: whitespace runs collapsed, stripped."""
    return " ".join(line.split())


def significant_lines(text: str) -> list[tuple[int, str]]:
    """(line number, normalised line) of the lines long enough to say something on their own."""
    out = []
    for i, line in enumerate(text.splitlines()):
        norm = normalise_line(line)
        if len(norm) >= MIN_LINE_CHARS:
            out.append((i, norm))
    return out


def line_hash(norm: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(norm.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
    )


def segments_of(text: str) -> list[str]:
    """A text and, when it holds more than one fenced block's code, each block's code."""
    out = [text]
    for m in FENCE_RE.finditer(text):
        body = m.group(1)
        if body.strip() and body.strip() != text.strip():
            out.append(body)
    return out


def row_segments(row: dict[str, Any], kind: str) -> list[tuple[int, int, str]]:
    """(turn, block, text) segments of one row; block 0 is the whole turn."""
    out = []
    for turn, (_, message) in enumerate(iter_turns(row, kind)):
        for block, text in enumerate(segments_of(message.get("content") or "")):
            out.append((turn, block, text))
    return out


def index_path(mixture: str | Path) -> Path:
    """Where the index of a mixture lives: a sibling folder `<mixture>.index/`."""
    mixture = Path(mixture).resolve()
    return mixture.parent / f"{mixture.name}{INDEX_SUFFIX}"


@dataclass
class SearchIndex:
    """The loaded arrays of an index (see the module docstring)."""

    config: IndexConfig
    digest: str
    kind: str
    seg_row: np.ndarray  # int64, row position in the indexed split
    seg_turn: np.ndarray  # int32
    seg_block: np.ndarray  # int32
    band_vals: np.ndarray  # (bands, n_seg) uint64, each band sorted
    band_segs: np.ndarray  # (bands, n_seg) int64
    line_vals: np.ndarray  # uint64 sorted
    line_segs: np.ndarray  # int64
    rows: int
    split: str = "train"

    @property
    def segments(self) -> int:
        return len(self.seg_row)

    def near_candidates(self, band_values: np.ndarray, cap: int = 2000) -> dict[int, int]:
        """Segment -> number of bands shared with the query (one query signature's bands)."""
        hits: dict[int, int] = {}
        for j, value in enumerate(band_values):
            col = self.band_vals[j]
            lo = int(np.searchsorted(col, value, side="left"))
            hi = int(np.searchsorted(col, value, side="right"))
            for seg in self.band_segs[j, lo : min(hi, lo + cap)].tolist():
                hits[seg] = hits.get(seg, 0) + 1
        return hits

    def line_postings(self, h: int) -> np.ndarray:
        value = np.uint64(h)
        lo = int(np.searchsorted(self.line_vals, value, side="left"))
        hi = int(np.searchsorted(self.line_vals, value, side="right"))
        return self.line_segs[lo:hi]


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


def band_values_of(
    texts: Sequence[str], config: IndexConfig, perms: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """(band hashes (n, bands), empty mask): exactly the near-dedup filter's signature pipeline."""
    sig = minhash.signatures(texts, config.ngram, perms)
    bands, rows = config.bands_rows
    return minhash.band_hashes(sig, bands, rows), minhash.empty_rows(sig)


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


def read_meta(out: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_index(out: Path) -> SearchIndex:
    meta = read_meta(out)
    if meta is None or not (out / "index.npz").is_file():
        raise DataError(f"{out}: no search index here; build it with `mixtune mix index`")
    data = np.load(out / "index.npz")
    return SearchIndex(
        config=IndexConfig(**meta["config"]),
        digest=meta["hash"],
        kind=meta["kind"],
        rows=int(meta["rows"]),
        split=meta.get("split", "train"),
        **{k: data[k] for k in data.files},
    )


def is_current(mixture: str | Path) -> bool:
    """The mixture's index exists and was built from its current hash."""
    from mixtune.manifest import read_manifest

    meta = read_meta(index_path(mixture))
    return bool(
        meta
        and meta.get("version") == INDEX_VERSION
        and meta.get("hash") == read_manifest(mixture)["hash"]
        and (index_path(mixture) / "index.npz").is_file()
    )


def build_index(mixture: str | Path, force: bool = False) -> Path:
    """Build the search index of a built mixture's train split (a no-op when it is current)."""
    from mixtune.manifest import read_manifest
    from mixtures.integrity import load_mixture

    mixture = Path(mixture)
    manifest = read_manifest(mixture)
    out = index_path(mixture)
    if not force and is_current(mixture):
        return out
    start = time.perf_counter()
    ds = load_mixture(mixture)["train"]
    columns = [c for c in ("messages", "prompt", "chosen", "rejected") if c in ds.column_names]
    rows = ds.select_columns(columns).to_iterable_dataset() if len(ds) else []
    index = build_arrays(rows, manifest["kind"], config_for(manifest), manifest["hash"])
    seconds = time.perf_counter() - start
    save_index(index, out, {"mixture": manifest["name"], "build_seconds": round(seconds, 3)})
    return out
