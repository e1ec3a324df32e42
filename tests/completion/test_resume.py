"""A completion run SIGKILLed right after a checkpoint resumes on the next identical command and ends
with the weights of an uninterrupted run: the FIM splits of every epoch (drawn from the seed and the
epoch) are drawn again the same way after the restart, mid-epoch included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.completion.house_style import write_repo

KILL_AFTER_SAVE = textwrap.dedent(
    """
    import os, sys
    from transformers import TrainerCallback
    from completion.recipe import load_completion_recipe
    from completion.train import train_completion

    class KillAfterCheckpoint(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step >= int(sys.argv[2]):
                os.kill(os.getpid(), 9)

    train_completion(load_completion_recipe(sys.argv[1]), callbacks=[KillAfterCheckpoint()])
    """
)


def _recipe(tmp_path: Path, name: str, settings: dict) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**settings, "output_dir": str(tmp_path / name)}), encoding="utf-8")
    return path


@pytest.mark.slow
def test_sigkill_after_checkpoint_then_resume_matches_uninterrupted(
    tiny_base_dir: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    from completion.recipe import load_completion_recipe
    from completion.train import train_completion
    from mixtune.run_record import RUN_RECORD

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
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_SAVE, str(killed), "20"],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    out = tmp_path / "killed"
    assert (out / "checkpoint-20").is_dir() and not (out / RUN_RECORD).exists()

    class StepsRun(TrainerCallback):
        steps: list[int] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.steps.append(state.global_step)

    train_completion(load_completion_recipe(killed), callbacks=[StepsRun()])  # the same command: resumes
    assert StepsRun.steps and StepsRun.steps[0] == 21, "the resumed run must continue after step 20"
    total = StepsRun.steps[-1]
    assert total > 21, f"the second epoch should go on past the checkpoint, got {total} steps"
    record = json.loads((out / RUN_RECORD).read_text())
    assert [e["step"] for e in record["log_history"] if "loss" in e] == list(range(1, total + 1))

    straight = train_completion(load_completion_recipe(_recipe(tmp_path, "straight", settings)))
    w_resumed, w_straight = load_file(out / "model.safetensors"), load_file(straight / "model.safetensors")
    for name in w_straight:
        assert (w_resumed[name] - w_straight[name]).abs().max().item() < 1e-5, name
    straight_losses = [
        e["loss"] for e in json.loads((straight / RUN_RECORD).read_text())["log_history"] if "loss" in e
    ]
    resumed_losses = [e["loss"] for e in record["log_history"] if "loss" in e]
    assert resumed_losses == pytest.approx(straight_losses, rel=1e-5)
