"""Exact and near deduplication filters across all sources of a mixture.

Which copy survives is deterministic: the first row in mixture order (sources in recipe
order) or the longest, ties broken by order."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from mixtune import minhash
from mixtune.row_text import batch_rows, batch_texts, iter_turns, normalize
from mixtures.filters.config import ExactDedupConfig, NearDedupConfig
from mixtures.filters.verdicts import FilterVerdicts, column_numpy, map_columns

EXACT_DUPLICATE, NEAR_DUPLICATE = "exact_duplicate", "near_duplicate"
VERIFY_BUCKET_CAP = 64


class ExactKeyer:
    """A 128-bit key of each row's (role, content) turns, normalised or raw, and its length."""

    def __init__(self, kind: str, do_normalize: bool) -> None:
        self.kind = kind
        self.normalize = do_normalize

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[int]]:
        hi, lo, lengths = [], [], []
        for row in batch_rows(batch):
            parts, n = [], 0
            for column, message in iter_turns(row, self.kind):
                content = message.get("content") or ""
                n += len(content)
                parts.append(
                    f"{column}\x01{message.get('role')}\x01{normalize(content) if self.normalize else content}"
                )
            digest = hashlib.blake2b(
                "\x00".join(parts).encode("utf-8", "surrogatepass"), digest_size=16
            ).digest()
            hi.append(int.from_bytes(digest[:8], "little"))
            lo.append(int.from_bytes(digest[8:], "little"))
            lengths.append(n)
        return {
            "__hi": np.array(hi, dtype=np.uint64),
            "__lo": np.array(lo, dtype=np.uint64),
            "__len": lengths,
        }


def survivors(groups: np.ndarray, lengths: np.ndarray, keep: str) -> np.ndarray:
    """For rows labelled by group, the index of the row each group keeps (one per row)."""
    n = len(groups)
    index = np.arange(n)
    if keep == "longest":
        order = np.lexsort((index, -lengths.astype(np.int64), groups))
    else:
        order = np.lexsort((index, groups))
    sorted_groups = groups[order]
    first = np.concatenate(([True], sorted_groups[1:] != sorted_groups[:-1]))
    head = order[np.maximum.accumulate(np.where(first, np.arange(n), 0))]
    rep = np.empty(n, dtype=np.int64)
    rep[order] = head
    return rep


def run_exact(ds: Any, cfg: ExactDedupConfig, kind: str, num_proc: int | None) -> FilterVerdicts:
    out = map_columns(ds, ExactKeyer(kind, cfg.normalize), num_proc, "exact dedup")
    keys = np.stack((column_numpy(out, "__hi"), column_numpy(out, "__lo")), axis=1)
    _, groups = np.unique(keys, axis=0, return_inverse=True)
    rep = survivors(groups.reshape(-1), column_numpy(out, "__len"), cfg.keep)
    dropped = np.flatnonzero(rep != np.arange(len(rep)))
    reasons, details = [""] * len(rep), [""] * len(rep)
    if len(dropped):
        for row, rep_id in zip(dropped, ds.select(rep[dropped])["id"][:], strict=True):
            reasons[row], details[row] = EXACT_DUPLICATE, f"exact duplicate of {rep_id}"
    return FilterVerdicts(reasons, details, {"exact_dedup": {"duplicates": len(dropped)}})


class BandHasher:
    """LSH band hashes of each row's MinHash signature (for `datasets.map`, picklable)."""

    def __init__(self, kind: str, cfg: NearDedupConfig) -> None:
        self.kind = kind
        self.ngram = cfg.ngram
        self.perms = minhash.permutations(cfg.num_perm, cfg.seed)
        self.bands, self.rows = cfg.band_params()

    def signatures(self, texts: list[str]) -> np.ndarray:
        return minhash.signatures(texts, self.ngram, self.perms)

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, Any]:
        texts = batch_texts(batch, self.kind)
        sig = self.signatures(texts)
        return {
            "__bands": minhash.band_hashes(sig, self.bands, self.rows),
            "__empty": minhash.empty_rows(sig),
            "__len": [len(t) for t in texts],
        }


PAIR_CHUNK = 5_000  # pairs scored at a time, so memory stays bounded at any mixture size


def _pair_texts(ds: Any, pairs: np.ndarray, kind: str) -> tuple[list[str], np.ndarray]:
    """Texts of the rows in `pairs`, and `pairs` re-indexed into that list."""
    rows, inverse = np.unique(pairs, return_inverse=True)
    return batch_texts(ds.select(rows)[:], kind), inverse.reshape(pairs.shape)


def _exact_jaccards(ds: Any, pairs: np.ndarray, kind: str, ngram: int) -> np.ndarray:
    """Exact Jaccard of the shingle sets of each pair, in bounded chunks of pairs."""
    out = np.empty(len(pairs), dtype=np.float64)
    for lo in range(0, len(pairs), PAIR_CHUNK):
        texts, local = _pair_texts(ds, pairs[lo : lo + PAIR_CHUNK], kind)
        values, doc = minhash.shingle_hashes(texts, ngram)
        bounds = np.searchsorted(doc, np.arange(len(texts) + 1))
        sets = [np.unique(values[bounds[i] : bounds[i + 1]]) for i in range(len(texts))]
        for k, (u, v) in enumerate(local):
            out[lo + k] = minhash.exact_jaccard(sets[u], sets[v])
    return out


def _estimated_jaccards(ds: Any, pairs: np.ndarray, kind: str, hasher: BandHasher) -> np.ndarray:
    out = np.empty(len(pairs), dtype=np.float64)
    for lo in range(0, len(pairs), PAIR_CHUNK):
        texts, local = _pair_texts(ds, pairs[lo : lo + PAIR_CHUNK], kind)
        sig = hasher.signatures(texts)
        out[lo : lo + len(local)] = minhash.estimated_jaccard(sig, local[:, 0], local[:, 1])
    return out


def run_near(ds: Any, cfg: NearDedupConfig, kind: str, num_proc: int | None) -> FilterVerdicts:
    hasher = BandHasher(kind, cfg)
    n = len(ds)
    stats: dict[str, Any] = {"bands": hasher.bands, "rows": hasher.rows, "num_perm": cfg.num_perm}
    if n == 0:
        return FilterVerdicts([], [], {"near_dedup": {**stats, "candidate_pairs": 0, "clusters": 0}})
    out = map_columns(ds, hasher, num_proc, "near dedup: minhash")
    bands = column_numpy(out, "__bands").astype(np.uint64)
    empty = column_numpy(out, "__empty").astype(bool)
    lengths = column_numpy(out, "__len")
    if cfg.verify:
        edges = minhash.all_bucket_pairs(bands, skip=empty, cap=VERIFY_BUCKET_CAP)
        stats["candidate_pairs"] = len(edges)
        jaccard = _exact_jaccards(ds, edges, kind, cfg.ngram)
        edges = edges[jaccard >= cfg.threshold]
        stats["verified_pairs"] = len(edges)
    else:
        edges = minhash.bucket_edges(bands, skip=empty)
        stats["candidate_pairs"] = len(edges)
    labels = minhash.connected_components(n, edges)
    rep = survivors(labels, lengths, cfg.keep)
    dropped = np.flatnonzero(rep != np.arange(n))
    stats["clusters"] = int(len(np.unique(labels[dropped])))
    stats["duplicates"] = len(dropped)

    reasons, details = [""] * n, [""] * n
    if len(dropped):
        pairs = np.stack((dropped, rep[dropped]), axis=1)
        if cfg.verify:
            scores, label = _exact_jaccards(ds, pairs, kind, cfg.ngram), "jaccard"
        else:
            scores, label = _estimated_jaccards(ds, pairs, kind, hasher), "estimated jaccard"
        rep_ids = ds.select(pairs[:, 1])["id"][:]
        for row, rep_id, score in zip(dropped, rep_ids, scores, strict=True):
            reasons[row] = NEAR_DUPLICATE
            details[row] = f"near-duplicate of {rep_id} ({label} {score:.2f})"
    return FilterVerdicts(reasons, details, {"near_dedup": stats})
