#!/bin/bash
# Multi-node training with SLURM: one `accelerate launch` per node, all joining one rendezvous.
#
#   sbatch --nodes=2 accelerate_configs/slurm_launch.sh sft sft/recipes/starchat2-15b.yaml zero3 [--key value ...]
#   sbatch --nodes=2 "$(python -m mixtune.paths accelerate_configs/slurm_launch.sh)" sft ...   # wheel install
#
# STAGE is a mixtune stage module (sft, dpo); LAUNCH is ddp|zero2|zero3|fsdp or an accelerate config file.
# GPUS_PER_NODE defaults to the GPUs nvidia-smi sees on the first node.
#SBATCH --job-name=mixtune
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:8
#SBATCH --exclusive
#SBATCH --output=%x-%j.out
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: sbatch --nodes=N $0 STAGE RECIPE [LAUNCH] [--key value ...]" >&2
    exit 2
fi
STAGE=$1
RECIPE=$2
LAUNCH=${3:-zero3}
shift $(( $# >= 3 ? 3 : 2 ))
case "$LAUNCH" in
    # the configs shipped beside this script (a checkout or the installed package)
    ddp|zero2|zero3|fsdp) CONFIG="$(cd "$(dirname "$0")" && pwd -P)/${LAUNCH}.yaml" ;;
    *) CONFIG="$LAUNCH" ;;
esac
if [ ! -f "$RECIPE" ]; then RECIPE=$("${PYTHON:-python3}" -m mixtune.paths "$RECIPE"); fi

GPUS_PER_NODE=${GPUS_PER_NODE:-$(nvidia-smi -L | wc -l)}
NNODES=${SLURM_NNODES:-1}
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
MASTER_PORT=${MASTER_PORT:-29500}
EXTRA=$(printf '%q ' "$@")

echo "mixtune: $STAGE $RECIPE on $NNODES node(s) x $GPUS_PER_NODE GPU(s) with $CONFIG (master $MASTER_ADDR:$MASTER_PORT)"
srun --ntasks-per-node=1 bash -c "accelerate launch \
    --config_file $CONFIG \
    --num_processes $((NNODES * GPUS_PER_NODE)) \
    --num_machines $NNODES \
    --machine_rank \$SLURM_PROCID \
    --main_process_ip $MASTER_ADDR \
    --main_process_port $MASTER_PORT \
    --rdzv_backend c10d \
    -m $STAGE $RECIPE $EXTRA"
