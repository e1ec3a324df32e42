#!/usr/bin/env bash
# A personal copilot end to end: your repository -> completion mixture -> FIM fine-tuning of
# StarCoder2 (QLoRA, the public personal-copilot values) -> exact match / edit similarity on the
# held-out files, base vs fine-tuned -> an OpenAI-compatible completions server for the editor.
#
#   REPO=~/src/myproject bash recipes/personal-copilot/run.sh            # run it (Hub + one GPU)
#   REPO=~/src/myproject bash recipes/personal-copilot/run.sh --dry-run  # validate offline, print commands
#
# SIZE picks the model: 3b, 7b or 15b (default 3b). OUT (default runs/copilot) holds every output.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd -P)
if [ -f "$HERE/../../../pyproject.toml" ]; then cd "$HERE/../../.."; fi
PYTHON=${PYTHON:-python3}
shipped() { "$PYTHON" -m mixtune.paths "$1"; }
SIZE=${SIZE:-3b}
MIX_RECIPE=$(shipped completion/recipes/personal-copilot.yaml)
RECIPE=$(shipped completion/recipes/starcoder2-$SIZE.yaml)
DRY=""
if [ "${1:-}" = "--dry-run" ]; then DRY="--dry-run"; fi
OUT=${OUT:-runs/copilot}
# REPO (a checkout of your code) replaces the shipped sample repository in the mixture recipe
if [ -n "${REPO:-}" ]; then
  TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
  REPO_ABS=$(cd "$REPO" && pwd -P)
  sed "s|^      path: .*|      path: $REPO_ABS|" "$MIX_RECIPE" > "$TMP/personal-copilot.yaml"
  MIX_RECIPE="$TMP/personal-copilot.yaml"
fi

step() { echo "+ $*"; if [ -z "$DRY" ]; then "$@"; fi; }

if [ -n "$DRY" ]; then
  mixtune mix validate "$MIX_RECIPE"
  MIX=$MIX_RECIPE
else
  step mixtune mix build "$MIX_RECIPE" --out "$OUT/mixture"
  MIX="$OUT/mixture"
fi

mixtune completion "$RECIPE" $DRY --mixture "$MIX" --output_dir "$OUT/starcoder2-$SIZE"

step mixtune eval "bigcode/starcoder2-$SIZE" --benchmark "repo:$MIX" --out "$OUT/evals/base" --name base
step mixtune eval "$OUT/starcoder2-$SIZE" --benchmark "repo:$MIX" --out "$OUT/evals/copilot" --name copilot
step mixtune compare "$OUT/evals/base" "$OUT/evals/copilot" --labels base,copilot --out "$OUT/compare"
echo "+ mixtune serve $OUT/starcoder2-$SIZE --port 8000   # editors: POST http://127.0.0.1:8000/v1/completions"
echo "+ vllm serve $OUT/starcoder2-$SIZE --port 8000        # the same endpoint on a GPU server"
