"""`mixtune sft RECIPE [--launch NAME --gpus N | --cpu --gpus N] [--dry-run] [--overwrite] [--key value ...]`."""

from __future__ import annotations

from mixtune.training.cli import StageCommand

COMMAND = StageCommand(
    "sft",
    help="base model -> chat model (TRL SFTTrainer on a chat mixture)",
    description=(
        "Fine-tune a base code model into a chat model. RECIPE keys follow TRL's SFTConfig and "
        "ModelConfig (alignment-handbook recipes run unchanged) plus mixture, batching and lm_head_loss; "
        "any --key value overrides a recipe key. An interrupted run resumes from its last checkpoint; a "
        "finished one is kept unless --overwrite."
    ),
)
handle = COMMAND.handle
register = COMMAND.register
