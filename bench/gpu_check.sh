#!/usr/bin/env bash
# Run on a machine with a CUDA GPU: bf16 SFT, DeepSpeed ZeRO-3 (1 process) SFT and bf16 DPO through
# mixtune, printing real tokens/s and peak GPU memory for each, then the MFU of a 1.06B-parameter
# StarCoder2-architecture model (bf16, grouped and packed batching; see bench/gpu_check.py for the
# formula and the peak-FLOPS table). Arguments go to gpu_check.py (e.g. --steps mfu-grouped mfu-packed).
# THROUGHPUT=1 also runs `bench/sft_throughput.py --variants` (mixtune vs TRL's variants on this GPU).
#
# With no registry reachable there, wheels for what the machine lacks can be put in .whl/ first
# (trl, datasets, deepspeed, ...): they are installed into /tmp/site and put on PYTHONPATH.
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
  export PATH=/tmp/site/bin:$PATH
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, trl, datasets, accelerate; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'datasets', datasets.__version__, 'accelerate', accelerate.__version__)"
python3 -c "import deepspeed; print('deepspeed', deepspeed.__version__)" || echo "deepspeed not importable: the ZeRO-3 step will fail"
python3 -c "import vllm; print('vllm', vllm.__version__)" 2>/dev/null || echo "vllm: not installed (the vLLM serving path is not exercised)"
time python3 bench/gpu_check.py "$@"
status=$?
if [ "${THROUGHPUT:-0}" = "1" ]; then
  time python3 bench/sft_throughput.py --rows "${ROWS:-2048}" --variants --repeats 1 || status=1
fi
exit $status
