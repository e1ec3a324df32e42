"""The search index of a built mixture, read side: its on-disk format, the text segments and
line hashes it is made of, and loading it. Building it is the mixtures stage's job
(`mixtures.search_index.build_index`, `mixtune mix index DIR`).

Two parts, both over *segments* (every turn's content, plus each fenced code block inside a
turn that holds more than the block, so a snippet is compared with the code, not with the
prose around it; a completion row is one turn, its file):

- near matches: MinHash signatures computed exactly as the near-dedup filter computes them
  (`mixtune.minhash`: BigCode word tokens, word n-gram shingles, affine permutations) with
  LSH bands; one sorted (band value, segment) table per band, looked up by binary search;
- verbatim copies: a hash of every significant normalised line of each turn (whitespace collapsed,
  at least `MIN_LINE_CHARS` characters), sorted with its segment.

The index is stored beside the mixture, never inside it (a built mixture folder stays
byte-identical): `<mixture>.index/`, holding `meta.json` (the mixture hash it was built from)
and `index.npz`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mixtune import minhash
from mixtune.errors import DataError
from mixtune.minhash import optimal_bands_rows
from mixtune.row_text import iter_turns

INDEX_VERSION = "2"
INDEX_SUFFIX = ".index"
MIN_LINE_CHARS = 8
FENCE_RE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
BUILD_COMMAND = "mixtune mix index"


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


def band_values_of(
    texts: Sequence[str], config: IndexConfig, perms: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """(band hashes (n, bands), empty mask): exactly the near-dedup filter's signature pipeline."""
    sig = minhash.signatures(texts, config.ngram, perms)
    bands, rows = config.bands_rows
    return minhash.band_hashes(sig, bands, rows), minhash.empty_rows(sig)


def read_meta(out: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_index(out: Path) -> SearchIndex:
    meta = read_meta(out)
    if meta is None or not (out / "index.npz").is_file():
        raise DataError(f"{out}: no search index here; build it with `{BUILD_COMMAND} <mixture folder>`")
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
    return index_problem(mixture) is None


def index_problem(mixture: str | Path) -> str | None:
    """Why the index of a mixture cannot answer queries (missing, older format, built from
    another hash), or None when it is current."""
    from mixtune.manifest import read_manifest

    out = index_path(mixture)
    meta = read_meta(out)
    if meta is None or not (out / "index.npz").is_file():
        return "has no search index"
    if meta.get("version") != INDEX_VERSION:
        return f"has a search index of format {meta.get('version')}, not {INDEX_VERSION}"
    digest = read_manifest(mixture)["hash"]
    if meta.get("hash") != digest:
        return f"has a stale search index (built from mixture {meta.get('hash')}, now {digest})"
    return None


def require_index(mixture: str | Path) -> Path:
    """The current index folder of a mixture; a `DataError` naming the mixture and the command
    that builds it when it is missing or stale (this package only reads indexes)."""
    from mixtune.manifest import read_manifest

    problem = index_problem(mixture)
    if problem is not None:
        name = read_manifest(mixture).get("name", "?")
        raise DataError(f"mixture '{name}' at {mixture} {problem}; build it with `{BUILD_COMMAND} {mixture}`")
    return index_path(mixture)
