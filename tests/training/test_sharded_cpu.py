"""Sharded training for real, on CPU processes: FSDP (the shipped accelerate config: full shard,
sharded checkpoints) with 2 gloo processes, started by exactly the command `--dry-run` prints.
SFT is SIGKILLed mid-run and resumed from its last complete sharded checkpoint; SFT and DPO (LoRA,
reference = adapter disabled) finish as normal consolidated model directories that match a
1-process run at the same global batch. ZeRO-3 on CPU is refused with the reason."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.toy_text import CODE_WORDS

pytestmark = pytest.mark.slow

WORDS = CODE_WORDS


def conversations(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "messages": [
                {"role": "user", "content": " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 10)))},
                {
                    "role": "assistant",
                    "content": " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 30))),
                },
            ]
        }
        for _ in range(n)
    ]


def preferences(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        q = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8)))
        rows.append(
            {
                "prompt": [{"role": "user", "content": q}],
                "chosen": [{"role": "assistant", "content": "def f(x):\n    return x"}],
                "rejected": [{"role": "assistant", "content": " ".join(rng.choice(WORDS) for _ in range(9))}],
            }
        )
    return rows


def write(path: Path, data: Any) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def environ() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def printed_command(stage: str, recipe: Path, out: Path) -> str:
    """The launch command `mixtune STAGE RECIPE --launch fsdp --cpu --gpus 2 --dry-run` prints."""
    argv = [sys.executable, "-m", "mixtune", stage, str(recipe), "--launch", "fsdp", "--cpu", "--gpus", "2"]
    argv += ["--output_dir", str(out), "--dry-run"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=environ(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("MIXTUNE_CPU_FSDP=1 accelerate launch --config_file ") and "fsdp.yaml" in line
    assert "--num_processes 2" in line and f"-m {stage} " in line
    return line


def run_printed(line: str, kill_after: Path | None = None) -> subprocess.CompletedProcess[str] | None:
    """Run the printed command in a shell; with `kill_after`, SIGKILL the whole process group once
    that file exists (a checkpoint has been completed) and return None."""
    proc = subprocess.Popen(
        ["bash", "-c", line],
        env=environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    if kill_after is None:
        out, _ = proc.communicate(timeout=600)
        return subprocess.CompletedProcess(line, proc.returncode, out, "")
    deadline = time.time() + 600
    while not kill_after.exists():
        assert proc.poll() is None, f"finished before {kill_after} appeared:\n{proc.stdout.read()[-3000:]}"
        assert time.time() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return None


def weights(directory: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(directory / "model.safetensors")


def assert_same_model(one: Path, two: Path, tol: float) -> None:
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(two)  # a normal, consolidated model directory
    w1, w2 = weights(one), weights(two)
    assert w1.keys() == w2.keys()
    worst = max((w1[k].float() - w2[k].float()).abs().max().item() for k in w1)
    assert worst < tol, worst


def test_fsdp_sft_killed_resumed_matches_one_process(tiny_base_dir: Path, tmp_path: Path) -> None:
    from sft.recipe import load_sft_recipe
    from sft.train import train_sft

    recipe = write(
        tmp_path / "sft.yaml",
        {
            "model_name_or_path": str(tiny_base_dir),
            "dataset_mixture": {"datasets": [{"id": str(write(tmp_path / "chat.jsonl", conversations(40)))}]},
            "batching": "grouped",
            "learning_rate": 2.0e-3,
            "max_steps": 8,
            "save_steps": 2,
            "logging_steps": 1,
            "per_device_train_batch_size": 2,
            "bf16": False,
            "seed": 7,
            "disable_tqdm": True,
        },
    )
    two = tmp_path / "two"
    line = printed_command("sft", recipe, two)
    assert run_printed(line, kill_after=two / "checkpoint-4" / "trainer_state.json") is None
    assert not (two / "mixtune_run.json").exists()
    assert (two / "checkpoint-4" / "pytorch_model_fsdp_0").is_dir()  # sharded checkpoint
    done = run_printed(line)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "resuming from" in done.stdout

    one = train_sft(
        load_sft_recipe(recipe, {"per_device_train_batch_size": 4, "output_dir": str(tmp_path / "one")})
    )
    rec1 = json.loads((one / "mixtune_run.json").read_text())
    rec2 = json.loads((two / "mixtune_run.json").read_text())
    assert rec2["hyperparameters"]["world_size"] == 2 and rec2["hyperparameters"]["global_batch_size"] == 4
    loss1 = [e["loss"] for e in rec1["log_history"] if "loss" in e]
    loss2 = [e["loss"] for e in rec2["log_history"] if "loss" in e]
    assert loss2[-4:] == pytest.approx(loss1[-4:], rel=1e-4, abs=1e-5)  # the steps after resuming
    assert_same_model(one, two, 1e-4)


def test_fsdp_dpo_lora_killed_resumed_matches_one_process(tiny_chat_dir: Path, tmp_path: Path) -> None:
    from dpo.recipe import load_dpo_recipe
    from dpo.train import train_dpo

    recipe = write(
        tmp_path / "dpo.yaml",
        {
            "model_name_or_path": str(tiny_chat_dir),
            "dataset_mixture": {"datasets": [{"id": str(write(tmp_path / "prefs.jsonl", preferences(16)))}]},
            "batching": "padded",
            "use_peft": True,
            "lora_r": 4,
            "lora_alpha": 8,
            "lora_dropout": 0.0,
            "lora_target_modules": ["q_proj", "v_proj"],
            "beta": 0.1,
            "learning_rate": 5.0e-3,
            "max_steps": 6,
            "save_steps": 2,
            "logging_steps": 1,
            "per_device_train_batch_size": 2,
            "max_length": 96,
            "bf16": False,
            "seed": 3,
            "disable_tqdm": True,
        },
    )
    two = tmp_path / "two"
    line = printed_command("dpo", recipe, two)
    assert run_printed(line, kill_after=two / "checkpoint-2" / "trainer_state.json") is None
    assert not (two / "mixtune_run.json").exists()
    done = run_printed(line)
    assert done.returncode == 0, done.stdout[-4000:]
    one = train_dpo(
        load_dpo_recipe(recipe, {"per_device_train_batch_size": 4, "output_dir": str(tmp_path / "one")})
    )
    rec2 = json.loads((two / "mixtune_run.json").read_text())
    assert rec2["hyperparameters"]["world_size"] == 2 and rec2["saved_as"].startswith("merged LoRA")
    assert rec2["resumed_from"] and "checkpoint-" in rec2["resumed_from"]
    assert (two / "adapter" / "adapter_config.json").is_file()
    assert_same_model(one, two, 1e-4)
    parent = weights(tiny_chat_dir)
    w2 = weights(two)
    assert max((w2[k] - parent[k]).abs().max().item() for k in parent) > 1e-4  # the adapter was merged


def test_cpu_launch_keeps_the_named_strategy_or_refuses() -> None:
    from mixtune.errors import MixtuneError
    from mixtune.training.launch import build_launch_command

    fsdp = build_launch_command("sft", ["r.yaml"], "fsdp", 2, cpu=True)
    assert fsdp.argv[:2] == ["accelerate", "launch"] and fsdp.argv[3].endswith("fsdp.yaml")
    assert fsdp.env == {"MIXTUNE_CPU_FSDP": "1"}
    assert build_launch_command("sft", ["r.yaml"], "ddp", 2, cpu=True).argv[0] == "torchrun"
    for name in ("zero3", "zero2"):
        with pytest.raises(MixtuneError, match="DeepSpeed cannot train in CPU processes"):
            build_launch_command("sft", ["r.yaml"], name, 2, cpu=True)
