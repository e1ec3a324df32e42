"""Building mixtures from every input format and file type, including the shipped demo recipes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mixtures import build_mixture, load_mixture, read_manifest

from .conftest import RECIPES

U = {"role": "user", "content": "Write add."}
A = {"role": "assistant", "content": "```python\ndef add(a, b):\n    return a + b\n```"}


def test_demo_sft_builds_all_six_formats(tmp_path: Path, check_invariants) -> None:
    out = build_mixture(RECIPES / "demo-sft.yaml", out=tmp_path / "demo-sft")
    manifest = check_invariants(out)
    assert manifest["kind"] == "sft"
    formats = {name: list(e["formats"]) for name, e in manifest["sources"].items()}
    assert formats == {
        "code-alpaca": ["alpaca"],
        "code-evol": ["instruction_response"],
        "code-oss-instruct": ["problem_solution"],
        "chat-messages": ["messages"],
        "chat-sharegpt": ["sharegpt"],
        "chat-qa": ["prompt_completion"],
    }
    assert 150 <= manifest["splits"]["train"] <= 400
    # no row fails its format; only the recipe's dedup filters drop rows (the sample data repeats itself)
    reasons = {reason for e in manifest["sources"].values() for reason in e["dropped"]}
    assert reasons <= {"exact_duplicate", "near_duplicate"}, reasons
    train = load_mixture(out)["train"]
    row = train[0]
    assert row["messages"][-1]["role"] == "assistant" and row["id"].startswith(row["source"] + "/")
    sharegpt = next(r for r in train if r["source"] == "chat-sharegpt")
    assert sharegpt["messages"][0] == {"role": "system", "content": "You are a helpful coding assistant."}
    assert "![composition](composition.png)" in (out / "report.md").read_text()


def test_demo_dpo_builds_both_preference_formats(tmp_path: Path, check_invariants) -> None:
    out = build_mixture(RECIPES / "demo-dpo.yaml", out=tmp_path / "demo-dpo")
    manifest = check_invariants(out)
    assert manifest["kind"] == "preference"
    assert manifest["columns"] == ["prompt", "chosen", "rejected", "source", "id"]
    assert {n: list(e["formats"]) for n, e in manifest["sources"].items()} == {
        "prefs-ultrafeedback": ["preference_conversations"],
        "prefs-orca": ["preference_strings"],
    }
    dd = load_mixture(out)
    assert len(dd["test"]) > 10
    for row in dd["train"]:
        assert row["prompt"][-1]["role"] == "user"
        assert "```python" in row["chosen"][0]["content"] and "```python" not in row["rejected"][0]["content"]
    orca = next(r for r in dd["train"] if r["source"] == "prefs-orca")
    assert orca["prompt"][0]["role"] == "system"


def _qa(n: int) -> list[dict]:
    return [{"question": f"What is {i} + {i}?", "answer": f"{2 * i}"} for i in range(n)]


@pytest.mark.parametrize(
    "container", ["jsonl", "json_array", "json_field", "parquet", "csv", "arrow", "save_to_disk"]
)
def test_every_file_container(tmp_path: Path, write_recipe, container: str, check_invariants) -> None:
    from datasets import Dataset

    rows = _qa(12)
    if container == "jsonl":
        path = tmp_path / "qa.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif container == "json_array":
        path = tmp_path / "qa.json"
        path.write_text(json.dumps(rows, indent=2))
    elif container == "json_field":
        path = tmp_path / "qa.json"
        path.write_text(json.dumps({"version": 1, "data": rows}))
    elif container == "parquet":
        path = tmp_path / "qa.parquet"
        Dataset.from_list(rows).to_parquet(str(path))
    elif container == "csv":
        path = tmp_path / "qa.csv"
        Dataset.from_list(rows).to_csv(str(path), index=False)
    elif container == "arrow":
        Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
        path = tmp_path / "qa.arrow"
        (tmp_path / "saved" / "data-00000-of-00001.arrow").rename(path)
    else:
        path = tmp_path / "saved_qa"
        Dataset.from_list(rows).save_to_disk(str(path))
    source = {"name": "qa", "path": path.name}
    if container == "json_field":
        source["field"] = "data"
    out = build_mixture(
        write_recipe({"name": "c", "kind": "sft", "shuffle": False, "sources": [source]}),
        out=tmp_path / "out",
    )
    manifest = check_invariants(out)
    assert manifest["sources"]["qa"]["formats"] == {"question_answer": 12}
    train = load_mixture(out)["train"]
    assert [r["messages"][0]["content"] for r in train] == [r["question"] for r in rows]
    assert train[3]["messages"][1]["content"] == "6"


def test_json_array_rows_keep_line_numbers(tmp_path: Path, write_recipe) -> None:
    rows = [{"messages": [U, A]}, {"messages": [U, U]}]
    (tmp_path / "arr.json").write_text(json.dumps(rows, indent=2))
    recipe = write_recipe({"name": "j", "kind": "sft", "on_error": "skip", "sources": [{"path": "arr.json"}]})
    out = build_mixture(recipe, out=tmp_path / "out")
    reject = json.loads((out / "rejects" / "arr.jsonl").read_text())
    text = (tmp_path / "arr.json").read_text().splitlines()
    assert reject["reason"] == "bad_alternation" and text[reject["line"] - 1].strip() == "{"
    assert json.loads(reject["row"]) == rows[1]


def test_glob_of_files_and_test_path(
    tmp_path: Path, write_recipe, write_jsonl, make_qa, check_invariants
) -> None:
    write_jsonl(tmp_path / "parts" / "a.jsonl", make_qa(5, "a"))
    write_jsonl(tmp_path / "parts" / "b.jsonl", make_qa(7, "b"))
    write_jsonl(tmp_path / "held.jsonl", make_qa(3, "t"))
    recipe = write_recipe(
        {
            "name": "g",
            "kind": "sft",
            "sources": [{"name": "parts", "path": "parts/*.jsonl", "test_path": "held.jsonl"}],
        }
    )
    out = build_mixture(recipe, out=tmp_path / "out")
    manifest = check_invariants(out)
    entry = manifest["sources"]["parts"]
    assert entry["rows_in"] == 12 and [f["file"] for f in entry["identity"]["files"]] == [
        "a.jsonl",
        "b.jsonl",
    ]
    assert entry["test"]["from"] == "own split" and entry["test"]["rows_in"] == 3
    dd = load_mixture(out)
    assert sorted(r["messages"][0]["content"] for r in dd["test"]) == ["t 0?", "t 1?", "t 2?"]
    assert len({r["id"] for r in dd["train"]}) == 12


def test_preference_containers(tmp_path: Path, write_recipe, write_jsonl, check_invariants) -> None:
    from datasets import Dataset

    no = {"role": "assistant", "content": "no"}
    write_jsonl(tmp_path / "uf.jsonl", [{"prompt": "Write add.", "chosen": [U, A], "rejected": [U, no]}] * 4)
    write_jsonl(
        tmp_path / "orca.jsonl", [{"system": "S", "question": "Q", "chosen": "good", "rejected": "bad"}] * 3
    )
    Dataset.from_list([{"prompt": [U], "chosen": [A], "rejected": [no]}] * 5).to_parquet(
        str(tmp_path / "trl.parquet")
    )
    recipe = write_recipe(
        {
            "name": "p",
            "kind": "preference",
            "sources": [{"path": "uf.jsonl"}, {"path": "orca.jsonl"}, {"path": "trl.parquet"}],
        }
    )
    out = build_mixture(recipe, out=tmp_path / "out")
    manifest = check_invariants(out)
    assert {n: e["formats"] for n, e in manifest["sources"].items()} == {
        "uf": {"preference_conversations": 4},
        "orca": {"preference_strings": 3},
        "trl": {"preference_conversations": 5},
    }
    train = load_mixture(out)["train"]
    for row in train:
        assert row["prompt"][-1]["role"] == "user" and row["chosen"][0]["role"] == "assistant"


def test_code_demo_recipe(tmp_path: Path, check_invariants) -> None:
    out = build_mixture(RECIPES / "demo-code.yaml", out=tmp_path / "code")
    manifest = check_invariants(out)
    repo = manifest["sources"]["shop-repo"]
    assert repo["identity"]["type"] == "code_repo" and repo["identity"]["files"] == 6
    assert repo["upsampled"] and repo["repeats"] == 3
    assert read_manifest(out)["hash"] == manifest["hash"]
