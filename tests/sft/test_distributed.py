"""Two CPU processes (gloo, started by `mixtune sft --cpu --gpus 2`, i.e. torchrun) train like one
process at the same global batch: same per-step losses, same final weights (within float tolerance)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.toy_text import CODE_WORDS


def varied_conversations(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    words = CODE_WORDS
    rows = []
    for i in range(n):
        q = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
        a = " ".join(rng.choice(words) for _ in range(rng.randint(4, 40)))
        rows.append(
            {
                "id": str(i),
                "source": "even" if i % 2 == 0 else "odd",
                "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
            }
        )
    return rows


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tiny_base_dir: Path, tmp_path: Path, write_recipe) -> None:
    from safetensors.torch import load_file

    from sft.recipe import load_sft_recipe
    from sft.train import train_sft

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in varied_conversations(24)), encoding="utf-8")
    recipe = write_recipe(
        model_name_or_path=str(tiny_base_dir),
        dataset_mixture={"datasets": [{"id": str(data)}]},
        learning_rate=2.0e-3,
        max_steps=5,
        batching="grouped",  # the same batches in both runs, whatever auto would measure
        logging_steps=1,
        save_strategy="no",
        bf16=False,
        seed=7,
    )
    one = train_sft(
        load_sft_recipe(recipe, {"per_device_train_batch_size": 4, "output_dir": str(tmp_path / "one")})
    )

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "mixtune", "sft", str(recipe), "--cpu", "--gpus", "2"]
    cmd += ["--per_device_train_batch_size", "2", "--output_dir", str(tmp_path / "two")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]

    rec1 = json.loads((one / "mixtune_run.json").read_text())
    rec2 = json.loads((tmp_path / "two" / "mixtune_run.json").read_text())
    assert rec2["hyperparameters"]["world_size"] == 2
    assert rec1["hyperparameters"]["global_batch_size"] == rec2["hyperparameters"]["global_batch_size"] == 4
    loss1 = [e["loss"] for e in rec1["log_history"] if "loss" in e]
    loss2 = [e["loss"] for e in rec2["log_history"] if "loss" in e]
    assert len(loss1) == len(loss2) == 5
    assert loss1[-1] < loss1[0]
    assert loss2 == pytest.approx(loss1, rel=1e-4, abs=1e-5)

    w1 = load_file(one / "model.safetensors")
    w2 = load_file(tmp_path / "two" / "model.safetensors")
    assert w1.keys() == w2.keys()
    for name in w1:
        assert (w1[name] - w2[name]).abs().max().item() < 1e-4, name
