"""The StarChat2-15B recipe validates offline and prints the exact launch commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mixtune.paths import REPO_ROOT


def test_starchat2_dry_run_validates_and_prints_launch_commands(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "OUT": str(tmp_path),
    }
    proc = subprocess.run(
        ["bash", str(REPO_ROOT / "recipes" / "starchat2-15b" / "run.sh"), "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "mixture 'starchat2-sft' (sft), 5 source(s)" in out
    assert "mixture 'starchat2-dpo' (preference), 2 source(s)" in out
    zero3 = "accelerate launch --config_file accelerate_configs/zero3.yaml --num_processes 8 --num_machines 1"
    assert f"{zero3} -m sft sft/recipes/starchat2-15b.yaml" in out
    assert f"{zero3} -m dpo dpo/recipes/starchat2-15b.yaml --model_name_or_path {tmp_path}/sft" in out
    assert not list(tmp_path.iterdir()), "a dry run must not write anything"


def test_starchat2_recipes_carry_the_published_values() -> None:
    from dpo.recipe import load_dpo_recipe
    from sft.recipe import load_sft_recipe

    sft = load_sft_recipe(REPO_ROOT / "sft" / "recipes" / "starchat2-15b.yaml")
    t = sft.training
    assert sft.model["model_name_or_path"] == "bigcode/starcoder2-15b"
    # transformers 5 folds warmup_ratio into warmup_steps (a value below 1 is a ratio)
    assert (t["learning_rate"], t["num_train_epochs"], t["lr_scheduler_type"], t["warmup_steps"]) == (
        2e-5,
        3,
        "cosine",
        0.1,
    )
    assert t["per_device_train_batch_size"] * t["gradient_accumulation_steps"] * 8 == 128
    assert t["max_length"] == 2048 and t["bf16"] is True

    dpo = load_dpo_recipe(REPO_ROOT / "dpo" / "recipes" / "starchat2-15b.yaml")
    d = dpo.training
    assert (d["beta"], d["learning_rate"], d["num_train_epochs"], d["warmup_steps"]) == (0.05, 5e-7, 2, 0.1)
    assert d["per_device_train_batch_size"] * d["gradient_accumulation_steps"] * 8 == 128
    assert (d["max_length"], dpo.options.max_prompt_length) == (1024, 512)
