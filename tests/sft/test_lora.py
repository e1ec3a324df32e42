"""LoRA through peft: the adapter is kept, and the model directory holds the merged full model, so it
loads like any other; QLoRA on a machine without CUDA is a clear error before anything loads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


def test_lora_run_saves_adapter_and_merged_model(
    tiny_base_dir: Path, toy_jsonl: Path, tmp_path: Path, write_recipe: Callable[..., Path]
) -> None:
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from sft.recipe import load_sft_recipe
    from sft.train import train_sft

    recipe = write_recipe(
        model_name_or_path=str(tiny_base_dir),
        dataset_mixture={"datasets": [{"id": str(toy_jsonl)}]},
        use_peft=True,
        lora_r=4,
        lora_alpha=8,
        lora_target_modules=["q_proj", "v_proj"],
        learning_rate=1.0e-2,
        max_steps=3,
        per_device_train_batch_size=3,
        save_strategy="no",
        bf16=False,
        output_dir=str(tmp_path / "out"),
    )
    out = train_sft(load_sft_recipe(recipe))
    assert (out / "adapter" / "adapter_config.json").is_file()
    merged, base = load_file(out / "model.safetensors"), load_file(tiny_base_dir / "model.safetensors")
    assert not any("lora" in k for k in merged)
    changed = {k for k in base if not (merged[k] == base[k]).all()}
    assert changed and all(("q_proj" in k or "v_proj" in k) for k in changed), changed
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.model_type == "starcoder2"


def test_qlora_on_cpu_is_a_clear_error(tmp_path: Path, write_recipe: Callable[..., Path], capsys) -> None:
    from mixtune.cli import main
    from mixtune.training.device import detect_capabilities

    if detect_capabilities().cuda:
        pytest.skip("this machine has CUDA")
    recipe = write_recipe(
        model_name_or_path="bigcode/starcoder2-15b",
        mixture="mixtures/recipes/demo-sft.yaml",
        use_peft=True,
        load_in_4bit=True,
        output_dir=str(tmp_path / "out"),
    )
    assert main(["sft", str(recipe)]) == 2
    assert "load_in_4bit (QLoRA) needs a CUDA GPU and bitsandbytes" in capsys.readouterr().err
