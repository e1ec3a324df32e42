"""`mix index` / `mix search`: planted rows are found (verbatim and edited), unrelated code is
not, the index lives beside the mixture and is rebuilt only when the mixture changes, and a
model directory searches the mixtures of its lineage."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from mixtune import minhash
from mixtune.errors import DataError
from mixtures import build_mixture
from mixtures.search import Searcher, find_in_training_data, search
from mixtures.search_index import build_index, index_path, read_meta
from mixtures.synthetic import code_rows, edit, function

N_ROWS = 2000
N_PLANTED = 200
N_UNRELATED = 1000


def _code(row: dict) -> str:
    return row["messages"][1]["content"].split("```python\n")[1].rsplit("```", 1)[0]


@pytest.fixture(scope="module")
def mixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    import yaml

    base = tmp_path_factory.mktemp("search")
    rows = code_rows(N_ROWS, seed=1)
    with (base / "code.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    recipe = {
        "name": "planted",
        "kind": "sft",
        "sources": [{"name": "code", "path": "code.jsonl"}],
        "test": {"holdout": 0},
        "output": "out",
    }
    (base / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return build_mixture(base / "recipe.yaml"), rows


@pytest.fixture(scope="module")
def searcher(mixture: tuple[Path, list[dict]]) -> Searcher:
    build_index(mixture[0])
    return Searcher.open(mixture[0])


def _tree(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_index_beside_mixture_rebuilt_only_on_change(mixture: tuple[Path, list[dict]]) -> None:
    out, _ = mixture
    before = _tree(out)
    idx = build_index(out)
    assert idx == index_path(out) and idx.parent == out.parent and idx.name == "out.index"
    assert _tree(out) == before  # the mixture folder is untouched
    meta = read_meta(idx)
    assert meta["hash"] == json.loads((out / "manifest.json").read_text())["hash"]
    assert meta["rows"] == N_ROWS
    stamp = (idx / "index.npz").stat().st_mtime_ns
    build_index(out)
    assert (idx / "index.npz").stat().st_mtime_ns == stamp  # current: not rebuilt
    meta["hash"] = "0" * 16
    (idx / "meta.json").write_text(json.dumps(meta))
    build_index(out)  # a different mixture hash: rebuilt
    assert read_meta(idx)["hash"] != "0" * 16


def test_recall_verbatim_and_edited(searcher: Searcher, mixture: tuple[Path, list[dict]]) -> None:
    _, rows = mixture
    rng = random.Random(7)
    planted = rng.sample(range(N_ROWS), N_PLANTED)
    found_verbatim = 0
    edited_found, edited_total = 0, 0
    for i in planted:
        code = _code(rows[i])
        top = searcher.search(code, top=1)
        found_verbatim += bool(top) and top[0].row_id == f"code/{i}"
        changed = edit(code, rng, n_edits=2)
        a, b = (minhash.shingle_hashes([t], 5)[0] for t in (code, changed))
        if minhash.exact_jaccard(a, b) >= 0.7:
            edited_total += 1
            top = searcher.search(changed, top=1)
            edited_found += bool(top) and top[0].row_id == f"code/{i}"
    assert found_verbatim / N_PLANTED >= 0.95
    assert edited_total >= N_PLANTED // 2
    assert edited_found / edited_total >= 0.9, (edited_found, edited_total)


def test_unrelated_queries_match_nothing(searcher: Searcher) -> None:
    rng = random.Random(12345)
    hits = [m for _ in range(N_UNRELATED) for m in searcher.search(function(rng), top=1)]
    assert hits == []


def test_near_match_without_shared_lines(searcher: Searcher, mixture: tuple[Path, list[dict]]) -> None:
    """Code reflowed onto one line shares no line with the row: only the MinHash/LSH part finds it."""
    _, rows = mixture
    code = _code(rows[42])
    top = searcher.search(" ".join(code.split()), top=1)
    assert top and top[0].row_id == "code/42"
    assert top[0].method == "near" and top[0].similarity == 1.0


def test_exact_query_normalises_whitespace(searcher: Searcher, mixture: tuple[Path, list[dict]]) -> None:
    _, rows = mixture
    lines = _code(rows[3]).splitlines()[1:4]
    query = '"' + "\n".join("\t" + "  ".join(x.split()) + "   " for x in lines) + '"'
    top = searcher.search(query, top=1)
    assert top and top[0].row_id == "code/3" and top[0].method == "exact"
    span = top[0].span
    assert span["end_line"] - span["start_line"] == 2
    assert top[0].text[span["start_char"] : span["end_char"]].split() == " ".join(lines).split()
    assert searcher.search('"' + lines[0] + '\n    never_seen_anywhere = 12345"', top=1) == []
    with pytest.raises(DataError, match="no line of at least 8 characters"):
        searcher.search('"x = 1"')
    # the prose beside a fenced block is part of the turn's lines too
    beside = rows[8]["messages"][1]["content"].split("\n")[:4]
    top = searcher.search('"' + "\n".join(beside) + '"', top=1)
    assert (
        top and top[0].row_id == "code/8" and top[0].span == {**top[0].span, "start_line": 0, "end_line": 3}
    )


def test_model_directory_searches_its_lineage(mixture: tuple[Path, list[dict]], tmp_path: Path) -> None:
    out, rows = mixture
    digest = json.loads((out / "manifest.json").read_text())["hash"]
    sft = tmp_path / "sft-model"
    dpo = tmp_path / "dpo-model"
    sft.mkdir()
    dpo.mkdir()
    entry = {"stage": "sft", "name": "planted", "hash": digest, "path": str(out), "composition": {}}
    (sft / "mixtune_run.json").write_text(json.dumps({"stage": "sft", "mixtures": [entry]}))
    (dpo / "mixtune_run.json").write_text(
        json.dumps({"stage": "dpo", "parent_model": str(sft), "mixtures": []})
    )
    top = search(dpo, _code(rows[5]), top=1)
    assert top and top[0].row_id == "code/5" and top[0].mixture == "planted"
    found = find_in_training_data(dpo, edit(_code(rows[6]), random.Random(1), 1))
    assert found and found[0].row_id == "code/6" and found[0].similarity >= 0.7
    assert find_in_training_data(dpo, function(random.Random(99))) == []


def test_cli_search_json(
    mixture: tuple[Path, list[dict]], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from mixtune.cli import main

    out, rows = mixture
    q = tmp_path / "q.py"
    q.write_text(_code(rows[11]), encoding="utf-8")
    assert main(["mix", "search", str(out), "--code", str(q), "--top", "2", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found[0]["row_id"] == "code/11" and found[0]["source"] == "code"
    assert found[0]["similarity"] == 1.0


def test_build_with_index_true(tmp_path: Path, write_jsonl, write_recipe) -> None:
    """`index: true` builds the index with the mixture; it does not change the mixture hash."""
    write_jsonl(tmp_path / "code.jsonl", code_rows(20, seed=5))
    recipe = {
        "name": "idx",
        "kind": "sft",
        "sources": [{"name": "code", "path": "code.jsonl"}],
        "test": {"holdout": 0},
    }
    plain = build_mixture(write_recipe(recipe, name="plain.yaml"), out=tmp_path / "plain")
    assert not index_path(plain).exists()
    out = build_mixture(
        write_recipe({**recipe, "index": True}, name="indexed.yaml"), out=tmp_path / "indexed"
    )
    digest = json.loads((out / "manifest.json").read_text())["hash"]
    assert digest == json.loads((plain / "manifest.json").read_text())["hash"]
    assert read_meta(index_path(out))["hash"] == digest and read_meta(index_path(out))["rows"] == 20
