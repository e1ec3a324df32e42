"""Fine-tuning the embedded base model with FIM on a small repository improves exact match and edit
similarity on that repository's held-out files (scored by `mixtune eval --benchmark repo:PATH`'s
library call), and the run is a finished mixtune model directory like every stage's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.completion.house_style import write_repo

TRAINING = {
    "fim_rate": 0.9,
    "fim_spm_rate": 0.5,
    "seq_length": 512,
    "loss_on": "all",
    "attn_implementation": "eager",
    "learning_rate": 1.0e-2,
    "lr_scheduler_type": "constant",
    "max_steps": 100,
    "per_device_train_batch_size": 2,
    "logging_steps": 25,
    "save_strategy": "no",
    "seed": 0,
}


def scores(model: Path, held_out: Path, out: Path) -> dict[str, Any]:
    from evals.evaluate import evaluate_repo_infilling
    from evals.generate import GenerationSettings

    return evaluate_repo_infilling(
        str(model), str(held_out), settings=GenerationSettings(max_new_tokens=40), out=str(out)
    )


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~2 CPU-minutes; far longer when the cores are shared
def test_fim_fine_tuning_improves_held_out_completion(tiny_base_dir: Path, tmp_path: Path) -> None:
    from completion.recipe import load_completion_recipe
    from completion.train import train_completion

    rows, held_out = write_repo(tmp_path / "repo")
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recipe_path = tmp_path / "recipe.yaml"
    recipe = {
        "model_name_or_path": str(tiny_base_dir),
        "dataset_mixture": {"datasets": [{"id": str(data)}]},
        "output_dir": str(tmp_path / "out"),
        **TRAINING,
    }
    recipe_path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    out = train_completion(load_completion_recipe(recipe_path))

    before = scores(tiny_base_dir, held_out, tmp_path / "eval-before")
    after = scores(out, held_out, tmp_path / "eval-after")
    print(
        f"before {before['exact_match']:.3f}/{before['edit_similarity']:.3f}, after {after['exact_match']:.3f}/{after['edit_similarity']:.3f}"
    )
    assert after["tasks"] == before["tasks"] >= 10
    # measured: before 0.000 / 0.000, after 0.158 / 0.522 (19 tasks; 0.211 / 0.642 after 150 steps)
    assert after["exact_match"] >= before["exact_match"] + 0.1
    assert after["edit_similarity"] >= before["edit_similarity"] + 0.3

    record = json.loads((out / "mixtune_run.json").read_text())
    assert record["stage"] == "completion"
    assert record["hyperparameters"]["fim_rate"] == 0.9 and record["hyperparameters"]["seq_length"] == 512
    assert record["batching"]["mode"] == "packed" and record["batching"]["probe"]["leak"] == 0.0
    assert record["data"]["train"]["kept"] == len(rows)
    assert "Fill-in-the-middle" in (out / "README.md").read_text()
