"""`mixtune.attribution` (ground, read only): a model's lineage is searched through current
indexes only; a missing or stale index is an error naming the mixture and `mixtune mix index`;
`ensure_indexes` (mixtures) builds them; completion mixtures (files) are searchable too."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from mixtune import attribution
from mixtune.errors import DataError
from mixtune.run_record import RUN_RECORD
from mixtures import build_mixture
from mixtures.search_index import ensure_indexes

REPO = Path(__file__).resolve().parents[2]
SAMPLE_REPO = REPO / "mixtures" / "data" / "sample_repo"
GROUND = ("attribution", "code_files", "minhash", "row_text", "built_mixture")
STAGES = ("mixtures", "sft", "dpo", "completion", "evals", "chat_ui")


def _model(base: Path, name: str, mixtures: list[Path], parent: Path | None = None) -> Path:
    """A model directory whose run record names its training mixtures (as training writes it)."""
    model = base / name
    model.mkdir()
    record = {
        "mixtures": [
            {"name": m.name, "hash": json.loads((m / "manifest.json").read_text())["hash"], "path": str(m)}
            for m in mixtures
        ],
        "parent_model": str(parent) if parent else None,
    }
    (model / RUN_RECORD).write_text(json.dumps(record), encoding="utf-8")
    return model


def _build(base: Path, repo: Path, out: str) -> Path:
    import yaml

    recipe = {
        "name": "shop-code",
        "kind": "completion",
        "sources": [{"code_repo": {"path": str(repo)}}],
        "test": {"holdout": 0.0},
    }
    path = base / f"{out}.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return build_mixture(path, out=base / out)


def test_lineage_needs_current_indexes_then_finds_copied_files(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(SAMPLE_REPO, repo)
    mixture = _build(tmp_path, repo, "mix")
    parent = _model(tmp_path, "base-ft", [mixture])
    model = _model(tmp_path, "dpo", [], parent=parent)
    code = (repo / "shop" / "prices.py").read_text(encoding="utf-8")
    snippet = "\n".join(code.splitlines()[3:14])

    with pytest.raises(
        DataError, match=r"mixture 'shop-code' at .*mix has no search index; .*`mixtune mix index .*mix`"
    ):
        attribution.find_in_training_data(model, snippet)
    assert [(m, p) for m, p in attribution.missing_indexes(model)] == [(mixture, "has no search index")]

    assert ensure_indexes(model) == [attribution.index_path(mixture)]
    assert attribution.missing_indexes(model) == []
    (match, *_) = attribution.find_in_training_data(model, snippet)
    assert (match.column, match.role, match.path) == ("content", "file", "repo/shop/prices.py")
    assert match.mixture == "shop-code" and match.similarity >= 0.9
    assert snippet.splitlines()[0] in match.text.splitlines()[match.span["start_line"]]

    # the repository changes and the mixture is rebuilt in place: its old index is stale
    (repo / "shop" / "prices.py").write_text(code + "\n\nTAX_FREE = ()\n", encoding="utf-8")
    rebuilt = _build(tmp_path, repo, "mix")
    model2 = _model(tmp_path, "after", [rebuilt])
    with pytest.raises(DataError, match=r"stale search index .*`mixtune mix index"):
        attribution.find_in_training_data(model2, snippet)
    ensure_indexes(model2)
    assert attribution.find_in_training_data(model2, snippet)[0].path == "repo/shop/prices.py"


def test_ground_attribution_imports_no_stage() -> None:
    """The ground modules the attribution query needs import no stage, in functions neither."""
    bad = []
    for name in GROUND:
        base = REPO / "mixtune" / name
        for path in (
            [base.with_suffix(".py")] if base.with_suffix(".py").is_file() else sorted(base.rglob("*.py"))
        ):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                modules = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                bad += [f"{path.name}: {m}" for m in modules if m.split(".")[0] in STAGES]
    assert not bad, bad
