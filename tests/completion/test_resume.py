"""A completion run SIGKILLed right after a checkpoint resumes on the next identical command and ends
with the weights of an uninterrupted run: the FIM splits of every epoch (drawn from the seed and the
epoch) are drawn again the same way after the restart, mid-epoch included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.completion.house_style import write_repo
from tests.resume_check import assert_same_run, kill_after_checkpoint, logged_loss_steps, step_recorder


def _recipe(tmp_path: Path, name: str, settings: dict) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**settings, "output_dir": str(tmp_path / name)}), encoding="utf-8")
    return path


@pytest.mark.slow
def test_sigkill_after_checkpoint_then_resume_matches_uninterrupted(
    tiny_base_dir: Path, tmp_path: Path
) -> None:
    from completion.recipe import load_completion_recipe
    from completion.train import train_completion

    rows, _ = write_repo(tmp_path / "repo")
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    settings = {
        "model_name_or_path": str(tiny_base_dir),
        "dataset_mixture": {"datasets": [{"id": str(data)}]},
        "fim_rate": 0.5,
        "fim_spm_rate": 0.5,
        "seq_length": 96,
        "num_train_epochs": 2,
        "per_device_train_batch_size": 1,
        "learning_rate": 2.0e-3,
        "save_strategy": "steps",
        "save_steps": 10,  # the kill comes in the second epoch: its FIM draw must be epoch 1's again
        "logging_steps": 1,
        "report_to": "none",
        "bf16": False,
        "seed": 5,
    }
    killed = _recipe(tmp_path, "killed", settings)
    out = tmp_path / "killed"
    kill_after_checkpoint("completion", killed, out, 20)

    steps = step_recorder()
    train_completion(load_completion_recipe(killed), callbacks=[steps])  # the same command: resumes
    assert steps.steps and steps.steps[0] == 21, "the resumed run must continue after step 20"
    total = steps.steps[-1]
    assert total > 21, f"the second epoch should go on past the checkpoint, got {total} steps"
    assert logged_loss_steps(out) == list(range(1, total + 1))

    straight = train_completion(load_completion_recipe(_recipe(tmp_path, "straight", settings)))
    assert_same_run(out, straight)
