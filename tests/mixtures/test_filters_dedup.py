"""Exact and near deduplication: planted near-duplicates, survivor choice, verification, the MinHash
estimator itself, and parallel runs agreeing with serial ones."""

from __future__ import annotations

import random
import re

import datasets
import numpy as np
import pytest

from mixtune import minhash
from mixtune.minhash import optimal_bands_rows
from mixtures.filters import FiltersConfig, apply_filters
from mixtures.filters.config import NearDedupConfig


def words5(text: str) -> set[tuple[str, ...]]:
    """Reference shingles, written independently of the vectorised code: BigCode's split, 5-grams."""
    toks = [t.lower() for t in re.split(r"[^A-Za-z_0-9]", text) if t]
    return {tuple(toks[i : i + 5]) for i in range(len(toks) - 4)}


def jaccard(a: str, b: str) -> float:
    sa, sb = words5(a), words5(b)
    return len(sa & sb) / len(sa | sb)


def base_doc(seed: int, n: int = 300) -> list[str]:
    rng = random.Random(seed)
    return [f"w{rng.randrange(10**6)}" for _ in range(n)]


def edited(tokens: list[str], target: tuple[float, float], seed: int) -> str:
    """Replace random tokens until the Jaccard with the original lands in `target`."""
    rng = random.Random(seed)
    original = " ".join(tokens)
    toks = list(tokens)
    for _ in range(len(toks)):
        toks[rng.randrange(len(toks))] = f"x{rng.randrange(10**6)}"
        j = jaccard(original, " ".join(toks))
        if target[0] <= j <= target[1]:
            return " ".join(toks)
        assert j > target[0], "overshot the target band"
    raise AssertionError("target not reached")


def sft(row_id: str, text: str, source: str = "s1", prompt: str = "Rewrite this.") -> dict:
    return {
        "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": text}],
        "source": source,
        "id": row_id,
    }


def run(rows: list[dict], filters: dict, kind: str = "sft", num_proc: int | None = None):
    ds = datasets.Dataset.from_list(rows)
    return apply_filters(ds, FiltersConfig.model_validate(filters), kind, num_proc)


def test_near_duplicate_at_0_8_collapses_and_at_0_5_survives() -> None:
    a = base_doc(1)
    b = edited(a, (0.78, 0.82), seed=2)
    c = base_doc(3)
    d = edited(c, (0.48, 0.52), seed=4)
    a, c = " ".join(a), " ".join(c)
    assert 0.78 <= jaccard(a, b) <= 0.82 and 0.48 <= jaccard(c, d) <= 0.52
    rows = [sft("a", a), sft("b", b, "s2"), sft("c", c), sft("d", d, "s2"), sft("e", " ".join(base_doc(5)))]

    result = run(rows, {"near_dedup": {}})

    assert result.kept["id"][:] == ["a", "c", "d", "e"]
    assert result.rejected["id"][:] == ["b"]
    assert result.rejected["reject_reason"][:] == ["near_duplicate"]
    detail = result.rejected["reject_detail"][0]
    assert detail.startswith("near-duplicate of a (estimated jaccard ")
    assert abs(float(detail.rsplit(" ", 1)[1].rstrip(")")) - jaccard(a, b)) < 0.1
    assert result.dropped == {"s1": {}, "s2": {"near_duplicate": 1}}
    stats = result.stats["near_dedup"]
    assert (stats["bands"], stats["rows"]) == (25, 10) and stats["duplicates"] == 1


def test_survivor_is_first_in_mixture_order_or_longest() -> None:
    a = base_doc(11)
    short = " ".join(a)
    longer = " ".join(a + base_doc(12, 20))  # same text plus a tail: Jaccard ~0.93, longer
    rows = [sft("short", short, "first-source"), sft("long", longer, "second-source")]

    first = run(rows, {"near_dedup": {"keep": "first"}})
    longest = run(rows, {"near_dedup": {"keep": "longest"}})

    assert first.kept["id"][:] == ["short"] and first.rejected["id"][:] == ["long"]
    assert longest.kept["id"][:] == ["long"] and longest.rejected["id"][:] == ["short"]
    assert longest.rejected["reject_detail"][0].startswith("near-duplicate of long")


def test_verification_keeps_candidates_below_threshold() -> None:
    """With loose bands (64 x 1) a pair at Jaccard ~0.5 is always a candidate; exact verification
    must keep it, and must still drop a true duplicate, reporting the exact Jaccard."""
    a = base_doc(21)
    half = edited(a, (0.48, 0.52), seed=22)
    close = edited(a, (0.85, 0.9), seed=23)
    loose = {"num_perm": 64, "bands": 64, "rows": 1}
    unverified = run([sft("a", " ".join(a)), sft("half", half)], {"near_dedup": loose})
    verified = run(
        [sft("a", " ".join(a)), sft("half", half), sft("close", close)],
        {"near_dedup": {**loose, "verify": True}},
    )

    assert unverified.rejected["id"][:] == ["half"]  # the false positive verification prevents
    assert verified.kept["id"][:] == ["a", "half"]
    assert verified.rejected["id"][:] == ["close"]
    exact = jaccard("Rewrite this.\n" + " ".join(a), "Rewrite this.\n" + close)
    assert verified.rejected["reject_detail"][0] == f"near-duplicate of a (jaccard {exact:.2f})"
    assert verified.stats["near_dedup"]["verified_pairs"] < verified.stats["near_dedup"]["candidate_pairs"]


def test_exact_dedup_normalises_case_and_whitespace_but_not_roles() -> None:
    rows = [
        sft("a", "Use  a dict\nfor lookups."),
        sft("b", "use a DICT for   lookups.", "s2"),
        {
            "messages": [
                {"role": "user", "content": "Use a dict for lookups."},
                {"role": "assistant", "content": "Rewrite this."},
            ],
            "source": "s2",
            "id": "c",
        },
    ]
    result = run(rows, {"exact_dedup": True})
    assert result.kept["id"][:] == ["a", "c"]
    assert result.rejected.to_list()[0]["reject_detail"] == "exact duplicate of a"
    raw = run(rows, {"exact_dedup": {"normalize": False}})
    assert len(raw.kept) == 3


def test_tokens_and_shingles_follow_bigcode_split() -> None:
    texts = [
        "def f(x):\n    return x**2  # Square IT",
        "DEF F(X): RETURN X ** 2 # square it",
        "π = 3.14; naïve_name",
        "",
    ]
    tok, doc = minhash.token_hashes(texts)
    counts = np.bincount(doc, minlength=len(texts))
    expected = [len([t for t in re.split(r"[^A-Za-z_0-9]", s) if t]) for s in texts]
    assert counts.tolist() == expected
    first, second = tok[doc == 0], tok[doc == 1]
    assert np.array_equal(first, second)  # case-folded, punctuation and spacing ignored

    rng = random.Random(0)
    long_text = " ".join(f"t{rng.randrange(300)}" for _ in range(2000))
    values, _ = minhash.shingle_hashes([long_text], 5)
    assert len(np.unique(values)) == len(words5(long_text))  # no collisions, same shingle set
    short, short_doc = minhash.shingle_hashes(["only three words", ""], 5)
    assert short_doc.tolist() == [0]  # a short text still gets one shingle; an empty one none


def test_minhash_estimates_jaccard() -> None:
    rng = random.Random(7)
    perms = minhash.permutations(256, 42)
    errors = []
    for k in range(30):
        a = base_doc(100 + k, 200)
        b = list(a)
        for _ in range(rng.randrange(0, 60)):
            b[rng.randrange(len(b))] = f"y{rng.randrange(10**6)}"
        sig = minhash.signatures([" ".join(a), " ".join(b)], 5, perms)
        errors.append(
            minhash.estimated_jaccard(sig, np.array([0]), np.array([1]))[0]
            - jaccard(" ".join(a), " ".join(b))
        )
    errors = np.abs(errors)
    assert errors.mean() < 0.03 and errors.max() < 0.1


def test_band_parameters_match_datasketch() -> None:
    from datasketch.lsh import _optimal_param

    for threshold, num_perm in [(0.7, 256), (0.5, 128), (0.85, 256)]:
        assert optimal_bands_rows(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)
    assert NearDedupConfig().band_params() == (25, 10)
    assert NearDedupConfig(bands=20, rows=5).band_params() == (20, 5)


def test_connected_components_follow_chains() -> None:
    edges = np.array([[0, 1], [1, 2], [5, 6], [2, 3], [4, 6]])
    labels = minhash.connected_components(8, edges)
    assert labels.tolist() == [0, 0, 0, 0, 4, 4, 4, 7]


def test_parallel_run_matches_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    from mixtures.filters import verdicts

    rows = []
    for k in range(12):
        a = base_doc(200 + k, 120)
        rows.append(sft(f"a{k}", " ".join(a), "s1"))
        rows.append(sft(f"b{k}", edited(a, (0.8, 0.9), seed=300 + k), "s2"))
        rows.append(sft(f"c{k}", " ".join(base_doc(400 + k, 120)), "s3"))
    serial = run(rows, {"near_dedup": {}, "exact_dedup": {}})
    monkeypatch.setattr(verdicts, "ROWS_PER_PROCESS", 5)
    parallel = run(rows, {"near_dedup": {}, "exact_dedup": {}}, num_proc=2)
    assert parallel.kept["id"][:] == serial.kept["id"][:]
    assert parallel.rejected.to_list() == serial.rejected.to_list()
    assert len(serial.rejected) >= 10


def test_bucket_pairs_cover_every_pair_and_cap_large_buckets() -> None:
    bands = np.array([[1, 7], [1, 8], [1, 9], [2, 9], [3, 3], [4, 3], [5, 3], [6, 3]], dtype=np.uint64)
    pairs = minhash.all_bucket_pairs(bands, cap=3).tolist()
    # band 0: bucket {0,1,2} -> all 3 pairs; band 1: {2,3} -> 1 pair, {4,5,6,7} exceeds the cap -> star from 4
    assert pairs == [[0, 1], [0, 2], [1, 2], [2, 3], [4, 5], [4, 6], [4, 7]]
    skip = np.array([False, True, False, False, False, False, False, False])
    assert [0, 1] not in minhash.all_bucket_pairs(bands, skip=skip).tolist()
    assert minhash.bucket_edges(bands).tolist() == [[0, 1], [0, 2], [2, 3], [4, 5], [4, 6], [4, 7]]


def test_candidate_rate_follows_the_lsh_s_curve() -> None:
    """Independent pairs at a known Jaccard become candidates at the rate 1 - (1 - J^r)^b predicts."""
    rng = random.Random(3)
    texts = []
    for _ in range(400):
        a = [f"w{rng.randrange(10**9)}" for _ in range(200)]
        b = list(a)
        for pos in range(10, 190, 30):  # 6 isolated edits: 30 of 196 shingles differ on each side
            b[pos] = f"x{rng.randrange(10**9)}"
        texts += [" ".join(a), " ".join(b)]
    j = jaccard(texts[0], texts[1])
    assert j == pytest.approx(166 / 226)
    sig = minhash.signatures(texts, 5, minhash.permutations(256, 42))
    bands = minhash.band_hashes(sig, 25, 10)
    rate = np.mean([(bands[2 * i] == bands[2 * i + 1]).any() for i in range(400)])
    assert rate == pytest.approx(1 - (1 - j**10) ** 25, abs=0.07)
