"""Opt-out lists: covered rows are absent from the mixture, counted as `opt_out`, and the
list is part of the mixture hash."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from mixtune.errors import RecipeError
from mixtures import build_mixture, load_mixture, read_manifest
from tests.mixtures.conftest import SAMPLE_DATA

REPO_SOURCE = {"name": "repo", "code_repo": {"path": str(SAMPLE_DATA / "sample_repo")}}


def _rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        answer = f"```python\ndef f{i}(x):\n    return x + {i}\n```"
        if i == 3:
            answer = f"# Author: Jane Doe\n{answer}"
        rows.append(
            {"messages": [{"role": "user", "content": f"task {i}"}, {"role": "assistant", "content": answer}]}
        )
    return rows


def _build(tmp_path: Path, write_recipe: Callable, tag: str, sources: list, opt_out: dict | None) -> Path:
    recipe = {"name": "oo", "kind": "sft", "sources": sources, "test": {"holdout": 0}}
    if opt_out is not None:
        recipe["opt_out"] = opt_out
    return build_mixture(write_recipe(recipe, name=f"{tag}.yaml"), out=tmp_path / f"out-{tag}")


def test_opted_out_repository_absent_counted_and_hashed(
    tmp_path: Path, write_recipe: Callable, write_jsonl: Callable
) -> None:
    write_jsonl(tmp_path / "chat.jsonl", _rows(10))
    sources = [REPO_SOURCE, {"name": "chat", "path": "chat.jsonl"}]
    plain = read_manifest(_build(tmp_path, write_recipe, "plain", sources, None))
    out = _build(tmp_path, write_recipe, "repo", sources, {"repositories": ["sample_repo"]})
    opted = read_manifest(out)
    n = plain["sources"]["repo"]["kept"]
    assert n > 0
    assert opted["sources"]["repo"]["dropped"] == {"opt_out": n}
    assert opted["sources"]["repo"]["kept"] == 0
    assert opted["sources"]["chat"]["kept"] == 10 and opted["sources"]["chat"]["dropped"] == {}
    assert set(load_mixture(out)["train"]["source"]) == {"chat"}
    assert opted["hash"] != plain["hash"]
    # an unrelated repository name drops nothing, but is still part of the hash
    other = read_manifest(_build(tmp_path, write_recipe, "other", sources, {"repositories": ["elsewhere"]}))
    assert other["sources"]["repo"]["kept"] == n and other["hash"] not in (plain["hash"], opted["hash"])


def test_paths_ids_hashes_authors_inline_and_file(
    tmp_path: Path, write_recipe: Callable, write_jsonl: Callable
) -> None:
    write_jsonl(tmp_path / "chat.jsonl", _rows(10))
    sources = [REPO_SOURCE, {"name": "chat", "path": "chat.jsonl"}]
    plain = load_mixture(_build(tmp_path, write_recipe, "plain", sources, None))["train"]
    quoted = [r for r in plain if r["source"] == "repo" and "prices.py" in r["messages"][0]["content"]]
    prices = quoted[0]["messages"][1]["content"].split("\n", 1)[1].rsplit("```", 1)[0]  # the code itself
    (tmp_path / "optout.yaml").write_text(
        f"hashes: ['{hashlib.sha256(prices.encode()).hexdigest()}']\nauthors: [jane doe]\n", encoding="utf-8"
    )
    out = _build(
        tmp_path,
        write_recipe,
        "mixed",
        sources,
        {"file": "optout.yaml", "paths": ["shop/inventory.py"], "ids": ["chat/7"]},
    )
    kept = load_mixture(out)["train"]
    manifest = read_manifest(out)
    ids = set(kept["id"])
    assert "chat/7" not in ids and "chat/3" not in ids  # by id; by authorship notice
    assert {f"chat/{i}" for i in range(10)} - {"chat/7", "chat/3"} <= ids
    assert manifest["sources"]["chat"]["dropped"] == {"opt_out": 2}
    texts = ["\n".join(m["content"] for m in r["messages"]) for r in kept]
    assert not any("inventory.py" in t for t in texts)
    assert quoted[0]["id"] not in ids  # the row whose code block has the listed sha256
    plain_texts = ["\n".join(m["content"] for m in r["messages"]) for r in plain if r["source"] == "repo"]
    gone = len(plain_texts) - manifest["sources"]["repo"]["kept"]
    assert manifest["sources"]["repo"]["dropped"] == {"opt_out": gone} and gone > 0
    assert any("inventory.py" in t for t in plain_texts)
    for entry in manifest["sources"].values():
        assert entry["rows_in"] == entry["kept"] + sum(entry["dropped"].values())


def test_bad_opt_out_lists_are_named(tmp_path: Path, write_recipe: Callable, write_jsonl: Callable) -> None:
    write_jsonl(tmp_path / "chat.jsonl", _rows(3))
    sources = [{"name": "chat", "path": "chat.jsonl"}]
    (tmp_path / "bad-list.yaml").write_text("repos: [x]\n", encoding="utf-8")
    with pytest.raises(RecipeError, match="unknown opt-out key 'repos'"):
        _build(tmp_path, write_recipe, "bad", sources, {"file": "bad-list.yaml"})
    with pytest.raises(RecipeError, match="opt_out.file: no such file"):
        _build(tmp_path, write_recipe, "missing", sources, {"file": "nope.yaml"})
    with pytest.raises(RecipeError, match="not a sha256"):
        _build(tmp_path, write_recipe, "hash", sources, {"hashes": ["xyz"]})


def test_matcher_rules() -> None:
    """What each list matches against (the rules the module docstring documents)."""
    from mixtures.opt_out import Matcher

    m = Matcher(
        {"repositories": ["acme/shop"], "authors": ["Jane Doe"], "paths": [], "ids": [], "hashes": []}
    )
    assert m.source_covered({"hub": "acme/shop"})
    assert m.source_covered({"hub": "jane doe/data"}) is False
    assert Matcher({**_empty(), "authors": ["acme"]}).source_covered({"hub": "acme/other"})
    assert m.source_covered({"code_repo": {"path": "../src/acme/shop/"}})
    assert not m.source_covered({"code_repo": {"path": "../src/shop"}})
    assert m.covers("x/1", "work/acme/shop/pkg/a.py", [""])
    assert not m.covers("x/1", "work/acme/shopping/a.py", [""])
    for text in (
        '__author__ = "Jane Doe"',
        "@author jane doe",
        "Copyright (c) 2021, Jane Doe",
        "Author: Jane Doe",
    ):
        assert m.covers("x/1", "", [text]), text
    assert not m.covers("x/1", "", ["thanks Jane Doe for the review"])
    p = Matcher({**_empty(), "paths": ["shop/*.py"]})
    assert p.covers("x/1", "../data/sample_repo/shop/cart.py", [""]) and not p.covers(
        "x/1", "shop/cart.js", [""]
    )


def _empty() -> dict[str, list[str]]:
    return {k: [] for k in ("repositories", "authors", "paths", "ids", "hashes")}
