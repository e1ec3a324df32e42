"""Training infrastructure shared by the SFT and DPO stages.

Each module has one job and is generic over the TRL config class of the stage
(`trl.SFTConfig`, `trl.DPOConfig`):

- `recipe`: load a stage recipe (TRL / alignment-handbook field names), translate old names,
  validate every key with file-named errors, apply `--key value` overrides.
- `overrides`: parse `--key value` command-line overrides.
- `data`: resolve a recipe's data (built mixture dir, mixtune mixture recipe, handbook
  `dataset_mixture` / `dataset_mixer`, local files) into a `DatasetDict` plus its lineage.
- `model`: resolve `mixtune:base-model/<size>`, load model + tokenizer, set up the chat format,
  build peft / bitsandbytes configs.
- `device`: capability checks (CUDA, bf16, flash-attn, bitsandbytes, DeepSpeed).
- `launch`: build (and run) the `accelerate launch` command for `--launch NAME --gpus N --nodes M`.
- `output_dir`: resume from the last checkpoint, refuse to overwrite a finished run.
- `run_record`, `model_card`, `curves`: what a finished run leaves next to its weights.
- `cli`: the command-line arguments every training stage shares, and the launch hand-off.

Heavy libraries (torch, transformers, trl, datasets) are imported inside functions.
"""

from __future__ import annotations
