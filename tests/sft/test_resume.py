"""A run SIGKILLed right after a checkpoint resumes from it on the next identical command, finishes,
and ends with the weights an uninterrupted run (same seed) ends with."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

KILL_AFTER_SAVE = textwrap.dedent(
    """
    import os, signal, sys
    from transformers import TrainerCallback
    from sft.recipe import load_sft_recipe
    from sft.train import train_sft

    class KillAfterCheckpoint(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step >= int(sys.argv[2]):
                os.kill(os.getpid(), signal.SIGKILL)

    train_sft(load_sft_recipe(sys.argv[1]), callbacks=[KillAfterCheckpoint()])
    """
)


@pytest.mark.slow
def test_sigkill_after_checkpoint_then_resume_matches_uninterrupted(
    tiny_base_dir: Path, toy_jsonl: Path, tmp_path: Path, write_recipe
) -> None:
    from safetensors.torch import load_file

    from mixtune.training.output_dir import RUN_RECORD
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
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_SAVE, str(killed), "4"],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    out = tmp_path / "killed"
    assert (out / "checkpoint-4").is_dir() and not (out / RUN_RECORD).exists()

    from transformers import TrainerCallback

    class StepsRun(TrainerCallback):
        steps: list[int] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.steps.append(state.global_step)

    train_sft(load_sft_recipe(killed), callbacks=[StepsRun()])  # the same command again: resumes by itself
    assert StepsRun.steps == list(range(5, 13)), "the resumed run must continue after step 4, not restart"
    record = json.loads((out / RUN_RECORD).read_text())
    assert [e["step"] for e in record["log_history"] if "loss" in e] == list(range(1, 13))

    straight = train_sft(
        load_sft_recipe(write_recipe("straight.yaml", **settings, output_dir=str(tmp_path / "straight")))
    )
    w_resumed, w_straight = load_file(out / "model.safetensors"), load_file(straight / "model.safetensors")
    for name in w_straight:
        assert (w_resumed[name] - w_straight[name]).abs().max().item() < 1e-5, name
    straight_losses = [
        e["loss"] for e in json.loads((straight / RUN_RECORD).read_text())["log_history"] if "loss" in e
    ]
    resumed_losses = [e["loss"] for e in record["log_history"] if "loss" in e]
    assert resumed_losses == pytest.approx(straight_losses, rel=1e-5)
