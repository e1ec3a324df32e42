"""Training-data search: index build rate and query latency against a brute-force scan.

Corpus: deterministic synthetic code rows (`mixtures.synthetic`: a request and a fenced
Python function of ~12 statements, names drawn from a seeded generator), indexed exactly as
`mix index` indexes a mixture's train split (`mixtures.search_index.build_arrays`), queried
through the ground package's read side (`mixtune.attribution`).

Queries: planted rows, half verbatim and half with two small edits (renames, added
comments, inserted/deleted lines), plus unrelated functions from another seed.

- index: `mixtune.attribution.search_index` (line-hash lookup + LSH bands, candidates verified by
  exact word-5-gram Jaccard on the row's text);
- scan: the exact Jaccard of the query with every indexed segment, vectorised (all segments'
  shingle sets precomputed and held in memory, one `np.isin` + `bincount` per query), top-1
  row above the same threshold.

Reported per size: build rows/s, median / p95 query latency of each, the speed-up, and how
many top-1 answers agree (the same row, or both nothing).

    python bench/search.py                       # 100k and 1M rows
    python bench/search.py --sizes 100000 --scan-queries 50

Measured on 2 shared CPU cores (200 queries per size, the first 20 also scanned):
100k rows (300k segments): build 12.1 s = 8,293 rows/s, index query p50 1.11 ms, scan p50
1,125 ms: 1,012x, top-1 agree 20/20, planted recall 1.000 (a quieter machine);
1M rows (3M segments), index version 2 (each turn's lines hashed once) through
`mixtune.attribution`: build 196.8 s = 5,081 rows/s, index query p50 6.55 ms (p95 26.45), scan
p50 14,651 ms (prep 214 s): 2,237x, top-1 agree 20/20, planted recall 1.000 (load average ~3);
index version 1 (a block's lines hashed rather than its turn's), the machine busy with other work:
build 206.9 s = 4,833 rows/s, query p50 1.45 ms (p95 1.94), scan p50 11,093 ms: 7,666x, 20/20.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mixtune import minhash  # noqa: E402
from mixtune.attribution import search_index  # noqa: E402
from mixtune.attribution.index import IndexConfig, row_segments  # noqa: E402
from mixtures.search_index import build_arrays  # noqa: E402
from mixtures.synthetic import code_rows, edit, function  # noqa: E402


class Scan:
    """Every segment's unique shingles in one flat array, for exact-Jaccard brute force."""

    def __init__(self, rows: list[dict], ngram: int) -> None:
        texts, seg_row = [], []
        for r, row in enumerate(rows):
            for _, _, text in row_segments(row, "sft"):
                texts.append(text)
                seg_row.append(r)
        self.seg_row = np.asarray(seg_row, dtype=np.int64)
        shs, docs = [], []
        for lo in range(0, len(texts), 20000):
            sh, doc = minhash.shingle_hashes(texts[lo : lo + 20000], ngram)
            pairs = np.unique(np.stack((doc + lo, sh.view(np.int64)), axis=1), axis=0)
            docs.append(pairs[:, 0].astype(np.int32))
            shs.append(pairs[:, 1].view(np.uint64))
        self.sh = np.concatenate(shs)
        self.doc = np.concatenate(docs)
        self.size = np.bincount(self.doc, minlength=len(texts))
        self.ngram = ngram

    def top1(self, query: str, threshold: float) -> tuple[int | None, float]:
        q = np.unique(minhash.shingle_hashes([query], self.ngram)[0])
        if not len(q):
            return None, 0.0
        inter = np.bincount(self.doc[np.isin(self.sh, q)], minlength=len(self.size))
        jac = inter / (self.size + len(q) - inter)
        best = int(np.argmax(jac))
        return (
            (int(self.seg_row[best]), float(jac[best]))
            if jac[best] >= threshold
            else (None, float(jac[best]))
        )


def queries(rows: list[dict], n: int, seed: int) -> list[tuple[str, int | None]]:
    rng = random.Random(seed)
    out: list[tuple[str, int | None]] = []
    for k in range(n):
        if k % 4 == 3:
            out.append((function(rng), None))
            continue
        i = rng.randrange(len(rows))
        code = rows[i]["messages"][1]["content"].split("```python\n")[1].rsplit("```", 1)[0]
        out.append((code if k % 4 == 0 else edit(code, rng, 2), i))
    return out


def run(size: int, n_queries: int, scan_queries: int) -> dict:
    t = time.perf_counter()
    rows = code_rows(size, seed=1)
    gen_s = time.perf_counter() - t
    config = IndexConfig()
    t = time.perf_counter()
    index = build_arrays(rows, "sft", config, "bench")
    build_s = time.perf_counter() - t
    qs = queries(rows, n_queries, seed=2)
    lat, answers = [], []
    for text, _ in qs:
        t = time.perf_counter()
        top = search_index(index, text, rows.__getitem__, top=1)
        lat.append(time.perf_counter() - t)
        answers.append(top[0].row if top else None)
    planted = [(a, i) for a, (_, i) in zip(answers, qs, strict=True) if i is not None]
    recall = sum(a == i for a, i in planted) / max(1, len(planted))
    t = time.perf_counter()
    scan = Scan(rows, config.ngram)
    scan_prep_s = time.perf_counter() - t
    slat, agree = [], 0
    for k in range(min(scan_queries, len(qs))):
        t = time.perf_counter()
        row, _ = scan.top1(qs[k][0], config.threshold)
        slat.append(time.perf_counter() - t)
        agree += row == answers[k]
    return {
        "rows": size,
        "segments": index.segments,
        "generate_s": gen_s,
        "build_s": build_s,
        "build_rows_per_s": size / build_s,
        "index_ms_p50": 1000 * float(np.median(lat)),
        "index_ms_p95": 1000 * float(np.percentile(lat, 95)),
        "planted_recall": recall,
        "scan_prep_s": scan_prep_s,
        "scan_ms_p50": 1000 * float(np.median(slat)),
        "speedup_p50": float(np.median(slat)) / float(np.median(lat)),
        "top1_agree": f"{agree}/{len(slat)}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=200, help="index queries per size")
    ap.add_argument("--scan-queries", type=int, default=20, help="of those, how many the scan also answers")
    args = ap.parse_args()
    for size in args.sizes:
        r = run(size, args.queries, args.scan_queries)
        print(
            f"{r['rows']:>9,} rows ({r['segments']:,} segments): build {r['build_s']:.1f} s "
            f"= {r['build_rows_per_s']:,.0f} rows/s; index query p50 {r['index_ms_p50']:.2f} ms "
            f"(p95 {r['index_ms_p95']:.2f}), planted top-1 recall {r['planted_recall']:.3f}; "
            f"scan p50 {r['scan_ms_p50']:.0f} ms (prep {r['scan_prep_s']:.1f} s); "
            f"speed-up {r['speedup_p50']:.0f}x; top-1 agree {r['top1_agree']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
