#!/usr/bin/env bash
# The StarChat2-15B recipe end to end on one node of 8x80 GB GPUs:
#   StarCoder2-15B -> SFT on the StarChat2 chat+code mixture -> DPO on UltraFeedback + Orca pairs
#   -> HumanEval pass@1/pass@10 -> comparison -> OpenAI-compatible server for the playground.
#
#   bash recipes/starchat2-15b/run.sh            # run it (needs the Hub and 8 GPUs)
#   bash recipes/starchat2-15b/run.sh --dry-run  # validate every recipe offline, print every command
#
# GPUS (default 8) sets the processes per node. Keep the global batch at 128 when you change it:
# per_device_train_batch_size x gradient_accumulation_steps x GPUS = 128 (SFT 8x2x8, DPO 2x8x8).
set -euo pipefail
cd "$(dirname "$0")/../.."
GPUS=${GPUS:-8}
DRY=""
if [ "${1:-}" = "--dry-run" ]; then DRY="--dry-run"; fi
OUT=${OUT:-runs/starchat2-15b}

step() { echo "+ $*"; if [ -z "$DRY" ]; then "$@"; fi; }

if [ -n "$DRY" ]; then
  mixtune mix validate mixtures/recipes/starchat2-sft.yaml
  mixtune mix validate mixtures/recipes/starchat2-dpo.yaml
else
  step mixtune mix build mixtures/recipes/starchat2-sft.yaml --out "$OUT/mixture-sft"
  step mixtune mix build mixtures/recipes/starchat2-dpo.yaml --out "$OUT/mixture-dpo"
fi
SFT_MIX="$OUT/mixture-sft"; DPO_MIX="$OUT/mixture-dpo"
[ -n "$DRY" ] && SFT_MIX=mixtures/recipes/starchat2-sft.yaml && DPO_MIX=mixtures/recipes/starchat2-dpo.yaml

mixtune sft sft/recipes/starchat2-15b.yaml --launch zero3 --gpus "$GPUS" $DRY \
  --mixture "$SFT_MIX" --output_dir "$OUT/sft"
mixtune dpo dpo/recipes/starchat2-15b.yaml --launch zero3 --gpus "$GPUS" $DRY \
  --model_name_or_path "$OUT/sft" --mixture "$DPO_MIX" --output_dir "$OUT/dpo"

step mixtune eval "$OUT/sft" --n 20 --temperature 0.2 --k 1,10 --max-new-tokens 512 --out "$OUT/evals/sft"
step mixtune eval "$OUT/dpo" --n 20 --temperature 0.2 --k 1,10 --max-new-tokens 512 --out "$OUT/evals/dpo"
step mixtune compare "$OUT/evals/sft" "$OUT/evals/dpo" --labels sft,dpo --out "$OUT/compare"
echo "+ mixtune serve $OUT/dpo --port 8000   # then: mixtune chat --openai-base-url http://127.0.0.1:8000/v1"
