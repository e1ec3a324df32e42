"""DPO as separate processes: two CPU (gloo) processes under torchrun, and a run killed with SIGKILL
after a checkpoint that resumes and ends where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from dpo.recipe import build_dpo_recipe
from dpo.train import train_dpo

BASE = {
    "beta": 0.1,
    "learning_rate": 5.0e-4,
    "gradient_checkpointing": False,
    "logging_steps": 1,
    "report_to": "none",
    "max_length": 128,
    "seed": 0,
    "disable_tqdm": True,
    # these tests are about processes and resuming, not the batch layout: `auto` measures, and two
    # runs on a busy machine could lay pairs out differently (same maths, different float rounding)
    "batching": "padded",
}


def _recipe(parent: Path, train_jsonl: Path, out: Path, **extra: Any) -> dict[str, Any]:
    return {
        "model_name_or_path": str(parent),
        "dataset_mixture": {"datasets": [{"id": str(train_jsonl)}]},
        "output_dir": str(out),
        **BASE,
        **extra,
    }


def _write(path: Path, recipe: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def _losses(out: Path) -> list[float]:
    state = json.loads(
        max(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        .joinpath("trainer_state.json")
        .read_text()
    )
    return [e["loss"] for e in state["log_history"] if "loss" in e]


@pytest.mark.slow
def test_two_cpu_processes_train_like_one_at_the_same_global_batch(
    sft_parent_dir, preference_jsonl, tmp_path
) -> None:
    common = {"max_steps": 3, "save_strategy": "steps", "save_steps": 3}
    two = _write(
        tmp_path / "two.yaml",
        _recipe(sft_parent_dir, preference_jsonl, tmp_path / "two", per_device_train_batch_size=4, **common),
    )
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
        "-m", "dpo", str(two),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "two" / "mixtune_run.json").read_text())
    assert record["hyperparameters"]["world_size"] == 2
    assert record["hyperparameters"]["global_batch_size"] == 8

    one = build_dpo_recipe(
        _recipe(sft_parent_dir, preference_jsonl, tmp_path / "one", per_device_train_batch_size=8, **common)
    )
    train_dpo(one)
    assert _losses(tmp_path / "two") == pytest.approx(_losses(tmp_path / "one"), rel=5e-3)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"run ended (rc {proc.returncode}) before {path.name} appeared")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} did not appear in {timeout}s")
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_after_a_checkpoint_then_resume_matches_an_uninterrupted_run(
    sft_parent_dir, preference_jsonl, tmp_path
) -> None:
    from safetensors.torch import load_file

    steps = {"max_steps": 10, "save_strategy": "steps", "save_steps": 2, "per_device_train_batch_size": 4}
    killed = tmp_path / "killed"
    path = _write(tmp_path / "r.yaml", _recipe(sft_parent_dir, preference_jsonl, killed, **steps))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dpo", str(path)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(killed / "checkpoint-2" / "trainer_state.json", proc, timeout=300)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (killed / "mixtune_run.json").exists(), "the run finished before it could be killed"

    resumed = subprocess.run(
        [sys.executable, "-m", "dpo", str(path)], env=_env(), capture_output=True, text=True, timeout=400
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    record = json.loads((killed / "mixtune_run.json").read_text())
    assert record["resumed_from"] and Path(record["resumed_from"]).name.startswith("checkpoint-")
    assert record["metrics"]["epoch"] > 0

    # the uninterrupted run in the same kind of process (same thread count, so the same float sums)
    whole = _write(
        tmp_path / "w.yaml", _recipe(sft_parent_dir, preference_jsonl, tmp_path / "whole", **steps)
    )
    done = subprocess.run(
        [sys.executable, "-m", "dpo", str(whole)], env=_env(), capture_output=True, text=True, timeout=400
    )
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = load_file(killed / "model.safetensors"), load_file(tmp_path / "whole" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert (a[key] - b[key]).abs().max().item() < 1e-4, key

    again = subprocess.run(
        [sys.executable, "-m", "dpo", str(path)], env=_env(), capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 2 and "already holds a finished run" in again.stderr
