"""Capability checks (bf16, fp16, QLoRA, flash-attn, DeepSpeed) and the accelerate / torchrun commands
that `--launch NAME --gpus N --nodes M [--cpu] --dry-run` prints."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from mixtune.cli import main
from mixtune.errors import MixtuneError
from mixtune.paths import REPO_ROOT
from mixtune.training.device import Capabilities, check_attention, check_quantization, resolve_precision
from mixtune.training.launch import build_launch_command, uses_deepspeed

CPU = Capabilities(False, 0, None, False, False, False, False)
A100 = Capabilities(True, 8, "NVIDIA A100", True, True, True, True)
V100 = Capabilities(True, 1, "Tesla V100", False, False, True, False)


def test_precision_is_bf16_where_the_hardware_has_it() -> None:
    assert resolve_precision(None, None, A100) == {"bf16": True, "fp16": False}
    assert resolve_precision(None, None, CPU) == {"bf16": False, "fp16": False}
    notes: list[str] = []
    assert resolve_precision(True, None, V100, notes) == {"bf16": False, "fp16": False}
    assert "Tesla V100" in notes[0] and "fp32" in notes[0]
    assert resolve_precision(None, True, V100) == {"bf16": False, "fp16": True}
    with pytest.raises(MixtuneError, match="fp16 mixed precision needs a CUDA GPU"):
        resolve_precision(None, True, CPU)


def test_qlora_and_flash_attention_need_cuda() -> None:
    with pytest.raises(MixtuneError, match="load_in_4bit .*QLoRA.* no CUDA GPU"):
        check_quantization(True, False, CPU)
    with pytest.raises(MixtuneError, match="bitsandbytes"):
        check_quantization(False, True, Capabilities(True, 1, "g", True, False, False, False))
    check_quantization(True, False, A100)
    with pytest.raises(MixtuneError, match="flash-attn"):
        check_attention("flash_attention_2", CPU)
    check_attention("sdpa", CPU)


def test_launch_commands() -> None:
    zero3 = build_launch_command("sft", ["r.yaml", "--lr", "1"], "zero3", gpus=8, nodes=2)
    cfg = (
        str((REPO_ROOT / "accelerate_configs/zero3.yaml").relative_to(Path.cwd()))
        if Path.cwd() == REPO_ROOT
        else None
    )
    assert zero3.argv[:3] == ["accelerate", "launch", "--config_file"]
    assert zero3.argv[3].endswith("accelerate_configs/zero3.yaml") and (cfg is None or zero3.argv[3] == cfg)
    assert zero3.argv[4:] == [
        "--num_processes",
        "16",
        "--num_machines",
        "2",
        "--machine_rank",
        "$SLURM_NODEID",
        "--main_process_ip",
        "$MASTER_ADDR",
        "--main_process_port",
        "29500",
        "-m",
        "sft",
        "r.yaml",
        "--lr",
        "1",
    ]
    assert '--machine_rank "$SLURM_NODEID"' in zero3.shell() and zero3.per_node
    cpu = build_launch_command("dpo", ["d.yaml"], "ddp", gpus=2, cpu=True)
    assert cpu.argv == [
        "torchrun",
        "--nproc_per_node",
        "2",
        "--nnodes",
        "1",
        "--standalone",
        "-m",
        "dpo",
        "d.yaml",
    ]
    assert uses_deepspeed(REPO_ROOT / "accelerate_configs/zero3.yaml")
    assert uses_deepspeed(REPO_ROOT / "accelerate_configs/zero2.yaml")
    assert not uses_deepspeed(REPO_ROOT / "accelerate_configs/fsdp.yaml")
    with pytest.raises(MixtuneError, match="choose one of ddp, zero2, zero3, fsdp"):
        build_launch_command("sft", [], "zero4", gpus=1)


def _write(tmp_path: Path) -> Path:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model_name_or_path: m\nmixture: mix.yaml\nlearning_rate: 2.0e-5\n")
    return recipe


def test_cli_dry_run_prints_the_accelerate_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = _write(tmp_path)
    # launch flags before and after RECIPE; other flags are recipe overrides, passed to every process
    rc = main(
        [
            "sft",
            "--launch",
            "zero3",
            str(recipe),
            "--gpus",
            "8",
            "--learning_rate",
            "1e-5",
            "--dry-run",
            "--overwrite",
        ]
    )
    assert rc == 0
    argv = shlex.split(capsys.readouterr().out.strip())
    assert argv[:2] == ["accelerate", "launch"] and argv[3].endswith("accelerate_configs/zero3.yaml")
    assert argv[4:] == [
        "--num_processes",
        "8",
        "--num_machines",
        "1",
        "-m",
        "sft",
        str(recipe),
        "--learning_rate",
        "1e-5",
        "--overwrite",
    ]


def test_cli_validates_before_launching(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = _write(tmp_path)
    assert main(["sft", str(recipe), "--launch", "zero3", "--gpus", "1", "--learning_rat", "1"]) == 2
    assert "learning_rat: unknown key (did you mean 'learning_rate'?)" in capsys.readouterr().err
    assert main(["sft", str(recipe), "--launch", "ddp", "--dry-run"]) == 2
    assert "--gpus N" in capsys.readouterr().err


def test_the_command_loads_the_recipe_once_and_trains_that_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sft.train
    from sft.cli import COMMAND

    loaded, trained = [], []
    load = COMMAND.load
    monkeypatch.setattr(type(COMMAND), "load", lambda self, *a: loaded.append(load(*a)) or loaded[-1])
    monkeypatch.setattr(sft.train, "train_sft", lambda recipe, overwrite: trained.append(recipe) or tmp_path)
    assert main(["sft", str(_write(tmp_path)), "--learning_rate", "1e-5"]) == 0
    assert len(loaded) == 1 and trained == loaded and loaded[0].training["learning_rate"] == 1e-5
    assert capsys.readouterr().out.strip() == str(tmp_path)


def test_deepspeed_launch_without_deepspeed_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mixtune.training.device as device

    monkeypatch.setattr(device, "detect_capabilities", lambda: CPU)
    assert main(["sft", str(_write(tmp_path)), "--launch", "zero3", "--gpus", "1"]) == 2
    assert "DeepSpeed, which is not installed" in capsys.readouterr().err
