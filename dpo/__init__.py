"""Preference optimisation (DPO) of a chat model with TRL's `DPOTrainer`.

Library entry points: `dpo.recipe.load_dpo_recipe(path, overrides)` and `dpo.train.train_dpo(recipe)`.
"""
