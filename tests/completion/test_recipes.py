"""Completion recipes: the personal-copilot values, offline validation (dry run prints the command,
writes nothing), translations of the personal-copilot scripts' names, and errors naming the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from completion.recipe import build_completion_recipe, load_completion_recipe
from mixtune.errors import MixtuneError, RecipeError
from mixtune.paths import REPO_ROOT

RECIPES = REPO_ROOT / "completion" / "recipes"
BASE: dict[str, Any] = {"model_name_or_path": "bigcode/starcoder2-3b", "mixture": "some/mixture"}


@pytest.mark.parametrize("size", ["3b", "7b", "15b"])
def test_starcoder2_recipes_carry_the_public_personal_copilot_values(size: str) -> None:
    recipe = load_completion_recipe(RECIPES / f"starcoder2-{size}.yaml")
    m, t, o = recipe.model, recipe.training, recipe.options
    assert m["model_name_or_path"] == f"bigcode/starcoder2-{size}"
    assert (m["use_peft"], m["lora_r"], m["lora_alpha"], m["lora_dropout"]) == (True, 32, 64, 0.0)
    assert m["lora_target_modules"] == ["all-linear"]
    assert (m["load_in_4bit"], m["bnb_4bit_quant_type"], m["use_bnb_nested_quant"]) == (True, "nf4", True)
    assert (o.fim_rate, o.fim_spm_rate, o.seq_length, o.loss_on, o.packing) == (
        0.5,
        0.5,
        2048,
        "middle",
        True,
    )
    assert (t["learning_rate"], t["lr_scheduler_type"], t["warmup_steps"], t["weight_decay"]) == (
        5e-4,
        "cosine",
        30,
        0.01,
    )
    assert (t["max_steps"], t["per_device_train_batch_size"] * t["gradient_accumulation_steps"]) == (2000, 16)
    assert t["bf16"] is True
    # the mixture recipe it names is found beside it and validates offline
    assert recipe.resolve_path(o.mixture).is_file()


def test_dry_run_validates_offline_and_writes_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT)}
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "mixtune", "completion", str(RECIPES / "starcoder2-15b.yaml"), "--dry-run"]
        + ["--output_dir", str(out), "--launch", "fsdp", "--gpus", "8"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--num_processes 8" in proc.stdout and "-m completion" in proc.stdout
    assert not out.exists()


def test_run_sh_dry_run_validates_mixture_and_stage(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO_ROOT),
        "OUT": str(tmp_path / "copilot"),
        "REPO": str(REPO_ROOT / "mixtures" / "data" / "copilot_repo"),
        "SIZE": "7b",
    }
    script = REPO_ROOT / "recipes" / "personal-copilot" / "run.sh"
    proc = subprocess.run(
        ["bash", str(script), "--dry-run"], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "mixture 'personal-copilot' (completion)" in proc.stdout
    assert "-m completion completion/recipes/starcoder2-7b.yaml" in proc.stdout
    assert "--benchmark repo:" in proc.stdout and "vllm serve" in proc.stdout
    assert not (tmp_path / "copilot").exists()


def test_personal_copilot_script_names_are_translated() -> None:
    recipe = build_completion_recipe({**BASE, "max_seq_len": 1024, "fim_rate": 0.3})
    assert recipe.options.seq_length == 1024 and recipe.options.fim_rate == 0.3
    assert "max_seq_len -> seq_length" in recipe.notes
    with pytest.raises(RecipeError, match="both 'max_length' and 'seq_length'"):
        build_completion_recipe({**BASE, "max_length": 512, "seq_length": 1024})


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"fim_rate": 1.5}, "fim_rate"),
        ({"fim_spm_rate": -0.1}, "fim_spm_rate"),
        ({"loss_on": "prefix"}, "loss_on"),
        ({"fim_rat": 0.5}, "did you mean 'fim_rate'"),
        ({"seq_length": 8}, "seq_length"),
    ],
)
def test_bad_keys_are_named(keys: dict[str, Any], message: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**BASE, **keys}), encoding="utf-8")
    with pytest.raises(MixtuneError, match=message) as err:
        load_completion_recipe(path)
    assert str(path) in str(err.value)


def test_model_and_data_are_required() -> None:
    with pytest.raises(RecipeError, match="model_name_or_path: required"):
        build_completion_recipe({"mixture": "x"})
    with pytest.raises(RecipeError, match="no code data"):
        build_completion_recipe({"model_name_or_path": "m"})


def test_a_tokenizer_without_fim_tokens_is_refused_before_data_or_model() -> None:
    """The stage's first check after loading the tokenizer names the recipe and what is missing."""
    from types import SimpleNamespace

    from completion.train import CompletionStage

    class PlainTokenizer:
        name_or_path = "gpt2-like"
        eos_token_id = 0

        def get_vocab(self) -> dict[str, int]:
            return {"<|endoftext|>": 0, "a": 1}

    run = SimpleNamespace(tokenizer=PlainTokenizer(), recipe=SimpleNamespace(source="copilot.yaml"))
    with pytest.raises(
        MixtuneError, match="copilot.yaml: tokenizer gpt2-like has no fill-in-the-middle tokens"
    ):
        CompletionStage().check_tokenizer(run)  # type: ignore[arg-type]
