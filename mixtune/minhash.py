"""Vectorised MinHash + LSH: near-deduplication of mixtures and near matches in training-data search.

A batch of documents is processed with a few numpy passes instead of a Python loop per
shingle: the batch's UTF-8 bytes are split into word tokens on `[^A-Za-z_0-9]` (BigCode's
tokenisation, case-folded) by array operations, each token is hashed from its packed bytes,
word n-gram shingles are combined from token hashes with array arithmetic, and the permutations are the affine family
`a * x + b mod 2^32` over avalanche-mixed shingle hashes (datasketch's "affine32" scheme),
which needs no modulo by a prime. LSH bands are hashed to one uint64 each; rows sharing a
band value are candidates, and clusters are the connected components of the candidate
graph, found by vectorised min-label propagation.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache

import numpy as np

_U64 = np.uint64
_MAX32 = np.uint32(0xFFFFFFFF)
_WORD_RE = re.compile(r"[A-Za-z_0-9]+")
_WORD = np.zeros(256, dtype=bool)
_WORD_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
_WORD[np.frombuffer(_WORD_BYTES, dtype=np.uint8)] = True
_FOLD = np.arange(256, dtype=np.uint8)
_FOLD[ord("A") : ord("Z") + 1] += 32
_PACKED = 32  # tokens up to this many bytes are hashed from their packed bytes, longer ones by blake2b
_TOKEN_CHUNK = 1 << 16
_MIX = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5], dtype=np.uint64
)
_Q = np.uint64(0x9E3779B97F4A7C15)
_SHINGLE_CHUNK = 1 << 12  # shingles per permutation pass: 4k x 256 x 4 B = 4 MiB, stays in cache


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: spreads every input bit over every output bit."""
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _U64(33))


def _hash_long_token(token: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(token, digest_size=8).digest(), "little")


def hash_token(token: str) -> int:
    """The hash `token_hashes` gives a single word token."""
    return int(token_hashes([token])[0][0])


def tokens(text: str) -> list[str]:
    """BigCode's word tokens: runs of `[A-Za-z_0-9]` (case is folded when hashing)."""
    return _WORD_RE.findall(text)


def token_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(hash per word token, document index per token), tokens in document order.

    Tokens are maximal runs of `[A-Za-z_0-9]` bytes in the UTF-8 text (non-ASCII bytes separate
    tokens, exactly as `re.split(r"[^A-Za-z_0-9]", text)` on the decoded string), case-folded.
    A token's hash depends only on its bytes: up to 32 bytes are packed into four uint64 words
    and mixed with array arithmetic; longer tokens (rare) are hashed with blake2b."""
    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
    joined = b"\n".join(encoded) + b"\n" * (_PACKED + 1)  # separators, and padding for the windows
    buf = np.frombuffer(joined, dtype=np.uint8)
    is_word = _WORD[buf]
    flips = np.flatnonzero(np.diff(np.concatenate(([False], is_word)).astype(np.int8)))
    starts, ends = flips[0::2], flips[1::2]
    lengths = ends - starts
    doc_starts = np.cumsum([0] + [len(e) + 1 for e in encoded[:-1]]) if encoded else np.zeros(0, np.int64)
    doc = np.searchsorted(doc_starts, starts, side="right") - 1
    folded = _FOLD[buf]
    windows = np.lib.stride_tricks.sliding_window_view(folded, _PACKED)
    out = np.empty(len(starts), dtype=np.uint64)
    positions = np.arange(_PACKED)
    for lo in range(0, len(starts), _TOKEN_CHUNK):
        hi = min(lo + _TOKEN_CHUNK, len(starts))
        chunk = windows[starts[lo:hi]] * (positions[None, :] < lengths[lo:hi, None])
        words = np.ascontiguousarray(chunk).view(np.uint64)  # (n, 4)
        h = lengths[lo:hi].astype(np.uint64) * _MIX[0]
        for k in range(_PACKED // 8):
            h = _fmix64(h ^ (words[:, k] * _MIX[k]))
        out[lo:hi] = h
    for i in np.flatnonzero(lengths > _PACKED):
        out[i] = _hash_long_token(folded[starts[i] : ends[i]].tobytes())
    return out, doc


def shingle_hashes(
    texts: Sequence[str], ngram: int, short_docs: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(hash per word n-gram shingle, document index per shingle), grouped by document.

    With `short_docs`, a document with fewer than `ngram` tokens (but at least one) gets one
    shingle of all its tokens, so short texts still deduplicate; a document without tokens gets
    none."""
    tok, doc = token_hashes(texts)
    return shingles_from_tokens(tok, doc, len(texts), ngram, short_docs)


def shingles_from_tokens(
    tok: np.ndarray, doc: np.ndarray, n_docs: int, ngram: int, short_docs: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """`shingle_hashes` from already hashed tokens (see `token_hashes`)."""
    t = len(tok)
    if t == 0:
        return tok, doc
    m = max(t - ngram + 1, 0)
    full = np.empty(0, np.uint64)
    full_doc = np.empty(0, np.int64)
    if m:
        valid = doc[:m] == doc[ngram - 1 : ngram - 1 + m]
        h = tok[:m].copy()
        for j in range(1, ngram):
            h = h * _Q + tok[j : j + m]
        full, full_doc = _fmix64(h[valid]), doc[:m][valid]
    counts = np.bincount(doc, minlength=n_docs)
    short = np.flatnonzero((counts > 0) & (counts < ngram)) if short_docs else np.empty(0, np.int64)
    if len(short):
        first = np.searchsorted(doc, short, side="left")
        lens = counts[short]
        h = tok[first].copy()
        for j in range(1, ngram - 1):
            more = lens > j
            h[more] = h[more] * _Q + tok[first[more] + j]
        full = np.concatenate((full, _fmix64(h)))
        full_doc = np.concatenate((full_doc, short))
        order = np.argsort(full_doc, kind="stable")
        full, full_doc = full[order], full_doc[order]
    return full, full_doc


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (a, b) for the affine family `a * x + b mod 2^32` (as datasketch's affine32); `a` odd."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**32, size=num_perm, dtype=np.uint32) | np.uint32(1)
    b = rng.integers(0, 2**32, size=num_perm, dtype=np.uint32)
    return a, b


def signatures_from_shingles(
    shingles: np.ndarray, shingle_doc: np.ndarray, n_docs: int, perms: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """MinHash signatures (n_docs, num_perm) uint32; a document without shingles is all 0xFFFFFFFF.

    Values are laid out permutation-major, (num_perm, shingles), so the per-document minimum is a
    contiguous `reduceat` along the last axis."""
    a, b = perms
    sig = np.full((len(a), n_docs), _MAX32, dtype=np.uint32)
    x = (shingles >> _U64(32)).astype(np.uint32)
    for lo in range(0, len(x), _SHINGLE_CHUNK):
        hi = min(lo + _SHINGLE_CHUNK, len(x))
        values = np.multiply(a[:, None], x[None, lo:hi])
        np.add(values, b[:, None], out=values)
        docs = shingle_doc[lo:hi]
        seg = np.flatnonzero(np.concatenate(([True], docs[1:] != docs[:-1])))
        mins = np.minimum.reduceat(values, seg, axis=1)
        owners = docs[seg]
        sig[:, owners] = np.minimum(sig[:, owners], mins)
    return np.ascontiguousarray(sig.T)


def signatures(texts: Sequence[str], ngram: int, perms: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    shingles, doc = shingle_hashes(texts, ngram)
    return signatures_from_shingles(shingles, doc, len(texts), perms)


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One uint64 per (document, band); documents without shingles get distinct-per-row values
    derived from nothing shared, so they never collide with each other by emptiness."""
    n = sig.shape[0]
    block = sig[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    h = np.broadcast_to(np.arange(1, bands + 1, dtype=np.uint64) * _Q, (n, bands)).copy()
    for j in range(rows):
        h = _fmix64(h ^ block[:, :, j])
    return h


def empty_rows(sig: np.ndarray) -> np.ndarray:
    return (sig == np.uint32(0xFFFFFFFF)).all(axis=1)


def sorted_bands(
    band_values: np.ndarray, skip: np.ndarray | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per band: (row ids taking part, stable sort order of their band values, the sorted values);
    rows in `skip` take part in no band. Equal neighbours in the sorted values share a bucket."""
    ids = np.arange(band_values.shape[0], dtype=np.int64)
    if skip is not None and skip.any():
        ids = ids[~skip]
    for j in range(band_values.shape[1]):
        col = band_values[ids, j]
        order = np.argsort(col, kind="stable")
        yield ids, order, col[order]


def bucket_edges(band_values: np.ndarray, skip: np.ndarray | None = None) -> np.ndarray:
    """Unique (u, v) pairs, u < v, linking each bucket member to the bucket's first member, over all
    bands. Rows in `skip` (e.g. empty documents) take part in no bucket."""
    parts = []
    for ids, order, sorted_vals in sorted_bands(band_values, skip):
        new_group = np.concatenate(([True], sorted_vals[1:] != sorted_vals[:-1]))
        group_first = np.maximum.accumulate(np.where(new_group, np.arange(len(order)), 0))
        members = ~new_group
        if members.any():
            parts.append(np.stack((ids[order[group_first[members]]], ids[order[members]]), axis=1))
    if not parts:
        return np.empty((0, 2), dtype=np.int64)
    edges = np.concatenate(parts)
    edges.sort(axis=1)
    return np.unique(edges, axis=0)


def connected_components(n: int, edges: np.ndarray) -> np.ndarray:
    """Label each node with the smallest node index in its component (min-label propagation with
    pointer jumping; a few vectorised passes even for long chains)."""
    labels = np.arange(n, dtype=np.int64)
    if len(edges) == 0:
        return labels
    u, v = edges[:, 0], edges[:, 1]
    while True:
        lu, lv = labels[u], labels[v]
        low = np.minimum(lu, lv)
        before = labels.copy()
        np.minimum.at(labels, lu, low)
        np.minimum.at(labels, lv, low)
        while True:  # pointer jumping: follow labels to their roots
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels, before):
            return labels


def all_bucket_pairs(band_values: np.ndarray, skip: np.ndarray | None = None, cap: int = 64) -> np.ndarray:
    """Every unique pair sharing a bucket (buckets larger than `cap` contribute star edges only):
    the candidate pairs a classic LSH index reports. Buckets are expanded by size class, so the
    Python loop runs over distinct bucket sizes, not over buckets."""
    parts = []
    for ids, order, sorted_vals in sorted_bands(band_values, skip):
        bounds = np.flatnonzero(np.concatenate(([True], sorted_vals[1:] != sorted_vals[:-1], [True])))
        starts, sizes = bounds[:-1], np.diff(bounds)
        members = ids[order]
        for size in np.unique(sizes[sizes > 1]):
            group = starts[sizes == size]
            if size <= cap:
                iu, iv = np.triu_indices(int(size), k=1)
                block = members[group[:, None] + np.arange(size)[None, :]]
                parts.append(np.stack((block[:, iu].ravel(), block[:, iv].ravel()), axis=1))
            else:
                block = members[group[:, None] + np.arange(size)[None, :]]
                parts.append(np.stack((np.repeat(block[:, 0], size - 1), block[:, 1:].ravel()), axis=1))
    if not parts:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.concatenate(parts)
    pairs.sort(axis=1)
    return np.unique(pairs, axis=0)


def estimated_jaccard(sig: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (sig[u] == sig[v]).mean(axis=1)


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard of two shingle-hash sets (arrays, duplicates allowed)."""
    a, b = np.unique(a), np.unique(b)
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


@lru_cache(maxsize=64)
def optimal_bands_rows(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """Pick LSH (bands, rows) with bands*rows <= num_perm minimising the weighted areas under the
    candidate-probability curve 1-(1-s^r)^b below the threshold (false positives) and above it
    (false negatives), as in datasketch and BigCode's near-dedup."""
    best, best_err = (1, 1), float("inf")
    lo = np.linspace(0.0, threshold, 512)
    hi = np.linspace(threshold, 1.0, 512)
    for b in range(1, num_perm + 1):
        max_r = num_perm // b
        for r in range(1, max_r + 1):
            fp = np.trapezoid(1.0 - (1.0 - lo**r) ** b, lo)
            fn = np.trapezoid((1.0 - hi**r) ** b, hi)
            err = fp * fp_weight + fn * fn_weight
            if err < best_err:
                best, best_err = (b, r), err
    return best
