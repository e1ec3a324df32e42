"""A run SIGKILLed right after a checkpoint resumes from it on the next identical command, finishes,
and ends with the weights an uninterrupted run (same seed) ends with."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.resume_check import assert_same_run, kill_after_checkpoint, logged_loss_steps, step_recorder


@pytest.mark.slow
def test_sigkill_after_checkpoint_then_resume_matches_uninterrupted(
    tiny_base_dir: Path, toy_jsonl: Path, tmp_path: Path, write_recipe
) -> None:
    from sft.recipe import load_sft_recipe
    from sft.train import train_sft

    settings = {
        "model_name_or_path": str(tiny_base_dir),
        "dataset_mixture": {"datasets": [{"id": str(toy_jsonl)}]},
        "learning_rate": 2.0e-3,
        "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.1,
        "num_train_epochs": 4,
        "per_device_train_batch_size": 1,
        "batching": "grouped",  # 12 steps of one example (auto may measure packing faster here)
        "save_strategy": "steps",
        "save_steps": 4,
        "logging_steps": 1,
        "bf16": False,
        "seed": 3,
    }
    killed = write_recipe("killed.yaml", **settings, output_dir=str(tmp_path / "killed"))
    out = tmp_path / "killed"
    kill_after_checkpoint("sft", killed, out, 4)

    steps = step_recorder()
    train_sft(load_sft_recipe(killed), callbacks=[steps])  # the same command again: resumes by itself
    assert steps.steps == list(range(5, 13)), "the resumed run must continue after step 4, not restart"
    assert logged_loss_steps(out) == list(range(1, 13))

    straight = train_sft(
        load_sft_recipe(write_recipe("straight.yaml", **settings, output_dir=str(tmp_path / "straight")))
    )
    assert_same_run(out, straight)
