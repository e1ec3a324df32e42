"""Supervised fine-tuning: a base code model becomes a chat model (TRL SFTTrainer, ChatML,
assistant-only loss, length-bucketed or packed batches, one CPU to many GPUs).

Run it as `mixtune sft RECIPE`, `python -m sft RECIPE`, or under
`accelerate launch --config_file accelerate_configs/zero3.yaml -m sft RECIPE`.
"""

from __future__ import annotations

__all__ = ["train_sft", "load_sft_recipe"]


def __getattr__(name: str):  # keep `import sft` light: torch/trl load on first use
    if name in __all__:
        from sft import train

        return getattr(train, name)
    raise AttributeError(name)
