"""The feedback log: row formats, safety under concurrent writers, and use as a mixture source."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chat_ui.feedback import FeedbackLog, append_jsonl, read_jsonl
from mixtune.errors import MixtuneError

PROMPT = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "sum a list in python?"}]
MODELS = {"A": {"name": "sft-a", "seed": 1}, "B": {"name": "dpo-b", "seed": 2}}
ANSWERS = {"A": "use sum(xs)", "B": "write a for loop"}


def test_a_vote_is_one_canonical_preference_row(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "votes.jsonl")
    rows = log.record_vote(PROMPT, ANSWERS, MODELS, {"temperature": 0.2}, "B")
    assert len(rows) == 1
    (row,) = read_jsonl(log.path)
    assert row["prompt"] == PROMPT
    assert row["chosen"] == [{"role": "assistant", "content": "write a for loop"}]
    assert row["rejected"] == [{"role": "assistant", "content": "use sum(xs)"}]
    assert row["models"] == {"chosen": MODELS["B"], "rejected": MODELS["A"]}
    assert row["source"] == "mixtune-arena" and row["id"].startswith("vote-") and row["vote"] == "B"
    assert row["settings"] == {"temperature": 0.2} and row["timestamp"].endswith("+00:00")
    assert not log.ratings.exists()


def test_ties_and_both_bad_become_unpaired_ratings(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "votes.jsonl")
    log.record_vote(PROMPT, ANSWERS, MODELS, {}, "tie")
    log.record_vote(PROMPT, ANSWERS, MODELS, {}, "both-bad")
    log.record_rating(PROMPT, "use sum(xs)", True, {"name": "sft-a"}, {"seed": 1})
    assert not log.path.exists()  # no pair was expressed: nothing for DPO
    rows = read_jsonl(log.ratings)
    assert [(r["origin"], r["label"]) for r in rows] == [
        ("arena-tie", True),
        ("arena-tie", True),
        ("arena-both-bad", False),
        ("arena-both-bad", False),
        ("like", True),
    ]
    assert all(r["completion"][0]["role"] == "assistant" and r["prompt"] == PROMPT for r in rows)
    with pytest.raises(MixtuneError, match="unknown vote"):
        log.record_vote(PROMPT, ANSWERS, MODELS, {}, "C")


def _write_many(path: str, worker: int, n: int) -> None:
    for i in range(n):
        # rows far above PIPE_BUF (4 KiB): only the lock keeps them from interleaving
        append_jsonl(path, {"worker": worker, "i": i, "payload": f"{worker}-{i}-" + "x" * 20_000})


def test_200_concurrent_writes_from_threads_and_processes_give_200_valid_lines(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(path), w, 50)) for w in range(2)]
    for p in procs:
        p.start()
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda w: _write_many(str(path), w, 10), range(10, 20)))
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 200
    rows = [json.loads(line) for line in lines]
    assert {(r["worker"], r["i"]) for r in rows} == {(w, i) for w in range(2) for i in range(50)} | {
        (w, i) for w in range(10, 20) for i in range(10)
    }
    assert all(r["payload"].startswith(f"{r['worker']}-{r['i']}-") for r in rows)


def test_the_vote_log_builds_as_a_preference_mixture(tmp_path: Path) -> None:
    from mixtures import build_mixture, load_mixture, read_manifest

    log = FeedbackLog(tmp_path / "votes.jsonl")
    for i in range(6):
        prompt = [{"role": "user", "content": f"question {i}: how do I sort a dict by value?"}]
        answers = {"A": f"sorted(d.items(), key=lambda kv: kv[1])  # {i}", "B": f"you cannot {i}"}
        log.record_vote(prompt, answers, MODELS, {"temperature": 0.2}, "A")
    log.record_rating(PROMPT, "x", False, {"name": "m"}, {})  # ratings live elsewhere: not read
    recipe = tmp_path / "arena.yaml"
    recipe.write_text(
        "name: arena-votes\nkind: preference\ntest:\n  holdout: 2\nsources:\n  - path: votes.jsonl\n"
    )
    out = build_mixture(recipe, out=tmp_path / "built")
    manifest = read_manifest(out)
    assert manifest["kind"] == "preference"
    assert manifest["sources"]["votes"]["rows_in"] == 6 and manifest["sources"]["votes"]["kept"] == 6
    assert manifest["sources"]["votes"]["dropped"] == {}
    splits = load_mixture(out)
    assert len(splits["train"]) + len(splits["test"]) == 6
    row = splits["train"][0]
    assert row["chosen"][0]["content"].startswith("sorted(") and row["rejected"][0]["content"].startswith(
        "you"
    )
