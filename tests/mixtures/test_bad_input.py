"""Bad input: a clear error naming the file and line (or the recipe key), or with `on_error: skip`
a counted reject with its reason — never a silent drop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mixtune.errors import DataError, RecipeError
from mixtures import build_mixture
from mixtures.recipe import load_mixture_recipe

GOOD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}

# (line written to the file, reason)
BAD_LINES = {
    "malformed_json": ('{"messages": [', "malformed_json"),
    "no_format": (json.dumps({"text": "just text"}), "unknown_format"),
    "bad_role": (
        json.dumps({"messages": [{"role": "robot", "content": "x"}, GOOD["messages"][1]]}),
        "bad_role",
    ),
    "alternation": (json.dumps({"messages": [GOOD["messages"][0], GOOD["messages"][0]]}), "bad_alternation"),
    "empty_content": (
        json.dumps({"messages": [GOOD["messages"][0], {"role": "assistant", "content": ""}]}),
        "empty_content",
    ),
    "not_object": ("[1, 2]", "not_an_object"),
}


def _data(tmp_path: Path, bad: bytes) -> Path:
    path = tmp_path / "data.jsonl"
    good = (json.dumps(GOOD) + "\n").encode()
    path.write_bytes(good + good + bad + b"\n" + good)
    return path


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_row_raises_with_file_and_line(tmp_path, write_recipe, case) -> None:
    line, reason = BAD_LINES[case]
    _data(tmp_path, line.encode())
    recipe = write_recipe({"name": "b", "kind": "sft", "sources": [{"path": "data.jsonl"}]})
    with pytest.raises(DataError) as exc:
        build_mixture(recipe, out=tmp_path / "out")
    message = str(exc.value)
    assert "data.jsonl:3: " + reason in message and "on_error: skip" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_row_skipped_is_a_counted_reject(tmp_path, write_recipe, check_invariants, case) -> None:
    line, reason = BAD_LINES[case]
    _data(tmp_path, line.encode())
    recipe = write_recipe(
        {"name": "b", "kind": "sft", "on_error": "skip", "sources": [{"path": "data.jsonl"}]}
    )
    manifest = check_invariants(build_mixture(recipe, out=tmp_path / "out"))
    assert manifest["sources"]["data"]["dropped"] == {reason: 1}
    assert manifest["sources"]["data"]["kept"] == 3
    reject = json.loads((tmp_path / "out" / "rejects" / "data.jsonl").read_text())
    assert (reject["reason"], reject["line"], reject["row"]) == (reason, 3, line)
    assert reject["file"].endswith("data.jsonl") and reject["detail"]


def test_invalid_utf8(tmp_path, write_recipe, check_invariants) -> None:
    _data(tmp_path, b'{"messages": "caf\xe9"}')
    recipe = write_recipe({"name": "u", "kind": "sft", "sources": [{"path": "data.jsonl"}]})
    with pytest.raises(DataError, match=r"data.jsonl:3: invalid_utf8: byte 0xe9"):
        build_mixture(recipe, out=tmp_path / "out")
    recipe = write_recipe(
        {"name": "u", "kind": "sft", "sources": [{"path": "data.jsonl", "on_error": "skip"}]}, "skip.yaml"
    )
    manifest = check_invariants(build_mixture(recipe, out=tmp_path / "out"))
    assert manifest["sources"]["data"]["dropped"] == {"invalid_utf8": 1}
    reject = json.loads((tmp_path / "out" / "rejects" / "data.jsonl").read_text())
    assert reject["row"] == '{"messages": "caf\\xe9"}'


def test_malformed_json_array_names_its_line(tmp_path, write_recipe) -> None:
    (tmp_path / "arr.json").write_text('[\n  {"question": "q", "answer": "a"},\n  {"question": oops}\n]\n')
    recipe = write_recipe({"name": "a", "kind": "sft", "on_error": "skip", "sources": [{"path": "arr.json"}]})
    with pytest.raises(DataError, match=r"arr.json:3: malformed JSON"):
        build_mixture(recipe, out=tmp_path / "out")


def test_bad_rows_in_a_typed_file_name_the_row(tmp_path, write_recipe, check_invariants) -> None:
    from datasets import Dataset

    Dataset.from_list([{"question": "q", "answer": "a"}, {"question": "q2", "answer": ""}]).to_parquet(
        str(tmp_path / "t.parquet")
    )
    recipe = write_recipe({"name": "t", "kind": "sft", "sources": [{"path": "t.parquet"}]})
    with pytest.raises(DataError, match=r"t.parquet \(row 1\): empty_content"):
        build_mixture(recipe, out=tmp_path / "out")
    recipe = write_recipe(
        {"name": "t", "kind": "sft", "on_error": "skip", "sources": [{"path": "t.parquet"}]}, "s.yaml"
    )
    check_invariants(build_mixture(recipe, out=tmp_path / "out"))
    reject = json.loads((tmp_path / "out" / "rejects" / "t.jsonl").read_text())
    assert (
        reject["row_index"] == 1 and reject["line"] is None and json.loads(reject["row"])["question"] == "q2"
    )


def test_empty_result_is_an_error(tmp_path, write_recipe) -> None:
    _data(tmp_path, b"x")
    (tmp_path / "data.jsonl").write_text('{"text": 1}\n{"text": 2}\n')
    recipe = write_recipe(
        {"name": "e", "kind": "sft", "on_error": "skip", "sources": [{"path": "data.jsonl"}]}
    )
    with pytest.raises(
        DataError, match="empty result.*data: 2 in, 0 kept, dropped \\{'unknown_format': 2\\}"
    ):
        build_mixture(recipe, out=tmp_path / "out")


def test_empty_file_is_an_error(tmp_path, write_recipe) -> None:
    (tmp_path / "data.jsonl").write_text("\n\n")
    recipe = write_recipe({"name": "e", "kind": "sft", "sources": [{"path": "data.jsonl"}]})
    with pytest.raises(DataError, match="source 'data'.*no rows"):
        build_mixture(recipe, out=tmp_path / "out")


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        (
            {"name": "r", "kind": "sft", "sources": [{"path": "d.jsonl", "wieght": 1}]},
            r"sources\.0\.wieght: unknown key \(did you mean 'weight'\?\)",
        ),
        (
            {"name": "r", "kind": "sft", "sources": [{"path": "d.jsonl"}], "seeed": 1},
            r"seeed: unknown key \(did you mean 'seed'\?\)",
        ),
        (
            {"name": "r", "kind": "sft", "sources": [{"path": "d.jsonl", "weight": -0.5}]},
            r"sources\.0\.weight: Input should be greater than 0",
        ),
        (
            {"name": "r", "kind": "sft", "sources": [{"path": "d.jsonl", "count": 0}]},
            r"sources\.0\.count: Input should be greater than or equal to 1",
        ),
        (
            {"name": "r", "kind": "sft", "sources": [{"path": "d.jsonl", "weight": 1, "count": 3}]},
            "either 'weight' or 'count'",
        ),
        (
            {"name": "r", "kind": "sft", "sources": [{"path": "d.jsonl", "hub": "a/b"}]},
            "exactly one of 'hub', 'path' or 'code_repo'",
        ),
        (
            {"name": "r", "kind": "sft", "sources": [{"path": "d.jsonl", "format": "alpacca"}]},
            r"sources\.0\.format: Input should be",
        ),
        (
            {"name": "r", "kind": "sft", "sources": [{"path": "d.jsonl", "format": "preference_strings"}]},
            "does not make sft rows",
        ),
        (
            {"name": "r", "kind": "dpo", "sources": [{"path": "d.jsonl"}]},
            r"kind: Input should be 'sft', 'preference' or 'completion'",
        ),
        ({"name": "r", "kind": "sft", "sources": []}, r"sources: List should have at least 1 item"),
        ({"name": "r", "kind": "sft", "sources": [{"path": "d.jsonl"}, {"path": "d.jsonl"}]}, "used twice"),
        (
            {"name": "r", "kind": "sft", "sources": [{"path": "d.jsonl", "columns": {"instructions": "q"}}]},
            r"did you mean 'instruction'",
        ),
        (
            {"name": "r", "kind": "sft", "sources": [{"path": "d.jsonl"}], "test": {"holdout": -1}},
            r"test\.holdout: Input should be greater than or equal to 0",
        ),
        (
            {"name": "r", "kind": "sft", "sources": [{"path": "d.jsonl"}], "filters": {"near_dedupe": {}}},
            r"filters\.near_dedupe: unknown key \(did you mean 'near_dedup'\?\)",
        ),
    ],
)
def test_recipe_errors_name_file_and_key(tmp_path, write_recipe, recipe, message) -> None:
    path = write_recipe(recipe)
    with pytest.raises(RecipeError, match=message) as exc:
        load_mixture_recipe(path)
    assert str(path) in str(exc.value)


def test_missing_file_names_key_and_path(tmp_path, write_recipe) -> None:
    recipe = write_recipe({"name": "m", "kind": "sft", "sources": [{"path": "nope/missing.jsonl"}]})
    with pytest.raises(
        RecipeError, match=r"recipe.yaml: sources\.0\.path: no such file or folder: .*nope/missing.jsonl"
    ):
        build_mixture(recipe, out=tmp_path / "out")


def test_unsupported_file_type(tmp_path, write_recipe) -> None:
    (tmp_path / "data.txt").write_text("hello")
    recipe = write_recipe({"name": "m", "kind": "sft", "sources": [{"path": "data.txt"}]})
    with pytest.raises(RecipeError, match=r"sources\.0\.path: cannot read 'data.txt'"):
        build_mixture(recipe, out=tmp_path / "out")


def test_split_name_on_a_file_source(tmp_path, write_recipe, write_jsonl) -> None:
    write_jsonl(tmp_path / "d.jsonl", [GOOD])
    recipe = write_recipe(
        {"name": "m", "kind": "sft", "sources": [{"path": "d.jsonl", "test_split": "test"}]}
    )
    with pytest.raises(
        RecipeError, match=r"sources\.0\.test_split: a split name needs a Hub id or a dataset folder"
    ):
        build_mixture(recipe, out=tmp_path / "out")


def test_source_on_error_overrides_recipe(tmp_path, write_recipe, check_invariants) -> None:
    _data(tmp_path, b"{bad")
    (tmp_path / "strict.jsonl").write_text(json.dumps(GOOD) + "\n")
    recipe = write_recipe(
        {
            "name": "o",
            "kind": "sft",
            "on_error": "raise",
            "sources": [{"path": "data.jsonl", "on_error": "skip"}, {"path": "strict.jsonl"}],
        }
    )
    manifest = check_invariants(build_mixture(recipe, out=tmp_path / "out"))
    assert manifest["sources"]["data"]["dropped"] == {"malformed_json": 1}
