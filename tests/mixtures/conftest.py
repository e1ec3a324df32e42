"""Fixtures for mixture builder tests: write data files and recipes, check a built mixture's invariants."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DATA = REPO / "mixtures" / "data"
RECIPES = REPO / "mixtures" / "recipes"


def _write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


@pytest.fixture
def write_jsonl() -> Callable[[Path, list[Any]], Path]:
    """Write rows (dicts, or raw strings written as-is) as JSON Lines."""
    return _write_jsonl


@pytest.fixture
def write_recipe(tmp_path: Path) -> Callable[..., Path]:
    """Write a recipe YAML next to the test's data; returns its path."""

    def write(data: dict[str, Any], name: str = "recipe.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return write


def qa_rows(n: int, prefix: str = "q") -> list[dict[str, Any]]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"{prefix} {i}?"},
                {"role": "assistant", "content": f"answer {i}"},
            ]
        }
        for i in range(n)
    ]


@pytest.fixture
def make_qa() -> Callable[[int, str], list[dict[str, Any]]]:
    return qa_rows


def _check_invariants(out: Path) -> dict[str, Any]:
    """Every source: rows in = kept + sum(dropped) (train side and own test split); the splits hold
    the counted rows; rejects/ holds exactly the dropped rows, each with its reason."""
    from mixtures import load_mixture, read_manifest

    manifest = read_manifest(out)
    dd = load_mixture(out)
    assert manifest["splits"] == {"train": len(dd["train"]), "test": len(dd["test"])}
    dropped_total = 0
    for name, entry in manifest["sources"].items():
        assert entry["rows_in"] == entry["kept"] + sum(entry["dropped"].values()), name
        assert entry["kept"] == entry["held_out"] + entry["train_pool"], name
        dropped_total += sum(entry["dropped"].values())
        test = entry["test"]
        if test["from"] == "own split":
            assert test["rows_in"] == test["kept"] + sum(test["dropped"].values()), name
            dropped_total += sum(test["dropped"].values())
    assert sum(e["train_rows"] for e in manifest["sources"].values()) == len(dd["train"])
    assert sum(e["test"]["rows"] for e in manifest["sources"].values()) == len(dd["test"])
    rejects = [json.loads(line) for f in sorted((out / "rejects").glob("*.jsonl")) for line in f.open()]
    assert len(rejects) == dropped_total == manifest["rejects"]["total"]
    for r in rejects:
        assert r["reason"] and r["source"] in manifest["sources"]
    expected = set(manifest["columns"])
    assert set(dd["train"].column_names) == expected and set(dd["test"].column_names) == expected
    assert (out / "report.md").is_file() and (out / "composition.png").stat().st_size > 1000
    return manifest


@pytest.fixture
def check_invariants() -> Callable[[Path], dict[str, Any]]:
    return _check_invariants
