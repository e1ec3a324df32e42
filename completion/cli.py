"""`mixtune completion RECIPE [--launch NAME --gpus N | --cpu --gpus N] [--dry-run] [--overwrite] [--key value ...]`."""

from __future__ import annotations

from mixtune.training.cli import StageCommand

COMMAND = StageCommand(
    "completion",
    help="base code model -> completion model (fill-in-the-middle on code files)",
    description=(
        "Fine-tune a StarCoder-family base model for editor completion: file text packed into rows, "
        "StarCoder's fill-in-the-middle transform (PSM and SPM) redrawn every epoch. RECIPE keys follow "
        "transformers' TrainingArguments and TRL's ModelConfig (LoRA/QLoRA) plus mixture, fim_rate, "
        "fim_spm_rate, seq_length, loss_on and packing; any --key value overrides a recipe key. An "
        "interrupted run resumes from its last checkpoint; a finished one is kept unless --overwrite."
    ),
)
handle = COMMAND.handle
register = COMMAND.register
