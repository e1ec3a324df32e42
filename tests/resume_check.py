"""The kill-and-resume check every training stage's tests run: a stage process SIGKILLed right after
a checkpoint, then the same command resumed, must end with an uninterrupted run's weights and losses."""

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
    from {stage}.recipe import load_{stage}_recipe
    from {stage}.train import train_{stage}

    class KillAfterCheckpoint(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step >= int(sys.argv[2]):
                os.kill(os.getpid(), signal.SIGKILL)

    train_{stage}(load_{stage}_recipe(sys.argv[1]), callbacks=[KillAfterCheckpoint()])
    """
)


def kill_after_checkpoint(stage: str, recipe: Path, out: Path, step: int) -> None:
    """Run `stage` on `recipe` in its own process and SIGKILL it once checkpoint `step` is saved:
    the checkpoint is there and no run record was written."""
    from mixtune.run_record import RUN_RECORD

    proc = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_SAVE.format(stage=stage), str(recipe), str(step)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert (out / f"checkpoint-{step}").is_dir() and not (out / RUN_RECORD).exists()


def step_recorder() -> object:
    """A TrainerCallback whose `steps` lists the global steps the run trained."""
    from transformers import TrainerCallback

    class StepsRun(TrainerCallback):
        def __init__(self) -> None:
            self.steps: list[int] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.steps.append(state.global_step)

    return StepsRun()


def logged_loss_steps(out: Path) -> list[int]:
    from mixtune.run_record import RUN_RECORD

    record = json.loads((out / RUN_RECORD).read_text())
    return [e["step"] for e in record["log_history"] if "loss" in e]


def assert_same_run(resumed: Path, straight: Path) -> None:
    """Weights within 1e-5 and the logged losses equal (rel 1e-5)."""
    from safetensors.torch import load_file

    from mixtune.run_record import RUN_RECORD

    w_resumed, w_straight = (
        load_file(resumed / "model.safetensors"),
        load_file(straight / "model.safetensors"),
    )
    for name in w_straight:
        assert (w_resumed[name] - w_straight[name]).abs().max().item() < 1e-5, name

    def losses(out: Path) -> list[float]:
        return [e["loss"] for e in json.loads((out / RUN_RECORD).read_text())["log_history"] if "loss" in e]

    assert losses(resumed) == pytest.approx(losses(straight), rel=1e-5)
