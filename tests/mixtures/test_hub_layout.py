"""Sources read through `datasets.load_dataset`: a local folder laid out like a Hub dataset repo
(the StarChat2 datasets' split names and column schemas), and a Hub id taking the same path."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixtures import build_mixture, load_mixture

README = """---
configs:
- config_name: default
  data_files:
{files}
---
# {name}
"""


def _conv(i: int, good: bool = True) -> list[dict]:
    answer = f"```python\nprint({i})\n```" if good else "no idea"
    return [{"content": f"print {i}", "role": "user"}, {"content": answer, "role": "assistant"}]


def make_hub_folder(root: Path, name: str, splits: dict[str, list[dict]]) -> Path:
    """Parquet shards under data/ and a README whose YAML declares the splits, as on the Hub."""
    from datasets import Dataset

    folder = root / name
    (folder / "data").mkdir(parents=True)
    files = []
    for split, rows in splits.items():
        Dataset.from_list(rows).to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))
        files.append(f"  - split: {split}\n    path: data/{split}-*")
    (folder / "README.md").write_text(README.format(files="\n".join(files), name=name))
    return folder


def sft_rows(n: int, offset: int = 0) -> list[dict]:
    """The schema of HuggingFaceH4/{airoboros-3.2, Code-Feedback, SystemChat, capybara, ...}."""
    return [
        {"prompt": f"print {i}", "prompt_id": f"id{i}", "messages": _conv(i)}
        for i in range(offset, offset + n)
    ]


def pref_rows(n: int, offset: int = 0) -> list[dict]:
    """The schema of HuggingFaceH4/ultrafeedback_binarized (train_prefs / test_prefs)."""
    return [
        {
            "prompt": f"print {i}",
            "prompt_id": f"id{i}",
            "chosen": _conv(i, True),
            "rejected": _conv(i, False),
            "messages": _conv(i, True),
            "score_chosen": 8.0,
            "score_rejected": 2.0,
        }
        for i in range(offset, offset + n)
    ]


@pytest.fixture(scope="module")
def hub_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hub")
    return {
        "sft": make_hub_folder(
            root, "code-feedback", {"train_sft": sft_rows(20), "test_sft": sft_rows(4, 100)}
        ),
        "prefs": make_hub_folder(
            root,
            "ultrafeedback",
            {"train_prefs": pref_rows(16), "test_prefs": pref_rows(3, 100), "train_sft": sft_rows(5)},
        ),
    }


def test_starchat2_sft_schema_from_hub_layout_folder(
    hub_folders, write_recipe, check_invariants, tmp_path
) -> None:
    recipe = write_recipe(
        {
            "name": "sc2-sft-local",
            "kind": "sft",
            "sources": [
                {
                    "name": "code-feedback",
                    "path": str(hub_folders["sft"]),
                    "split": "train_sft",
                    "test_split": "test_sft",
                    "format": "messages",
                }
            ],
        }
    )
    out = build_mixture(recipe, out=tmp_path / "out")
    manifest = check_invariants(out)
    entry = manifest["sources"]["code-feedback"]
    assert entry["identity"]["type"] == "hub_folder" and entry["identity"]["split"] == "train_sft"
    assert entry["rows_in"] == 20 and entry["test"]["rows_in"] == 4
    dd = load_mixture(out)
    assert sorted(r["messages"][0]["content"] for r in dd["test"]) == [f"print {i}" for i in range(100, 104)]


def test_starchat2_pref_schema_from_hub_layout_folder(
    hub_folders, write_recipe, check_invariants, tmp_path
) -> None:
    recipe = write_recipe(
        {
            "name": "sc2-dpo-local",
            "kind": "preference",
            "sources": [
                {
                    "name": "ultrafeedback",
                    "path": str(hub_folders["prefs"]),
                    "split": "train_prefs",
                    "test_split": "test_prefs",
                    "format": "preference_conversations",
                }
            ],
        }
    )
    manifest = check_invariants(build_mixture(recipe, out=tmp_path / "out"))
    assert manifest["splits"] == {"train": 16, "test": 3}
    row = load_mixture(tmp_path / "out")["train"][0]
    assert row["prompt"] == [{"role": "user", "content": row["prompt"][0]["content"]}]
    assert row["chosen"][0]["content"].startswith("```python") and row["rejected"][0]["content"] == "no idea"


def test_missing_split_names_the_folder(hub_folders, write_recipe, tmp_path) -> None:
    from mixtune.errors import DataError

    recipe = write_recipe(
        {"name": "x", "kind": "sft", "sources": [{"path": str(hub_folders["sft"]), "split": "train_gen"}]}
    )
    with pytest.raises(DataError, match="code-feedback.*train_gen"):
        build_mixture(recipe, out=tmp_path / "out")


@pytest.mark.parametrize("online", [True, False])
def test_hub_id_takes_the_same_load_dataset_path(
    hub_folders, write_recipe, check_invariants, tmp_path, monkeypatch, online
) -> None:
    """A Hub id goes through `datasets.load_dataset(id, config, split=, revision=)`; here that call is
    answered from the local folder. Online, the resolved commit names the input; offline, the
    loaded dataset's own fingerprint does."""
    import datasets

    import mixtures.sources

    calls = []
    real = datasets.load_dataset

    def fake_load_dataset(path, name=None, split=None, revision=None, cache_dir=None, **kw):
        calls.append({"path": path, "name": name, "split": split, "revision": revision})
        assert path == "HuggingFaceH4/Code-Feedback"
        return real(str(hub_folders["sft"]), name=name, split=split, cache_dir=str(tmp_path / "hf-cache"))

    sha = "0123456789abcdef0123456789abcdef01234567"
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr(mixtures.sources, "resolve_hub_revision", lambda hub, rev: sha if online else None)
    recipe = write_recipe(
        {
            "name": "sc2-hub",
            "kind": "sft",
            "sources": [
                {
                    "hub": "HuggingFaceH4/Code-Feedback",
                    "split": "train_sft",
                    "test_split": "test_sft",
                    "weight": 0.5,
                }
            ],
        }
    )
    out = build_mixture(recipe, out=tmp_path / "out")
    manifest = check_invariants(out)
    entry = manifest["sources"]["Code-Feedback"]
    assert entry["identity"]["hub"] == "HuggingFaceH4/Code-Feedback"
    assert entry["identity"]["resolved_revision"] == (sha if online else None)
    assert entry["identity"]["fingerprint"]
    assert {c["split"] for c in calls} == {"train_sft", "test_sft"}
    assert all(c["revision"] == (sha if online else None) for c in calls)
    assert manifest["splits"] == {"train": 10, "test": 4}
