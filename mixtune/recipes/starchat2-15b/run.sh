#!/usr/bin/env bash
# The StarChat2-15B recipe end to end on one node of 8x80 GB GPUs:
#   StarCoder2-15B -> SFT on the StarChat2 chat+code mixture -> DPO on UltraFeedback + Orca pairs
#   -> HumanEval pass@1/pass@10 -> comparison -> OpenAI-compatible server for the playground.
#
#   bash recipes/starchat2-15b/run.sh            # run it (needs the Hub and 8 GPUs)
#   bash recipes/starchat2-15b/run.sh --dry-run  # validate every recipe offline, print every command
#   bash "$(python -m mixtune.paths recipes/starchat2-15b/run.sh)" --dry-run   # from a wheel install
#
# In a source checkout it runs from the checkout's root; installed, from the working directory (runs/
# are written there), with the shipped recipes found inside the installed package.
#
# GPUS (default 8) sets the processes per node. Keep the global batch at 128 when you change it:
# per_device_train_batch_size x gradient_accumulation_steps x GPUS = 128 (SFT 8x2x8, DPO 2x8x8).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd -P)
if [ -f "$HERE/../../../pyproject.toml" ]; then cd "$HERE/../../.."; fi
PYTHON=${PYTHON:-python3}
shipped() { "$PYTHON" -m mixtune.paths "$1"; }
SFT_MIX_RECIPE=$(shipped mixtures/recipes/starchat2-sft.yaml)
DPO_MIX_RECIPE=$(shipped mixtures/recipes/starchat2-dpo.yaml)
SFT_RECIPE=$(shipped sft/recipes/starchat2-15b.yaml)
DPO_RECIPE=$(shipped dpo/recipes/starchat2-15b.yaml)
GPUS=${GPUS:-8}
DRY=""
if [ "${1:-}" = "--dry-run" ]; then DRY="--dry-run"; fi
OUT=${OUT:-runs/starchat2-15b}

step() { echo "+ $*"; if [ -z "$DRY" ]; then "$@"; fi; }

if [ -n "$DRY" ]; then
  mixtune mix validate "$SFT_MIX_RECIPE"
  mixtune mix validate "$DPO_MIX_RECIPE"
else
  step mixtune mix build "$SFT_MIX_RECIPE" --out "$OUT/mixture-sft"
  step mixtune mix build "$DPO_MIX_RECIPE" --out "$OUT/mixture-dpo"
fi
SFT_MIX="$OUT/mixture-sft"; DPO_MIX="$OUT/mixture-dpo"
[ -n "$DRY" ] && SFT_MIX=$SFT_MIX_RECIPE && DPO_MIX=$DPO_MIX_RECIPE

mixtune sft "$SFT_RECIPE" --launch zero3 --gpus "$GPUS" $DRY \
  --mixture "$SFT_MIX" --output_dir "$OUT/sft"
mixtune dpo "$DPO_RECIPE" --launch zero3 --gpus "$GPUS" $DRY \
  --model_name_or_path "$OUT/sft" --mixture "$DPO_MIX" --output_dir "$OUT/dpo"

step mixtune eval "$OUT/sft" --n 20 --temperature 0.2 --k 1,10 --max-new-tokens 512 --out "$OUT/evals/sft"
step mixtune eval "$OUT/dpo" --n 20 --temperature 0.2 --k 1,10 --max-new-tokens 512 --out "$OUT/evals/dpo"
step mixtune compare "$OUT/evals/sft" "$OUT/evals/dpo" --labels sft,dpo --out "$OUT/compare"
echo "+ mixtune serve $OUT/dpo --port 8000   # then: mixtune chat --openai-base-url http://127.0.0.1:8000/v1"
