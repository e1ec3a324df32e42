"""The content hash: stable across runs, changed by any change of recipe or data; caching; byte-identical output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mixtune.errors import MixtuneError
from mixtures import build_mixture, read_manifest

FILES = (
    "dataset_dict.json",
    "train/data-00000-of-00001.arrow",
    "train/state.json",
    "train/dataset_info.json",
    "test/data-00000-of-00001.arrow",
    "manifest.json",
    "report.md",
    "composition.png",
    "rejects/chat.jsonl",
)


def _recipe(**over) -> dict:
    data = {
        "name": "h",
        "kind": "sft",
        "on_error": "skip",
        "sources": [{"name": "chat", "path": "chat.jsonl", "weight": 1.5}],
        "test": {"holdout": 0.2},
    }
    data.update(over)
    return data


@pytest.fixture
def chat_file(tmp_path: Path, write_jsonl, make_qa) -> Path:
    return write_jsonl(tmp_path / "chat.jsonl", [*make_qa(20), "{broken"])


def test_rebuild_is_byte_identical_with_the_same_hash(tmp_path, chat_file, write_recipe) -> None:
    recipe = write_recipe(_recipe())
    a = build_mixture(recipe, out=tmp_path / "a")
    b = build_mixture(recipe, out=tmp_path / "b")
    assert read_manifest(a)["hash"] == read_manifest(b)["hash"]
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_same_hash_is_a_no_op(tmp_path, chat_file, write_recipe) -> None:
    recipe = write_recipe(_recipe())
    out = build_mixture(recipe)  # default output: the cache, named by name and hash
    manifest = read_manifest(out)
    assert out.name == f"h-{manifest['hash']}"
    stamp = (out / "manifest.json").stat().st_mtime_ns
    arrow = (out / "train" / "data-00000-of-00001.arrow").stat().st_mtime_ns
    assert build_mixture(recipe) == out
    assert (out / "manifest.json").stat().st_mtime_ns == stamp
    assert (out / "train" / "data-00000-of-00001.arrow").stat().st_mtime_ns == arrow


@pytest.mark.parametrize(
    "change",
    ["weight", "seed", "holdout", "system_prompt", "data"],
)
def test_hash_changes_with_recipe_or_data(tmp_path, chat_file, write_recipe, make_qa, change) -> None:
    before = read_manifest(build_mixture(write_recipe(_recipe()), out=tmp_path / "before"))["hash"]
    data = _recipe()
    if change == "weight":
        data["sources"][0]["weight"] = 2.0
    elif change == "seed":
        data["seed"] = 1
    elif change == "holdout":
        data["test"] = {"holdout": 0.25}
    elif change == "system_prompt":
        data["sources"][0]["system_prompt"] = "Be terse."
    else:
        text = chat_file.read_text().replace('"answer 3"', '"answer three"')
        chat_file.write_text(text)
    after = read_manifest(build_mixture(write_recipe(data, "changed.yaml"), out=tmp_path / "after"))["hash"]
    assert after != before


def test_output_location_does_not_change_the_hash(tmp_path, chat_file, write_recipe) -> None:
    a = read_manifest(build_mixture(write_recipe(_recipe()), out=tmp_path / "x"))["hash"]
    b = read_manifest(build_mixture(write_recipe(_recipe(output="built/here"), "r2.yaml")))["hash"]
    assert a == b and (tmp_path / "built" / "here" / "manifest.json").is_file()


def test_rebuild_over_an_older_mixture_and_refuse_foreign_dirs(tmp_path, chat_file, write_recipe) -> None:
    out = tmp_path / "out"
    first = read_manifest(build_mixture(write_recipe(_recipe()), out=out))["hash"]
    second = read_manifest(build_mixture(write_recipe(_recipe(seed=3), "r2.yaml"), out=out))["hash"]
    assert first != second and read_manifest(out)["hash"] == second
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(MixtuneError, match="not a built mixture"):
        build_mixture(write_recipe(_recipe(), "r3.yaml"), out=foreign)
    assert (foreign / "precious.txt").read_text() == "keep me"


def test_num_proc_gives_the_same_rows(tmp_path, write_jsonl, write_recipe) -> None:
    rows = [
        {"instruction": f"task {i}", "output": f"done {i}"}
        if i % 97
        else {"instruction": f"task {i}", "output": ""}
        for i in range(2500)
    ]
    write_jsonl(tmp_path / "big.jsonl", rows)
    recipe = write_recipe(
        {"name": "np", "kind": "sft", "on_error": "skip", "sources": [{"path": "big.jsonl", "weight": 0.5}]}
    )
    serial = build_mixture(recipe, out=tmp_path / "serial")
    parallel = build_mixture(recipe, out=tmp_path / "parallel", num_proc=2)
    for name in ("train/data-00000-of-00001.arrow", "rejects/big.jsonl", "manifest.json"):
        assert (serial / name).read_bytes() == (parallel / name).read_bytes(), name
    manifest = json.loads((parallel / "manifest.json").read_text())
    assert manifest["sources"]["big"]["dropped"] == {"empty_content": 26}
