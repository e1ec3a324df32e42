"""Supervised fine-tuning (SFT) of a base code model into a chat model with TRL's `SFTTrainer`.

Library entry points: `sft.recipe.load_sft_recipe(path, overrides)` and `sft.train.train_sft(recipe)`.
"""
