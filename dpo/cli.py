"""`mixtune dpo RECIPE [--launch NAME --gpus N | --cpu --gpus N] [--dry-run] [--overwrite] [--key value ...]`."""

from __future__ import annotations

from mixtune.training.cli import StageCommand

COMMAND = StageCommand(
    "dpo",
    help="chat model -> aligned model (TRL DPOTrainer on preference pairs)",
    description=(
        "Preference-optimise a chat (SFT) model with TRL's DPOTrainer on a preference mixture. RECIPE keys "
        "follow TRL's DPOConfig and ModelConfig (alignment-handbook DPO recipes run unchanged) plus mixture, "
        "max_prompt_length, prompt_mismatch, ref_model_name_or_path, batching and merge_adapter; any --key "
        "value overrides a recipe key. An interrupted run resumes from its last checkpoint; a finished one "
        "is kept unless --overwrite."
    ),
)
handle = COMMAND.handle
register = COMMAND.register
